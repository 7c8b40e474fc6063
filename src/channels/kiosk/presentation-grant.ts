import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { Authentication } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { assertChannelAllowed, dpopProof, issueGrantTokens, type GrantTokenDeps } from '../../oidc/grant-tokens.js';
import { PRESENTATION_ACR, PRESENTATION_AMR, PresentationSignInRefused, type PresentationSignIn } from '../../credentials/presentation-sign-in.js';
import { PRESENTATION_GRANT } from './grant-type.js';
import { invalidGrant } from './oauth-errors.js';
import { requestIdOf } from '../../http/request-context.js';

export const PRESENTATION_GRANT_PARAMS = ['presentation_request', 'scope'];

export interface PresentationGrantDeps {
  audit: AuditLog;
  tokens: GrantTokenDeps;
  /** Late-bound: the verifier is built after the provider. */
  signIn: () => PresentationSignIn;
}

/**
 * Sign-in by presentation at a kiosk (`urn:yihao:grant-type:presentation`). The kiosk,
 * authenticated with private_key_jwt, names a presentation request it started itself, which the
 * citizen's wallet answered with a verified identity credential; the citizen gets a kiosk session
 * at loa:2 with amr `vc`, bound to the key of a DPoP proof sent with it (required of a kiosk whose
 * tokens must be DPoP-bound). Each request signs in once; a refusal is audited against the kiosk.
 */
export function presentationGrant(deps: PresentationGrantDeps) {
  return async (ctx: TokenEndpointGrantContext<{ presentation_request?: string }>): Promise<void> => {
    const { client, params } = ctx.oidc;
    if (client.clientAuthMethod !== 'private_key_jwt') throw new errors.UnauthorizedClient('the presentation grant is for kiosks that authenticate with private_key_jwt');
    assertChannelAllowed(ctx, 'kiosk');
    if (typeof params.presentation_request !== 'string' || !params.presentation_request) throw new errors.InvalidRequest("missing required parameter 'presentation_request'");
    // Before the presentation request is spent; issueGrantTokens binds the tokens to it.
    await dpopProof(ctx);
    const where = { clientId: client.clientId, channel: 'kiosk', ip: ctx.ip, requestId: requestIdOf(ctx) };
    let account;
    try {
      account = await deps.signIn()(params.presentation_request, (s) => s.type === 'kiosk' && s.clientId === client.clientId);
    } catch (e) {
      if (!(e instanceof PresentationSignInRefused)) throw e;
      await deps.audit.append({ action: 'login.failed', actorType: 'client', actorId: client.clientId, details: { method: 'vc_presentation', reason: e.reason }, ...where });
      throw invalidGrant(e.message);
    }
    const authentication: Authentication = { accountId: account.sub, channel: 'kiosk', amr: PRESENTATION_AMR, acr: PRESENTATION_ACR, at: Math.floor(Date.now() / 1000) };
    const session = await issueGrantTokens(ctx, deps.tokens, { authentication, gty: PRESENTATION_GRANT, refresh: true });
    await deps.audit.append({
      action: 'login.succeeded',
      actorType: 'citizen',
      actorId: account.sub,
      accountId: account.sub,
      details: { method: 'vc_presentation', amr: authentication.amr, acr: authentication.acr, sid: session.sid },
      ...where,
    });
  };
}
