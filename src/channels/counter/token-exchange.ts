import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import { ACR, type Accounts, type Authentication } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { parseCitizenId } from '../../identity/index.js';
import { AccessTokenRefused, type AccessTokenRefusal, type VerifyAccessToken } from '../../oidc/access-token-verifier.js';
import { subjectFor, type Keyed, type PairwiseClient } from '../../oidc/pairwise.js';
import { assertChannelAllowed, dpopProof, issueGrantTokens, type GrantTokenDeps } from '../../oidc/grant-tokens.js';
import type { IdentityProofing } from '../kiosk/identity-proofing.js';
import { invalidGrant } from '../kiosk/oauth-errors.js';
import { ACCESS_TOKEN_TYPE, CITIZEN_ID_TOKEN_TYPE, PRESENTATION_REQUEST_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './grant-type.js';
import { PRESENTATION_ACR, PRESENTATION_AMR, PresentationSignInRefused, type PresentationSignIn } from '../../credentials/presentation-sign-in.js';
import { requestIdOf } from '../../http/request-context.js';

export interface TokenExchangeDeps {
  accounts: Accounts;
  audit: AuditLog;
  tokens: GrantTokenDeps;
  keyed: Keyed;
  verifyAccessToken: VerifyAccessToken;
  /**
   * Whether an account (internal id) holds the counter-staff role in the department that owns the
   * counter system `clientId`. The one place that decides it.
   */
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  /** Where the staff member's document check is kept as evidence: it raises proofing only once confirmed. */
  proofing: Pick<IdentityProofing, 'record'>;
  /** Sign-in by presentation (late-bound: the verifier is built after the provider). */
  presentationSignIn: () => PresentationSignIn;
}

/** The level a staff member's own sign-in must have reached to attest someone else's identity. */
export const STAFF_ACR = ACR.twoFactor;

const ACTOR_REFUSALS: Partial<Record<AccessTokenRefusal, string>> = {
  session_ended: 'the actor_token is not from a live staff session',
  insufficient_acr: `the actor must have signed in at ${STAFF_ACR} or above`,
  dpop_proof: 'the actor_token is DPoP-bound: send a DPoP proof of its key',
  account_inactive: 'the actor is not counter staff',
};

/** The staff member's attestation that they checked the citizen's ID document in person. */
export const DOCUMENT_CHECKED = 'in_person';

/** RFC 8176: the citizen's face was matched against the document (by the staff member). */
export const COUNTER_AMR = ['face'];

export const TOKEN_EXCHANGE_PARAMS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'document_check', 'scope'];

type Params = Partial<Record<(typeof TOKEN_EXCHANGE_PARAMS)[number], string>>;

const required = (params: Params, name: keyof Params & string): string => {
  const value = params[name];
  if (typeof value !== 'string' || !value) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
  return value;
};

/**
 * Sign-in by presentation at a counter: the subject is a presentation request this staff member
 * started at this counter system, answered by the citizen's wallet with a verified identity
 * credential. The citizen signed themself in (loa:2, amr `vc`); the staff member is the `act`.
 */
async function presentationLogin(
  deps: TokenExchangeDeps,
  ctx: TokenEndpointGrantContext<Params>,
  requestId: string,
  { staff, where }: { staff: { sub: string; id: string }; where: { clientId: string; channel: string; ip: string; requestId: string | undefined } },
): Promise<void> {
  const { client } = ctx.oidc;
  let citizen;
  try {
    citizen = await deps.presentationSignIn()(requestId, (s) => s.type === 'staff' && s.sub === staff.sub && s.clientId === client.clientId);
  } catch (e) {
    if (!(e instanceof PresentationSignInRefused)) throw e;
    await deps.audit.append({ action: 'login.failed', actorType: 'operator', actorId: staff.sub, details: { method: 'vc_presentation', reason: e.reason }, ...where });
    throw invalidGrant(e.message);
  }
  // Only the credential names the account, and sign-in by presentation hands it out only by spending
  // the request: the staff member's own request is spent, so it cannot be tried again either.
  if (citizen.id === staff.id) {
    await deps.audit.append({ action: 'counter.assist_refused', actorType: 'operator', actorId: staff.sub, accountId: citizen.sub, details: { reason: 'own_identity' }, ...where });
    throw invalidGrant('staff cannot sign themselves in at their own counter');
  }
  const authentication: Authentication = { accountId: citizen.sub, channel: 'counter', amr: PRESENTATION_AMR, acr: PRESENTATION_ACR, at: Math.floor(Date.now() / 1000) };
  const act = { sub: subjectFor(deps.keyed, client as unknown as PairwiseClient, staff.sub) };
  const session = await issueGrantTokens(ctx, deps.tokens, { authentication, gty: TOKEN_EXCHANGE_GRANT, refresh: false, act, issuedTokenType: ACCESS_TOKEN_TYPE });
  await deps.audit.append({
    action: 'login.succeeded',
    actorType: 'citizen',
    actorId: citizen.sub,
    accountId: citizen.sub,
    details: { method: 'vc_presentation', amr: authentication.amr, acr: authentication.acr, sid: session.sid, staff: staff.sub },
    ...where,
  });
}

