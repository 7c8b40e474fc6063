import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload } from 'jose';
import { isOpaqueId } from './opaque-id.js';
import type { AuditLog } from '../audit/index.js';
import type { Accounts } from '../accounts/index.js';
import type { SessionAuthentications } from '../oidc/session-authentications.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { FederatedAuthentication, Where } from './federated-sign-in.js';
import type { FlowStore } from './flow-store.js';
import type { LinkedIdentities } from './linked-identities.js';
import type { UpstreamClients } from './upstream-clients.js';
import type { UpstreamFetch } from './upstream-fetch.js';
import type { UpstreamStore } from './upstream-store.js';
import { revokeWithRecord } from '../storage/revocation-hold.js';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token older than this is refused, which also bounds how long its jti must be kept. */
const MAX_TOKEN_AGE_SECONDS = 300;
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export type LogoutResult = { ok: true; sessions: number } | { ok: false; problem: string };

/**
 * OpenID Connect Back-Channel Logout 1.0, received from an upstream: the logout token is checked
 * against the upstream's JWKS (issuer, audience, age, the event, no nonce, sub and/or sid, a jti
 * never seen before), then the Yihao sessions that this upstream session created are ended
 * (with back-channel logout to their own relying parties).
 */
export function createUpstreamLogout(deps: {
  upstreams: UpstreamStore;
  clients: UpstreamClients;
  flows: FlowStore;
  links: LinkedIdentities;
  accounts: Accounts;
  accountIndex: AccountIndex;
  authentications: SessionAuthentications;
  signOut: SignOut;
  audit: AuditLog;
  fetch: UpstreamFetch;
  timeoutMs: number;
}) {
  const jwksCache = new Map<string, { uri: string; jwks: ReturnType<typeof createRemoteJWKSet> }>();
  const jwksFor = (name: string, uri: string) => {
    const hit = jwksCache.get(name);
    if (hit?.uri === uri) return hit.jwks;
    const jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: deps.timeoutMs, [customFetch]: (url, options) => deps.fetch(url, options as RequestInit) });
    jwksCache.set(name, { uri, jwks });
    return jwks;
  };

  async function verify(name: string, token: string): Promise<{ payload: JWTPayload; issuer: string } | string> {
    const upstream = await deps.upstreams.find(name);
    if (!upstream) return 'unknown upstream';
    let config;
    try {
      config = await deps.clients.configuration(upstream);
    } catch {
      return 'the upstream cannot be reached to check the token';
    }
    const meta = config.serverMetadata();
    if (!meta.jwks_uri) return 'the upstream publishes no jwks_uri';
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwksFor(name, meta.jwks_uri), {
        issuer: meta.issuer,
        audience: upstream.clientId,
        algorithms: ASYMMETRIC,
        maxTokenAge: MAX_TOKEN_AGE_SECONDS,
        requiredClaims: ['iat', 'jti', 'events'],
      }));
    } catch (e) {
      return `the logout token is not valid (${(e as { code?: string }).code ?? 'invalid'})`;
    }
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' ? events[LOGOUT_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) return 'the logout token has no back-channel logout event';
    if ('nonce' in payload) return 'a logout token must not contain a nonce';
    if (payload.sub === undefined && payload.sid === undefined) return 'the logout token names neither sub nor sid';
    if ((payload.sub !== undefined && !isOpaqueId(payload.sub)) || (payload.sid !== undefined && !isOpaqueId(payload.sid))) return 'the logout token names a sub or sid that is not an identifier';
    if (!isOpaqueId(payload.jti)) return 'the logout token has no usable jti';
    if (!(await deps.flows.firstUseOfJti(name, payload.jti, MAX_TOKEN_AGE_SECONDS * 2))) return 'the logout token was already used';
    return { payload, issuer: upstream.issuer };
  }

  /** The accounts (public sub) the token may concern: by the linked identity, or by the upstream sid. */
  async function accountsFor(name: string, issuer: string, payload: JWTPayload): Promise<string[]> {
    if (typeof payload.sub === 'string') {
      const account = await deps.links.accountFor(issuer, payload.sub);
      return account ? [account.sub] : [];
    }
    const subs: string[] = [];
    for (const id of await deps.flows.accountsOfSession(name, payload.sid as string)) {
      const account = await deps.accounts.findById(id);
      if (account) subs.push(account.sub);
    }
    return subs;
  }

  return {
    async receive(name: string, token: string, where: Where): Promise<LogoutResult> {
      const checked = await verify(name, token);
      if (typeof checked === 'string') {
        await deps.audit.append({ action: 'federation.logout_refused', actorType: 'system', details: { upstream: name, problem: checked }, ...where });
        return { ok: false, problem: checked };
      }
      const { payload, issuer } = checked;
      const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
      let sessions = 0;
      try {
        for (const accountSub of await accountsFor(name, issuer, payload)) {
          // The sessions end with the record, or none does and the upstream's retry finds them (storage/revocation-hold.ts).
          const ended = await revokeWithRecord(
            async () => {
              const done = { sessions: 0, notify: new Set<string>() };
              for (const entry of await deps.accountIndex.list(accountSub)) {
                if (entry.model !== 'Session') continue;
                const auth = (await deps.authentications.find(entry.id)) as Partial<FederatedAuthentication> | undefined;
                const from = auth?.upstream;
                // Only sessions this upstream session created: a password session of the same citizen stays.
                if (from?.name !== name || (sid ? from.sid !== sid : from.sub !== payload.sub)) continue;
                const result = await deps.signOut.endSession(entry.id, accountSub);
                if (!result.ended) continue;
                done.sessions++;
                for (const clientId of result.notify) done.notify.add(clientId);
              }
              return done;
            },
            (done, trx) =>
              deps.audit.append({ action: 'federation.logout', actorType: 'system', accountId: accountSub, details: { upstream: name, sessions: done.sessions, notify: [...done.notify] }, ...where }, { trx }),
          );
          sessions += ended.sessions;
        }
      } catch (err) {
        // Spent before the sign-out, the token's jti would refuse the upstream's retry of a logout that did not land.
        await deps.flows.releaseJti(name, payload.jti!).catch(() => undefined);
        throw err;
      }
      return { ok: true, sessions };
    },
  };
}
export type UpstreamLogout = ReturnType<typeof createUpstreamLogout>;
