import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Accounts } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { accessTokenVerifier, AccessTokenRefused, type VerifyAccessToken } from '../../oidc/access-token-verifier.js';
import type { SignOut } from '../../oidc/sign-out.js';
import type { ChannelSessions } from '../../oidc/grant-tokens.js';
import { isKioskToken } from './idle.js';
import { revokeWithRecord } from '../../storage/revocation-hold.js';
import { verifyDpopProof, type ProofReplay } from '../../http/request-proofs.js';

export interface KioskSessionDeps {
  provider: () => Provider;
  signOut: Pick<SignOut, 'revokeGrant' | 'everywhere'>;
  sessions: ChannelSessions;
  audit: AuditLog;
  accounts: Pick<Accounts, 'findBySub'>;
  replay: ProofReplay;
  /** The issuer, path included: a DPoP proof's `htu` is our public URL, not whatever Host a proxy passed. */
  base: string;
}

/** RFC 6750 section 3: a missing or unusable token, said in the header a client library reads. */
function refuse(ctx: Context, status: 400 | 401, error: string, description: string) {
  ctx.status = status;
  ctx.set('WWW-Authenticate', `Bearer error="${error}", error_description="${description}"`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

/**
 * The live kiosk-session access token (Bearer, or DPoP with a proof of its key for this request when
 * the kiosk's tokens are DPoP-bound), or an answer already sent.
 */
async function kioskToken(ctx: Context, verify: VerifyAccessToken, deps: Pick<KioskSessionDeps, 'replay' | 'base'>) {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]{1,2048}=*)$/.exec(ctx.get('authorization'));
  if (!match) return refuse(ctx, 401, 'invalid_request', 'an access token of the kiosk session is required (Authorization: Bearer or DPoP)'), undefined;
  const [, scheme, accessToken] = match as unknown as [string, 'Bearer' | 'DPoP', string];
  // RFC 9449 §7.1: a bound token only under the DPoP scheme (with a proof), and that scheme only for a bound token.
  const prove = async (jkt: string) =>
    scheme === 'DPoP' &&
    verifyDpopProof(ctx.get('dpop') || undefined, { method: ctx.method, url: `${deps.base}${ctx.path}`, accessToken, body: Buffer.alloc(0) }, jkt, deps.replay).then(
      () => true,
      () => false,
    );
  try {
    return await verify(accessToken, { kioskSession: isKioskToken, dpop: { required: scheme === 'DPoP', prove } });
  } catch (e) {
    if (!(e instanceof AccessTokenRefused)) throw e;
    if (e.reason === 'dpop_proof') return refuse(ctx, 401, 'invalid_dpop_proof', 'the access token is DPoP-bound: send a DPoP proof of its key for this request'), undefined;
    return refuse(ctx, 401, 'invalid_token', 'the access token is not a live kiosk session token'), undefined;
  }
}

/**
 * The kiosk's session API, authenticated by the session's own access token (Bearer or DPoP): a kiosk can
 * end only its own sessions, and only kiosk sessions.
 * - `POST /kiosk/session/end` (card removal): this session ends now, every token of its grant revoked.
 * - `POST /kiosk/session/end-everywhere`: the citizen at the kiosk logs out everywhere (every
 *   channel's sessions and tokens, with back-channel logout to each client).
 */
export function kioskSessionRouter(deps: KioskSessionDeps): Router {
  const router = new Router();
  const verify = accessTokenVerifier(deps);
  router.post('/kiosk/session/end-everywhere', async (ctx) => {
    const found = await kioskToken(ctx, verify, deps);
    if (!found) return;
    const { token, client } = found;
    // The grants' deletes wait for the record (storage/revocation-hold.ts): a failure leaves them for the kiosk's retry.
    await revokeWithRecord(
      () => deps.signOut.everywhere(token.accountId),
      (result, trx) =>
        deps.audit.append(
          {
            action: 'session.ended',
            actorType: 'citizen',
            actorId: token.accountId,
            accountId: token.accountId,
            clientId: client.clientId,
            channel: 'kiosk',
            details: { via: 'kiosk', all: true, sessions: result.sessions, grants: result.grants, notify: result.notify },
            ip: ctx.ip,
            requestId: (ctx.state.requestId as string | undefined) ?? undefined,
          },
          { trx },
        ),
    );
    ctx.status = 204;
    ctx.set('Cache-Control', 'no-store');
  });

  router.post('/kiosk/session/end', async (ctx) => {
    const found = await kioskToken(ctx, verify, deps);
    if (!found) return;
    const { token, client } = found;
    const session = await deps.sessions.find(token.grantId);
    await revokeWithRecord(
      () => deps.signOut.revokeGrant(token.grantId),
      (_done, trx) =>
        deps.audit.append(
          {
            action: 'session.ended',
            actorType: 'client',
            actorId: client.clientId,
            accountId: token.accountId,
            clientId: client.clientId,
            channel: 'kiosk',
            details: { reason: 'card_removed', ...(session ? { sid: session.sid } : {}) },
            ip: ctx.ip,
            requestId: (ctx.state.requestId as string | undefined) ?? undefined,
          },
          { trx },
        ),
    );
    // Its channel-session record only counts it among live logins: once the grant is gone, nothing honours it.
    await deps.sessions.destroy(token.grantId);
    ctx.status = 204;
    ctx.set('Cache-Control', 'no-store');
  });
  return router;
}
