import type Router from '@koa/router';
import { appendAfterAnswer } from '../audit/index.js';
import { z } from 'zod';
import { ACR, isOverloaded, type Authentication, type PasswordCheck } from '../accounts/index.js';
import { completeLogin, loadInteraction, renderLogin, throttled } from './interaction-context.js';
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
    if (await refuseUnreachableLevel(ctx, deps, it, 'web')) return;
    const parsed = loginForm.safeParse(it.form);
    if (!parsed.success) {
      const tooLong = parsed.error.issues.some((i) => i.message === 'too_long');
      ctx.status = 400;
      return renderLogin(ctx, it, { error: tooLong ? it.t.fieldTooLong : it.t.fieldRequired });
    }
    let check: PasswordCheck;
    try {
      check = await deps.accounts.verifyPassword(parsed.data.identifier, parsed.data.password, ctx.ip);
    } catch (e) {
      if (!isOverloaded(e)) throw e;
      // Shed before the guess was counted (load shedding): the citizen simply tries again.
      ctx.status = 503;
      ctx.set('retry-after', String(e.retryAfterSeconds));
      return renderLogin(ctx, it, { error: it.t.busy(e.retryAfterSeconds) });
    }
    const where = { clientId: String(it.details.params.client_id), channel: 'web', ip: ctx.ip, requestId: ctx.state.requestId as string };
    // Alike for every identifier, with an account or without: the same text, status and wait.
    // Refusals are not audited one by one (a flood would write as fast as it comes); failures are.
    if (!check.ok && check.reason === 'throttled') return renderLogin(ctx, it, { error: throttled(ctx, it, check.until) });
    if (!check.ok) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'pwd' }, ...where });
      if (check.distributedLock) {
        const { sub, until } = check.distributedLock;
        // Not waited for: only an identifier with an account makes this record.
        appendAfterAnswer(deps.audit, deps.logger, { action: 'account.locked', actorType: 'system', accountId: sub, details: { reason: 'distributed_guessing', method: 'pwd', until: until.toISOString() }, ...where });
      }
      ctx.status = 401;
      // One message for an unknown identifier and a wrong password: no account enumeration.
      return renderLogin(ctx, it, { error: it.t.invalidCredentials });
    }
    const { account } = check;
    if (needsSecondFactor(it)) {
      const step = await startSecondFactor(deps, it, account, { amr: ['pwd'], stepUp: false });
      if (step === 'use_passkey') return renderLogin(ctx, it, { error: it.t.secondFactor.usePasskey(it.clientName) });
      if (step === 'use_app') return renderLogin(ctx, it, { error: it.t.secondFactor.useApp(it.clientName) });
      if (step === 'recovery_hold') {
        ctx.status = 403;
        return renderLogin(ctx, it, { error: it.t.secondFactor.recoveryHold(it.clientName) });
      }
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
