import type Router from '@koa/router';
import { z } from 'zod';
import { ACR, type Authentication } from '../accounts/index.js';
import { completeLogin, loadInteraction, renderLogin } from './interaction-context.js';
import { needsSecondFactor, refuseUnreachableLevel, renderSecondFactor, sendPhoneProof, startSecondFactor, type SecondFactorDeps } from './second-factor.js';

/**
 * Password sign-in on the web channel: one factor, `urn:yihao:loa:1`, amr `pwd`. When the client
 * asks for more (`urn:yihao:loa:2`), a correct password leads to the second step instead
 * (second-factor.routes.ts).
 */
export function loginRoutes(router: Router, deps: SecondFactorDeps): void {
  const max = deps.formFieldMaxLength;
  const loginForm = z.object({
    identifier: z.string().trim().min(1, 'required').max(max, 'too_long'),
    password: z.string().min(1, 'required').max(max, 'too_long'),
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    if (await refuseUnreachableLevel(ctx, deps, it)) return;
    const parsed = loginForm.safeParse(it.form);
    if (!parsed.success) {
      const tooLong = parsed.error.issues.some((i) => i.message === 'too_long');
      ctx.status = 400;
      return renderLogin(ctx, it, { error: tooLong ? it.t.fieldTooLong : it.t.fieldRequired });
    }
    const check = await deps.accounts.verifyPassword(parsed.data.identifier, parsed.data.password);
    const where = { clientId: String(it.details.params.client_id), channel: 'web', ip: ctx.ip, requestId: ctx.state.requestId as string };
    if (!check.ok && check.reason === 'locked') {
      // The lock message tells whoever made `maxFailures` wrong guesses against this identifier (or
      // tries it during the lock) that an account exists for it. We accept that: the citizen must
      // learn why the right password is refused and when to come back, unknown identifiers never
      // lock, registration's duplicate check tells the same, and every lock is audited.
      if (check.lockedNow) {
        await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'pwd' }, ...where });
        await deps.audit.append({
          action: 'account.locked',
          actorType: 'system',
          accountId: check.sub,
          details: { reason: 'failed_logins', method: 'pwd', until: check.until.toISOString() },
          ...where,
        });
      } else {
        await deps.audit.append({ action: 'login.locked', actorType: 'citizen', accountId: check.sub, details: { method: 'pwd', until: check.until.toISOString() }, ...where });
      }
      ctx.status = 423;
      const minutes = Math.max(1, Math.ceil((check.until.getTime() - Date.now()) / 60_000));
      return renderLogin(ctx, it, { error: it.t.accountLocked(minutes) });
    }
    if (!check.ok) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'pwd' }, ...where });
      ctx.status = 401;
      // One message for an unknown identifier and a wrong password: no account enumeration.
      return renderLogin(ctx, it, { error: it.t.invalidCredentials });
    }
    const { account } = check;
    if (needsSecondFactor(it)) {
      const step = await startSecondFactor(deps, it, account, { amr: ['pwd'], stepUp: false });
      if (step === 'use_passkey') return renderLogin(ctx, it, { error: it.t.secondFactor.usePasskey(it.clientName) });
      if (step.stage === 'prove_phone') {
        const unsent = await sendPhoneProof(ctx, deps, it, account.phone!);
        if (unsent) return renderSecondFactor(ctx, deps, it, step, unsent);
      }
      ctx.status = 303;
      return ctx.redirect(`/interaction/${it.uid}`);
    }
    const authentication: Authentication = { accountId: account.sub, channel: 'web', amr: ['pwd'], acr: ACR.oneFactor, at: Math.floor(Date.now() / 1000) };
    const returnTo = await completeLogin(ctx, deps, it, authentication);
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
