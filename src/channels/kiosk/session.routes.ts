import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AuditLog } from '../../audit/index.js';
import type { SignOut } from '../../oidc/sign-out.js';
import type { ChannelSessions } from './channel-tokens.js';
import { isKioskToken } from './idle.js';

export interface KioskSessionDeps {
  provider: () => Provider;
  signOut: Pick<SignOut, 'revokeGrant'>;
  sessions: ChannelSessions;
  audit: AuditLog;
}

/** RFC 6750 section 3: a missing or unusable token, said in the header a client library reads. */
function refuse(ctx: Context, status: 400 | 401, error: string, description: string) {
  ctx.status = status;
  ctx.set('WWW-Authenticate', `Bearer error="${error}", error_description="${description}"`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

/**
 * `POST /kiosk/session/end` (card removal): the kiosk presents its session's access token as a
 * Bearer token, and that session ends now: every token of its grant is revoked. A kiosk can end
 * only its own sessions, and only kiosk sessions.
 */
export function kioskSessionRouter(deps: KioskSessionDeps): Router {
  const router = new Router();
  router.post('/kiosk/session/end', async (ctx) => {
    const auth = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]{1,2048}=*)$/.exec(auth);
    if (!match) return refuse(ctx, 401, 'invalid_request', 'a Bearer access token of the kiosk session is required');
    const provider = deps.provider();
    const token = await provider.AccessToken.find(match[1]!);
    const client = token && (await provider.Client.find(token.clientId!));
    if (!token || token.isExpired || !client || !isKioskToken(token, client)) {
      return refuse(ctx, 401, 'invalid_token', 'the access token is not a live kiosk session token');
    }
    const session = await deps.sessions.find(token.grantId);
    await deps.signOut.revokeGrant(token.grantId);
    await deps.sessions.destroy(token.grantId);
    await deps.audit.append({
      action: 'session.ended',
      actorType: 'client',
      actorId: client.clientId,
      accountId: token.accountId,
      clientId: client.clientId,
      channel: 'kiosk',
      details: { reason: 'card_removed', ...(session ? { sid: session.sid } : {}) },
      ip: ctx.ip,
      requestId: (ctx.state.requestId as string | undefined) ?? undefined,
    });
    ctx.status = 204;
    ctx.set('Cache-Control', 'no-store');
  });
  return router;
}
