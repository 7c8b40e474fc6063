import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { isFirstParty } from '../oidc/grants.js';
import { assertChannelAllowed, dpopProof, issueGrantTokens, type GrantTokenDeps } from '../oidc/grant-tokens.js';
import { subjectFor, type Keyed, type PairwiseClient } from '../oidc/pairwise.js';
import { PRE_AUTHORIZED_CODE_GRANT, type CredentialOffers, type RedeemRefusal } from './credential-offers.js';
import type { OfferBindings } from './offer-bindings.js';

const PARAMS = ['pre-authorized_code', 'tx_code'];

/** One answer for every dead code, so a guesser cannot tell a wrong code from a spent one. */
const REFUSALS: Record<RedeemRefusal, string> = {
  unknown: 'the pre-authorized code is unknown, expired or already used',
  expired: 'the pre-authorized code is unknown, expired or already used',
  used: 'the pre-authorized code is unknown, expired or already used',
  wrong_tx_code: 'the transaction code (tx_code) is wrong',
  attempts_exhausted: 'too many wrong transaction codes: the offer is dead, ask for a new one',
};

export interface PreAuthorizedGrantDeps {
  issuer: string;
  offers: CredentialOffers;
  accounts: Pick<Accounts, 'findBySub'>;
  audit: AuditLog;
  /** Each offered configuration's scope (from the issuer metadata). */
  scopeOf: (configurationId: string) => string | undefined;
  accessTokenTTL: number;
  /** The pairwise key: `act.sub` is the staff member's sub as the redeeming app sees it, as in token exchange. */
  keyed: Keyed;
  /** Where the token of a certificate's offer is bound to that certificate. */
  bindings: OfferBindings;
  /** Whether the account may still get this certificate (its own, valid, within its validity). */
  certificateIssuable: (accountId: string, certificateId: string) => Promise<boolean>;
}

/**
 * The token endpoint's pre-authorized code grant (OID4VCI 1.0 §6.1): the government app's wallet
 * redeems a credential offer's code with the transaction code the citizen typed in, and gets an
 * access token for the credential issuer only, with the scopes of the offered configurations,
 * for the account the offer was made for, stating the login that made the offer (its acr, amr and
 * channel, and the counter staff member as `act`). Only first-party apps may, as with the
 * authorization-code flow (credential-resource.ts).
 */
export function preAuthorizedGrant(deps: PreAuthorizedGrantDeps) {
  async function handler(ctx: KoaContextWithOIDC, tokens: GrantTokenDeps): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const client = ctx.oidc.client!;
    if (!isFirstParty(client as unknown as Parameters<typeof isFirstParty>[0])) throw new errors.UnauthorizedClient('only the government app (a first-party client) may redeem credential offers');
    if (typeof params['pre-authorized_code'] !== 'string' || !params['pre-authorized_code']) throw new errors.InvalidRequest('missing required parameter: pre-authorized_code');
    // Before the offer is redeemed; issueGrantTokens binds the token to it.
    await dpopProof(ctx);

    const redeemed = await deps.offers.redeem(params['pre-authorized_code'], params.tx_code, (login) => assertChannelAllowed(ctx, login.channel));
    if (!redeemed.ok) {
      if (redeemed.reason === 'wrong_tx_code' || redeemed.reason === 'attempts_exhausted') {
        await deps.audit.append({ action: 'vc.offer_refused', actorType: 'system', clientId: client.clientId, ip: ctx.ip, details: { reason: redeemed.reason } });
      }
      throw new errors.InvalidGrant(REFUSALS[redeemed.reason]);
    }
    const account = await deps.accounts.findBySub(redeemed.sub);
    if (account?.status !== 'active') throw new errors.InvalidGrant('the account of this offer cannot receive credentials');
    const scopes = redeemed.configurationIds.map((id) => deps.scopeOf(id));
    if (scopes.some((s) => !s)) throw new errors.InvalidGrant('the offer names a credential this issuer no longer issues');
    // Revoked or suspended since the offer was made: the offer is spent, and nothing is issued.
    if (redeemed.certificateId && !(await deps.certificateIssuable(account.id, redeemed.certificateId))) {
      await deps.audit.append({ action: 'vc.offer_refused', actorType: 'system', accountId: account.sub, clientId: client.clientId, ip: ctx.ip, details: { reason: 'certificate_not_valid', certificate_id: redeemed.certificateId } });
      throw new errors.InvalidGrant('the certificate of this offer is no longer valid');
    }

    const creator = redeemed.creator;
    const session = await issueGrantTokens(ctx, tokens, {
      authentication: redeemed.authentication,
      gty: 'pre-authorized_code',
      refresh: false,
      act: creator.type === 'staff' ? { sub: subjectFor(deps.keyed, client as unknown as PairwiseClient, creator.sub) } : undefined,
      resource: { audience: deps.issuer, scope: [...new Set(scopes as string[])].join(' '), accessTokenTTL: deps.accessTokenTTL },
    });
    if (redeemed.certificateId) await deps.bindings.save(session.grantId, redeemed.certificateId, deps.accessTokenTTL);
    await deps.audit.append({
      action: 'vc.offer_redeemed',
      actorType: 'citizen',
      actorId: account.sub,
      accountId: account.sub,
      clientId: client.clientId,
      channel: redeemed.authentication.channel,
      ip: ctx.ip,
      details: { configurations: redeemed.configurationIds, ...(redeemed.certificateId ? { certificate_id: redeemed.certificateId } : {}), acr: redeemed.authentication.acr, created_by: creator.type, sid: session.sid },
    });
  }

  return {
    // OID4VCI 1.0 §12.3: an offer is redeemed by a registered (first-party) app only, never anonymously.
    discovery: { 'pre-authorized_grant_anonymous_access_supported': false },
    install(provider: Provider, tokens: GrantTokenDeps): void {
      provider.registerGrantType(PRE_AUTHORIZED_CODE_GRANT, ((ctx: KoaContextWithOIDC) => handler(ctx, tokens)) as never, PARAMS);
    },
  };
}
