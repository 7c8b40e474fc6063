import type Router from '@koa/router';
import type { Passkeys } from '../passkeys/index.js';
import { auditWhere, completeLogin, loadInteraction, rememberAddress, renderLogin } from './interaction-context.js';
import type { SecondFactorDeps } from './second-factor.js';

export interface PasskeyLoginDeps extends SecondFactorDeps {
  passkeys: Passkeys;
}

/**
 * Sign-in with a passkey on the web channel: `urn:yihao:loa:2` on its own, amr `hwk` or `swk`.
 * Discoverable: the citizen names no account, the authenticator offers the passkeys it holds.
 * - `POST /interaction/:uid/passkey/options`: a fresh challenge, bound to this interaction (JSON);
 * - `POST /interaction/:uid/passkey`: the assertion (form field `credential`), which completes the
 *   login prompt. Both need the interaction's CSRF token.
 */
export function passkeyLoginRoutes(router: Router, deps: PasskeyLoginDeps): void {
  const boundTo = (uid: string) => `interaction:${uid}`;

  router.post('/interaction/:uid/passkey/options', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    ctx.set('cache-control', 'no-store');
    ctx.body = await deps.passkeys.authenticationOptions(boundTo(it.uid));
  });

  router.post('/interaction/:uid/passkey', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    const result = await deps.passkeys.signIn(boundTo(it.uid), it.form.credential);
    const where = auditWhere(ctx, it);
    if (!result.ok) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'passkey', reason: result.reason }, ...where });
      ctx.status = result.reason === 'invalid' && !it.form.credential ? 400 : 401;
      return renderLogin(ctx, it, { error: result.reason === 'unknown_passkey' ? it.t.passkey.unknown : it.t.passkey.invalid });
    }
    await rememberAddress(ctx, deps, result.authentication.accountId);
    const returnTo = await completeLogin(ctx, deps, it, result.authentication, { method: 'passkey' });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
