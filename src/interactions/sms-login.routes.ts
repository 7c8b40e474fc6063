import type Router from '@koa/router';
import { appendAfterAnswer } from '../audit/index.js';
import type { Context } from 'koa';
import { z } from 'zod';
import { ACR, normalisePhone, type Authentication } from '../accounts/index.js';
import { htmlPage } from '../http/html-page.js';
import { maskPhone } from '../accounts/index.js';
import { auditWhere, completeLogin, fail, loadInteraction, throttled, type LoadedInteraction } from './interaction-context.js';
import { needsSecondFactor, refuseUnreachableLevel, type SecondFactorDeps } from './second-factor.js';
import type { SmsSignIn } from './sms-sign-in.js';
import { smsCodePage, smsPhonePage } from './views/sms.pages.js';

export interface SmsLoginDeps extends SecondFactorDeps {
  smsSignIn: SmsSignIn;
  /** How long an SMS code lives, in minutes, for the page text. */
  codeMinutes: number;
}

const digits = (s: string) => s.normalize('NFKC').replace(/\s+/g, '');

/**
 * Sign-in with a mobile number and an SMS code: one factor ("something you have"),
 * `urn:yihao:loa:1`, amr `sms`. Not offered when the client asks for loa:2: an SMS code and a
 * TOTP code are not two kinds of factor.
 * - `GET /interaction/:uid/sms`: the number form, or the code form once a number is pending;
 * - `POST /interaction/:uid/sms`: sends the code (to registered numbers only), 303 back;
 * - `POST /interaction/:uid/sms/verify`: checks it and completes the login prompt;
 * - `POST /interaction/:uid/sms/restart`: forgets the pending number.
 */
export function smsLoginRoutes(router: Router, deps: SmsLoginDeps): void {
  const max = deps.formFieldMaxLength;
  const phoneForm = z.object({
    phone: z
      .string({ error: 'required' })
      .max(max, 'too_long')
      .transform((s) => s.trim())
      .pipe(z.string().min(1, 'required'))
      .transform((s, ctx) => normalisePhone(s) ?? (ctx.addIssue({ code: 'custom', message: 'phone_invalid' }), z.NEVER)),
  });
  const codeForm = z.object({
    code: z
      .string({ error: 'required' })
      .max(max, 'too_long')
      .transform(digits)
      .pipe(z.string().min(1, 'required').regex(/^\d{6}$/, 'code_format')),
  });

  const problemText = (it: LoadedInteraction, problem: string | undefined) =>
    ({ too_long: it.t.fieldTooLong, required: it.t.fieldRequired, phone_invalid: it.t.sms.phoneInvalid, code_format: it.t.sms.codeFormat })[problem ?? ''] ?? it.t.fieldRequired;

  /** The interaction at its login prompt, if SMS sign-in may finish it; otherwise answered here. */
  async function load(ctx: Context, form: boolean): Promise<LoadedInteraction | undefined> {
    const it = await loadInteraction(ctx, deps, { form, prompt: 'login' });
    if (!it) return undefined;
    if (await refuseUnreachableLevel(ctx, deps, it, 'web')) return undefined;
    if (needsSecondFactor(it)) return fail(ctx, 400, it.locale, it.t.sms.notEnough(it.clientName), 'sms_not_enough'), undefined;
    return it;
  }

  const renderPhone = (ctx: Context, it: LoadedInteraction, error?: string, phone?: string) =>
    htmlPage(ctx, (nonce) => smsPhonePage({ locale: it.locale, nonce, uid: it.uid, csrf: it.csrf, error, phone, switchLanguage: `/interaction/${it.uid}/sms` }));

  async function renderCode(ctx: Context, it: LoadedInteraction, error?: string): Promise<void> {
    const phone = await deps.smsSignIn.pendingPhone(it.uid);
    if (!phone) return renderPhone(ctx, it, error ?? it.t.sms.noPending);
    htmlPage(ctx, (nonce) => smsCodePage({ locale: it.locale, nonce, uid: it.uid, csrf: it.csrf, error, maskedPhone: maskPhone(phone), codeMinutes: deps.codeMinutes }));
  }

  router.get('/interaction/:uid/sms', async (ctx) => {
    const it = await load(ctx, false);
    if (!it) return;
    if (await deps.smsSignIn.pendingPhone(it.uid)) return renderCode(ctx, it);
    renderPhone(ctx, it);
  });

  router.post('/interaction/:uid/sms', async (ctx) => {
    const it = await load(ctx, true);
    if (!it) return;
    const parsed = phoneForm.safeParse(it.form);
    if (!parsed.success) {
      ctx.status = 400;
      const typed = it.form.phone && it.form.phone.length <= 20 ? it.form.phone : undefined;
      return renderPhone(ctx, it, problemText(it, parsed.error.issues[0]?.message), typed);
    }
    const sent = await deps.smsSignIn.sendCode(it.uid, parsed.data.phone, ctx.ip);
    if (!sent.ok) {
      const t = it.t.sms;
      if (sent.reason === 'sms_unavailable') {
        ctx.status = 503;
        ctx.set('retry-after', '60');
        return renderPhone(ctx, it, t.smsUnavailable);
      }
      ctx.status = 429;
      ctx.set('retry-after', String(sent.retryAfterSeconds));
      return renderPhone(ctx, it, sent.reason === 'too_soon' ? t.tooSoon(sent.retryAfterSeconds) : t.tooManyCodes(sent.retryAfterSeconds));
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${it.uid}/sms`);
  });

  router.post('/interaction/:uid/sms/restart', async (ctx) => {
    const it = await load(ctx, true);
    if (!it) return;
    await deps.smsSignIn.forget(it.uid);
    ctx.status = 303;
    ctx.redirect(`/interaction/${it.uid}/sms`);
  });

  router.post('/interaction/:uid/sms/verify', async (ctx) => {
    const it = await load(ctx, true);
    if (!it) return;
    const parsed = codeForm.safeParse(it.form);
    if (!parsed.success) {
      ctx.status = 400;
      return renderCode(ctx, it, problemText(it, parsed.error.issues[0]?.message));
    }
    const check = await deps.smsSignIn.verify(it.uid, parsed.data.code, ctx.ip);
    const where = auditWhere(ctx, it);
    const t = it.t.sms;
    if (!check.ok) {
      if (check.reason === 'no_pending') {
        ctx.status = 400;
        return renderPhone(ctx, it, t.noPending);
      }
      if (check.reason === 'throttled') return renderCode(ctx, it, throttled(ctx, it, check.until));
      // No account named: a wrong code for an unregistered number must look like any wrong code.
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'sms', reason: check.reason }, ...where });
      if (check.distributedLock) {
        const { sub, until } = check.distributedLock;
        // Not waited for: only an identifier with an account makes this record.
        appendAfterAnswer(deps.audit, deps.logger, { action: 'account.locked', actorType: 'system', accountId: sub, details: { reason: 'distributed_guessing', method: 'sms', until: until.toISOString() }, ...where });
      }
      ctx.status = check.reason === 'too_many_attempts' ? 429 : 401;
      const message = { invalid: t.wrongCode, expired: t.expiredCode, too_many_attempts: t.tooManyAttempts }[check.reason];
      return renderCode(ctx, it, message);
    }
    const authentication: Authentication = { accountId: check.account.sub, channel: 'web', amr: ['sms'], acr: ACR.oneFactor, at: Math.floor(Date.now() / 1000) };
    const returnTo = await completeLogin(ctx, deps, it, authentication, { method: 'sms' });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
