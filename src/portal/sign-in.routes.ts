import type Router from '@koa/router';
import type { PortalDeps } from './deps.js';
import { beginPortalSession, fail, renderSignedOut, takeLoginTransaction } from './portal-context.js';

/** The portal's own sign-in as a relying party of Yihao: the redirect back, and the signed-out page. */
export function signInRoutes(router: Router, deps: PortalDeps): void {
  router.get('/account/callback', async (ctx) => {
    const outcome = await deps.rp.complete(takeLoginTransaction(ctx), ctx.query);
    if (!outcome.ok) {
      deps.logger.info({ event: 'portal.sign_in_failed', reason: outcome.reason, requestId: ctx.state.requestId as string }, 'portal sign-in did not finish');
      return fail(ctx, deps, 400, (t) => t.signInFailed, outcome.reason, outcome.locale);
    }
    const { signIn } = outcome;
    await beginPortalSession(ctx, deps, { sub: signIn.sub, sessionUid: signIn.sessionUid, authTime: signIn.authTime, acr: signIn.acr, amr: signIn.amr, ...(signIn.approvedOnPhone ? { approvedOnPhone: true } : {}), ...(signIn.keys.length > 0 ? { keys: signIn.keys } : {}) });
    ctx.status = 303;
    ctx.redirect(signIn.returnTo);
  });

  router.get('/account/signed-out', (ctx) => renderSignedOut(ctx, deps));
}
