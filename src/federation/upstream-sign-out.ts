import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import type { AuditLog } from '../audit/index.js';
import type { Sealer } from '../identity/index.js';
import type { Logger } from '../logger.js';
import type { SessionAuthentications } from '../oidc/session-authentications.js';
import { idTokenPurpose, isCitizenId, type FederatedAuthentication, type Where } from './federated-sign-in.js';
import type { FlowStore } from './flow-store.js';
import type { UpstreamClients } from './upstream-clients.js';
import type { UpstreamStore } from './upstream-store.js';

/** How long the citizen may take at the upstream's sign-out page before the way back expires. */
const PENDING_SIGN_OUT_SECONDS = 600;

const random = () => randomBytes(32).toString('base64url');
const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * OpenID Connect RP-Initiated Logout 1.0, with Yihao as the relying party: after a citizen signed
 * out of a Yihao session in a browser, and that session came from an upstream defined with
 * `signOutUpstream`, the browser goes through the upstream's discovered end_session_endpoint
 * (id_token_hint with the upstream ID token kept sealed for that session where it carries no
 * citizen ID number, else client_id and logout_hint) and comes back to Yihao's fixed SIGNED_OUT_PATH with a state bound to the browser.
 * Yihao then continues only to the URL it stored itself.
 */
export function createUpstreamSignOut(deps: {
  upstreams: UpstreamStore;
  clients: UpstreamClients;
  flows: FlowStore;
  authentications: SessionAuthentications;
  sealer: Sealer;
  audit: AuditLog;
  logger: Pick<Logger, 'warn'>;
  /** Yihao's absolute SIGNED_OUT_PATH, registered at the upstream as a post_logout_redirect_uri. */
  signedOutUrl: string;
}) {
  /** Logged and audited: the Yihao sign-out stands, the upstream session stays. */
  async function skipped(upstream: string, accountId: string, reason: 'unreachable' | 'no_end_session_endpoint', where: Where): Promise<undefined> {
    deps.logger.warn({ event: 'federation.sign_out_skipped', upstream, reason }, 'the citizen could not be signed out of the upstream');
    await deps.audit.append({ action: 'federation.sign_out_skipped', actorType: 'citizen', actorId: accountId, accountId, channel: 'web', details: { upstream, reason }, ...where });
    return undefined;
  }

  return {
    /**
     * For a Yihao session just ended in this browser: the upstream sign-out to send the browser
     * through, with the value for its binding cookie; undefined when there is none to do (the
     * session did not come from an upstream, the upstream is not set to be signed out, or it
     * cannot be: then it is logged and audited).
     */
    async begin(sessionUid: string, returnTo: string, where: Where): Promise<{ url: URL; browserValue: string } | undefined> {
      const auth = (await deps.authentications.find(sessionUid)) as Partial<FederatedAuthentication> | undefined;
      const from = auth?.upstream;
      if (!auth?.accountId || !from) return undefined;
      const upstream = await deps.upstreams.find(from.name);
      if (!upstream?.signOutUpstream) return undefined;
      let config: oidc.Configuration;
      try {
        config = await deps.clients.configuration(upstream);
      } catch {
        return skipped(upstream.name, auth.accountId, 'unreachable', where);
      }
      if (!config.serverMetadata().end_session_endpoint) return skipped(upstream.name, auth.accountId, 'no_end_session_endpoint', where);

      let idTokenHint: string | undefined;
      try {
        idTokenHint = from.idToken ? deps.sealer.open(from.idToken, idTokenPurpose(upstream.name)) : undefined;
      } catch {
        // A sealing key retired since: the upstream identifies the session by logout_hint instead.
        idTokenHint = undefined;
      }
      const state = random();
      const browserValue = random();
      await deps.flows.savePendingSignOut(state, { upstream: upstream.name, returnTo, browserBinding: sha256(browserValue).toString('base64url') }, PENDING_SIGN_OUT_SECONDS);
      // Only the discovered end_session_endpoint, with client_id always (openid-client adds it).
      // Without the ID token, the upstream's sub is the hint, unless it is a citizen ID number (never in a URL).
      const hint: Record<string, string> = idTokenHint ? { id_token_hint: idTokenHint } : isCitizenId(from.sub) ? {} : { logout_hint: from.sub };
      const url = oidc.buildEndSessionUrl(config, { post_logout_redirect_uri: deps.signedOutUrl, state, ...hint });
      await deps.audit.append({
        action: 'federation.sign_out_sent',
        actorType: 'citizen',
        actorId: auth.accountId,
        accountId: auth.accountId,
        channel: 'web',
        details: { upstream: upstream.name, hint: Object.keys(hint)[0] ?? 'none' },
        ...where,
      });
      return { url, browserValue };
    },

    /** The browser is back from the upstream: where Yihao stored to continue, once, for the same browser only. */
    async finish(state: string, browserCookie: string | undefined): Promise<string | undefined> {
      const pending = await deps.flows.consumePendingSignOut(state);
      if (!pending || !browserCookie) return undefined;
      const expected = Buffer.from(pending.browserBinding, 'base64url');
      const actual = sha256(browserCookie);
      return expected.length === actual.length && timingSafeEqual(expected, actual) ? pending.returnTo : undefined;
    },
  };
}
export type UpstreamSignOut = ReturnType<typeof createUpstreamSignOut>;