/**
 * Assisted counter login through RFC 8693 token exchange. The counter system (a confidential client)
 * presents the signed-in staff member's own access token as `actor_token`, the citizen ID number
 * from the presented document as `subject_token` (type `urn:yihao:token-type:citizen-id`), and
 * `document_check=in_person`. The citizen gets tokens at loa:3 with `channel: counter` and an `act`
 * claim naming the staff member; the account's identity proofing becomes in-person. Anything short
 * of that is refused with nothing changed.
 */
export function tokenExchangeGrant(deps: TokenExchangeDeps) {
  return async (ctx: TokenEndpointGrantContext<Params>): Promise<void> => {
    const { client } = ctx.oidc;
    const params = ctx.oidc.params as Params;
    if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('token exchange is for confidential counter systems');
    assertChannelAllowed(ctx, 'counter');
    const subjectToken = required(params, 'subject_token');
    const subjectType = required(params, 'subject_token_type');
    if (subjectType !== CITIZEN_ID_TOKEN_TYPE && subjectType !== PRESENTATION_REQUEST_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${CITIZEN_ID_TOKEN_TYPE} or ${PRESENTATION_REQUEST_TOKEN_TYPE}`);
    const actorToken = required(params, 'actor_token');
    if (required(params, 'actor_token_type') !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE}`);
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    // A presentation is the citizen's own proof: the staff member attests no document check for it.
    if (subjectType === CITIZEN_ID_TOKEN_TYPE && required(params, 'document_check') !== DOCUMENT_CHECKED) throw new errors.InvalidRequest(`document_check must be ${DOCUMENT_CHECKED}: the staff member attests an in-person check`);

    // The actor: a staff member signed in to this very counter system, in a live session at loa:2 or
    // above; a DPoP-bound actor token only with a proof of its key (which then binds the citizen's token).
    // A counter system whose tokens must be DPoP-bound sends a proof whatever its actor token.
    const dPoP = await dpopProof(ctx);
    const where = { clientId: client.clientId, channel: 'counter', ip: ctx.ip, requestId: requestIdOf(ctx) };
    let staff;
    try {
      ({ account: staff } = await deps.verifyAccessToken(actorToken, {
        client: client.clientId,
        liveSession: true,
        minAcr: STAFF_ACR,
        dpop: { required: false, prove: async (jkt) => dPoP?.thumbprint === jkt },
      }));
    } catch (e) {
      if (!(e instanceof AccessTokenRefused)) throw e;
      throw invalidGrant(ACTOR_REFUSALS[e.reason] ?? 'the actor_token is not a live access token of this counter system');
    }
    if (!(await deps.isCounterStaff(staff.id, client.clientId))) {
      await deps.audit.append({ action: 'counter.assist_refused', actorType: 'operator', actorId: staff.sub, details: { reason: 'not_counter_staff' }, ...where });
      throw invalidGrant('the actor is not counter staff');
    }
    if (subjectType === PRESENTATION_REQUEST_TOKEN_TYPE) {
      await presentationLogin(deps, ctx, subjectToken, { staff, where });
      return;
    }

    let citizen;
    try {
      citizen = await deps.accounts.findByIdentifier(parseCitizenId(subjectToken));
    } catch {
      throw invalidGrant('the subject_token is not a valid citizen ID number');
    }
    // A staff member looking up numbers that lead nowhere, or trying their own, is on record: the
    // account where there is one, never the number itself.
    const refuse = async (reason: 'no_active_account' | 'own_identity', description: string) => {
      await deps.audit.append({ action: 'counter.assist_refused', actorType: 'operator', actorId: staff.sub, accountId: citizen?.sub, details: { reason }, ...where });
      return invalidGrant(description);
    };
    if (citizen?.status !== 'active') throw await refuse('no_active_account', 'there is no active account for this citizen ID number');
    if (citizen.id === staff.id) throw await refuse('own_identity', 'staff cannot attest their own identity');

    const authentication: Authentication = { accountId: citizen.sub, channel: 'counter', amr: COUNTER_AMR, acr: ACR.document, at: Math.floor(Date.now() / 1000) };
    const act = { sub: subjectFor(deps.keyed, client as unknown as PairwiseClient, staff.sub) };
    const { evidenceId, raised } = await deps.proofing.record({
      account: citizen,
      method: 'in_person',
      channel: 'counter',
      clientId: client.clientId,
      actor: { type: 'staff', id: staff.sub },
      documentType: 'idcard',
      ip: where.ip,
      requestId: where.requestId,
    });
    const session = await issueGrantTokens(ctx, deps.tokens, {
      authentication,
      gty: TOKEN_EXCHANGE_GRANT,
      refresh: false,
      act,
      issuedTokenType: ACCESS_TOKEN_TYPE,
    });
    // The counter system needs the id to have a second staff member confirm the check (POST /counter/proofing/{id}/confirm).
    if (!raised) ctx.body = { ...(ctx.body as Record<string, unknown>), proofing_evidence_id: evidenceId };
    await deps.audit.append({
      action: 'counter.assisted_login',
      actorType: 'operator',
      actorId: staff.sub,
      accountId: citizen.sub,
      details: { documentCheck: DOCUMENT_CHECKED, amr: authentication.amr, acr: authentication.acr, sid: session.sid, ...(raised ? { identityProofing: 'in_person' } : {}) },
      ...where,
    });
  };
}
