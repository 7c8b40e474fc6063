import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { ACR, type Authentication } from '../accounts/index.js';
import { htmlPage } from '../http/html-page.js';
import type { PendingSecondFactor } from '../mfa/index.js';
import type { TotpLogin } from '../oidc/token-facts.js';
import { auditWhere, completeLogin, fail, loadInteraction, minutesUntil, type LoadedInteraction } from './interaction-context.js';
import { advanceToEnrolment, pendingStillValid, renderSecondFactor, secondFactorAmr, sendPhoneProof, type SecondFactorDeps } from './second-factor.js';
import { recoveryCodesPage } from './views/second-factor.pages.js';

/**
 * The second step of a web sign-in: a TOTP code (or a recovery code), or setting TOTP up. Both
 * need the pending record that the first step left for this very interaction; without it (a form
 * posted straight here) there is nothing to complete. Success: `urn:yihao:loa:2`, amr
 * `[...first factor, 'otp', 'mfa']`.
 */
export function secondFactorRoutes(router: Router, deps: SecondFactorDeps): void {
  const codeForm = z.object({ code: z.string().trim().min(1, 'required').max(32, 'too_long') });

  /** The interaction, its pending step (of the given stage) and the submitted code; or an answer already sent. */
  async function load(ctx: Context, stage: PendingSecondFactor['stage']) {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return undefined;
    const pending = await deps.secondFactors.pending(it.uid);
    if (pending?.stage !== stage) return fail(ctx, 400, it.locale, it.t.formExpired, 'wrong_step'), undefined;
    // Disabled (or locked by an operator), or signed out everywhere (a password reset), since the first step: nothing more to do here.
    if (!pendingStillValid(pending, await deps.accounts.findById(pending.accountId))) {
      await deps.secondFactors.settle(it.uid);
      return fail(ctx, 400, it.locale, it.t.formExpired, 'wrong_step'), undefined;
    }
    const parsed = codeForm.safeParse(it.form);
    if (!parsed.success) {
      ctx.status = 400;
      const tooLong = parsed.error.issues.some((i) => i.message === 'too_long');
      return renderSecondFactor(ctx, deps, it, pending, tooLong ? it.t.fieldTooLong : it.t.fieldRequired), undefined;
    }
    return { it, pending, code: parsed.data.code };
  }

  /** The login names the authenticator app, so that removing the app ends it (oidc/sign-out.ts). */
  async function finish(ctx: Context, it: LoadedInteraction, pending: PendingSecondFactor, totpId: string | undefined, auditDetails: Record<string, unknown>): Promise<string> {
    await deps.secondFactors.settle(it.uid);
    const at = Math.floor(Date.now() / 1000);
    const authentication: Authentication | TotpLogin = { accountId: pending.sub, channel: 'web', amr: secondFactorAmr(pending.amr), acr: ACR.twoFactor, at, ...(totpId ? { totp: { id: totpId } } : {}) };
    return completeLogin(ctx, deps, it, authentication, auditDetails);
  }

  /**
   * A guess refused for the account's lockout: a 423 on the same page, and the audit record. The
   * citizen already proved the password, so naming the account in these events tells nobody anything new.
   */
  async function refuseLocked(ctx: Context, it: LoadedInteraction, pending: PendingSecondFactor, lock: { until: Date; lockedNow: boolean }, details: Record<string, unknown>) {
    const where = auditWhere(ctx, it);
    const sub = pending.sub;
    if (lock.lockedNow) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', accountId: sub, details, ...where });
      await deps.audit.append({ action: 'account.locked', actorType: 'system', accountId: sub, details: { ...details, reason: 'failed_logins', until: lock.until.toISOString() }, ...where });
    } else {
      await deps.audit.append({ action: 'login.locked', actorType: 'citizen', accountId: sub, details: { ...details, until: lock.until.toISOString() }, ...where });
    }
    ctx.status = 423;
    return renderSecondFactor(ctx, deps, it, pending, it.t.accountLocked(minutesUntil(lock.until)));
  }

  router.post('/interaction/:uid/second-factor', async (ctx) => {
    const step = await load(ctx, 'verify');
    if (!step) return;
    const { it, pending, code } = step;
    const check = await deps.secondFactors.verify(pending.accountId, code, ctx.ip);
    const where = auditWhere(ctx, it);
    const sub = pending.sub;
    if (!check.ok && check.reason === 'locked') return refuseLocked(ctx, it, pending, check, { method: 'otp' });
    if (!check.ok) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', accountId: sub, details: { method: 'otp', reason: check.reason }, ...where });
      ctx.status = 401;
      const t = it.t.secondFactor;
      return renderSecondFactor(ctx, deps, it, pending, check.reason === 'replayed' ? t.replayedCode : t.invalidCode);
    }
    const details: Record<string, unknown> = { method: check.method };
    if (check.method === 'recovery_code') details.recoveryCodesLeft = await deps.secondFactors.unusedRecoveryCodes(pending.accountId);
    const returnTo = await finish(ctx, it, pending, check.totpId, details);
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.post('/interaction/:uid/phone-proof', async (ctx) => {
    const step = await load(ctx, 'prove_phone');
    if (!step) return;
    const { it, pending, code } = step;
    const account = await deps.accounts.findById(pending.accountId);
    const details = { method: 'sms', step: 'bind_factor' };
    const phone = account?.phone;
    const check = await deps.secondFactors.checkPhoneProof(pending.accountId, ctx.ip, async () => (phone ? deps.otp.verify({ phone, purpose: 'bind_factor', code, flow: it.uid }) : 'invalid'));
    if (!check.ok && check.reason === 'locked') return refuseLocked(ctx, it, pending, check, details);
    if (!check.ok) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', accountId: pending.sub, details: { ...details, reason: check.reason }, ...auditWhere(ctx, it) });
      ctx.status = 401;
      const t = it.t.sms;
      return renderSecondFactor(ctx, deps, it, pending, { invalid: t.wrongCode, expired: t.expiredCode, too_many_attempts: t.tooManyAttempts }[check.reason]);
    }
    await advanceToEnrolment(deps, it, pending);
    ctx.status = 303;
    ctx.redirect(`/interaction/${it.uid}`);
  });

  router.post('/interaction/:uid/phone-proof/resend', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    const pending = await deps.secondFactors.pending(it.uid);
    const account = pending && (await deps.accounts.findById(pending.accountId));
    if (pending?.stage !== 'prove_phone' || !account?.phone || !pendingStillValid(pending, account)) return fail(ctx, 400, it.locale, it.t.formExpired, 'wrong_step');
    const unsent = await sendPhoneProof(ctx, deps, it, account.phone);
    return renderSecondFactor(ctx, deps, it, pending, unsent, unsent ? undefined : it.t.secondFactor.codeResent);
  });

  router.post('/interaction/:uid/totp-enrolment', async (ctx) => {
    const step = await load(ctx, 'enrol');
    if (!step) return;
    const { it, pending, code } = step;
    // The app is bound with its record, or not at all.
    const enrolled = await deps.secondFactors.confirmEnrolment(it.uid, pending, code, (recoveryCodes, trx) =>
      deps.audit.append({ action: 'credential.added', actorType: 'citizen', actorId: pending.sub, accountId: pending.sub, details: { type: 'totp', recoveryCodes }, ...auditWhere(ctx, it) }, { trx }),
    );
    if (!enrolled.ok) {
      ctx.status = 401;
      return renderSecondFactor(ctx, deps, it, pending, it.t.secondFactor.invalidCode);
    }
    const returnTo = await finish(ctx, it, pending, enrolled.totpId, { method: 'totp', enrolled: true });
    // The sign-in is complete; the codes are shown this once, and "Continue" resumes the flow.
    htmlPage(ctx, (nonce) => recoveryCodesPage({ locale: it.locale, nonce, codes: enrolled.recoveryCodes, returnTo }));
  });
}
