import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import { ACR, type Accounts, type Authentication } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { parseCitizenId } from '../../identity/index.js';
import { ReplayDetectedError } from '../../storage/adapter-types.js';
import { verifyCardAssertion } from './card-assertion.js';
import { assertChannelAllowed, dpopProof, issueGrantTokens, type GrantTokenDeps } from '../../oidc/grant-tokens.js';
import { ID_CARD_GRANT } from './grant-type.js';
import type { IdentityProofing } from './identity-proofing.js';
import { invalidGrant, isOAuthError } from './oauth-errors.js';
import { requestIdOf } from '../../http/request-context.js';

export interface CardGrantDeps {
  accounts: Accounts;
  audit: AuditLog;
  tokens: GrantTokenDeps;
  maxAgeSeconds: number;
  /** Where the chip read is kept as proofing evidence. */
  proofing: Pick<IdentityProofing, 'record'>;
}

/** RFC 8176: smart card, and facial recognition. */
export const CARD_AMR = ['sc', 'face'];

export const CARD_GRANT_PARAMS = ['assertion', 'scope'];

/**
 * The ID-card grant (`urn:yihao:grant-type:id-card`). The kiosk, authenticated with private_key_jwt,
 * posts a card assertion signed with its registered key. Refusals change nothing: the assertion's
 * nonce is spent only once signature, issuer, audience and freshness have passed, and the account
 * only once the face match has too. Success: loa:3, amr sc+face, channel kiosk, with an ID token,
 * bound to the key of a DPoP proof sent with it (required of a kiosk whose tokens must be DPoP-bound).
 */
export function idCardGrant(deps: CardGrantDeps) {
  return async (ctx: TokenEndpointGrantContext<{ assertion?: string }>): Promise<void> => {
    const { client, provider, params } = ctx.oidc;
    if (client.clientAuthMethod !== 'private_key_jwt') throw new errors.UnauthorizedClient('the ID-card grant is for kiosks that authenticate with private_key_jwt');
    assertChannelAllowed(ctx, 'kiosk');
    if (typeof params.assertion !== 'string' || !params.assertion) throw new errors.InvalidRequest("missing required parameter 'assertion'");
    // Before the assertion's nonce is spent; issueGrantTokens binds the tokens to it.
    await dpopProof(ctx);

    const where = { clientId: client.clientId, channel: 'kiosk', ip: ctx.ip, requestId: requestIdOf(ctx) };
    // A forged, stale or replayed card read is a security event for the kiosk's operators: on record,
    // against the kiosk (no account is named, none was looked up).
    const refuse = async (reason: string, description = reason) => {
      await deps.audit.append({ action: 'login.failed', actorType: 'client', actorId: client.clientId, details: { method: 'id_card', reason }, ...where });
      return invalidGrant(description);
    };
    const card = await verifyCardAssertion(params.assertion, {
      client,
      issuer: provider.issuer,
      tokenEndpoint: ctx.oidc.urlFor('token'),
      maxAgeSeconds: deps.maxAgeSeconds,
    }).catch(async (e: unknown) => {
      throw isOAuthError(e) ? await refuse((e as { error_description: string }).error_description) : e;
    });
    let first: boolean;
    try {
      // Atomic across instances: the adapter inserts a ReplayDetection record only if it is absent.
      first = await provider.ReplayDetection.unique(`${ID_CARD_GRANT}:${client.clientId}`, card.jti, card.iat + deps.maxAgeSeconds + 60);
    } catch (e) {
      if (!(e instanceof ReplayDetectedError)) throw e;
      first = false;
    }
    if (!first) throw await refuse('the card assertion was already used');

    if (card.face.result !== 'pass') throw await refuse('face_mismatch', 'the face did not match the card');
    let citizenId;
    try {
      citizenId = parseCitizenId(card.citizenId);
    } catch {
      // A chip that reads as no valid number is a faulty reader or a forged card: on record like any other refused read.
      throw await refuse('invalid_citizen_id', 'the card number is not a valid citizen ID number');
    }
    const account = await deps.accounts.findByIdentifier(citizenId);
    if (account?.status !== 'active') throw await refuse('no_active_account', 'there is no active account for this card');

    const authentication: Authentication = { accountId: account.sub, channel: 'kiosk', amr: CARD_AMR, acr: ACR.document, at: Math.floor(Date.now() / 1000) };
    const { raised } = await deps.proofing.record({
      account,
      method: 'id_chip',
      channel: 'kiosk',
      clientId: client.clientId,
      actor: { type: 'kiosk', id: client.clientId },
      documentType: 'idcard',
      ip: where.ip,
      requestId: where.requestId,
    });
    const session = await issueGrantTokens(ctx, deps.tokens, { authentication, gty: ID_CARD_GRANT, refresh: true });
    await deps.audit.append({
      action: 'login.succeeded',
      actorType: 'citizen',
      actorId: account.sub,
      accountId: account.sub,
      details: { method: 'id_card', amr: authentication.amr, acr: authentication.acr, sid: session.sid, faceScore: card.face.score, ...(raised ? { identityProofing: 'id_chip' } : {}) },
      ...where,
    });
  };
}
