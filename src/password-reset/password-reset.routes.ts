import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { looksLikePhone } from '../accounts/index.js';
import { YihaoError } from '../errors.js';
import { csrfTokens } from '../http/csrf.js';
import { readForm } from '../http/form-body.js';
import { htmlPage } from '../http/html-page.js';
import { isCitizenIdShaped } from '../identity/index.js';
import { pickLocale, type Locale } from '../http/locale.js';
import type { PasswordResetService } from './password-reset-service.js';
import { resetCodePage, resetMessagePage, resetMessages, resetStartPage, type ResetMessages } from './views.js';

const COOKIE = 'yihao.password-reset';
/** Only a sign-in page of ours: `/interaction/<uid>`. Anything else is refused (no open redirect). */
const RETURN_TO = /^\/interaction\/[A-Za-z0-9_-]{1,128}$/;

export interface PasswordResetDeps {
  service: PasswordResetService;
  /** Signs the CSRF tokens (the first cookie key). */
  csrfKeys: readonly string[];
  formFieldMaxLength: number;
  bodyMaxBytes: number;
  codeMinutes: number;
  /** How long the flow cookie lives. */
  cookieSeconds: number;
}

interface Page {
  locale: Locale;
  t: ResetMessages;
  query: string;
  returnTo: string | undefined;
}

/**
 * Password reset on the web, without JavaScript, like `/register`: a random flow id in a signed,
 * httpOnly, SameSite=Lax cookie scoped to `/password-reset`, a CSRF token that is an HMAC of it,
 * and everything else server-side.
 * - `GET|POST /password-reset`: the ID number or mobile number; the POST sends the code;
 * - `GET|POST /password-reset/code`: the code and the new password (twice).
 */
export function passwordResetRouter(deps: PasswordResetDeps): Router {
  const router = new Router();
  const { service } = deps;
  const max = deps.formFieldMaxLength;
  const { make: csrfOf, check: csrfFits } = csrfTokens(deps.csrfKeys, 'password-reset');
  const setCookie = (ctx: Context, value: string | null) =>
    ctx.cookies.set(COOKIE, value, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      path: '/password-reset',
      secure: ctx.secure,
      overwrite: true,
      ...(value === null ? {} : { maxAge: deps.cookieSeconds * 1000 }),
    });
  const currentFlow = (ctx: Context) => {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    return service.isId(id) ? id : undefined;
  };

  const text = z.string().catch('').pipe(z.string().max(max, 'too_long'));
  const startForm = z.object({
    identifier: text
      .transform((s) => s.trim())
      .pipe(z.string().min(1, 'required'))
      .refine((s) => isCitizenIdShaped(s) || looksLikePhone(s), 'identifier_invalid'),
  });
  const codeForm = z
    .object({
      code: text.transform((s) => s.normalize('NFKC').replace(/\s+/g, '')).pipe(z.string().min(1, 'required').regex(/^\d{6}$/, 'code_format')),
      password: text.pipe(z.string().min(1, 'required').min(8, 'password_too_short').max(128, 'password_too_long')),
      password_confirm: text.pipe(z.string().min(1, 'required')),
    })
    .refine((v) => v.password === v.password_confirm, { message: 'password_mismatch', path: ['password_confirm'] });
  const problemText = (t: ResetMessages, problem: string | undefined): string =>
    ({
      too_long: t.tooLong,
      identifier_invalid: t.identifierInvalid,
      code_format: t.codeFormat,
      password_too_short: t.passwordTooShort,
      password_too_long: t.passwordTooLong,
      password_mismatch: t.passwordMismatch,
    })[problem ?? ''] ?? t.required;

  function page(ctx: Context): Page | undefined {
    const locale = pickLocale(ctx.query.ui_locales);
    const t = resetMessages(locale);
    const raw = ctx.query.return_to;
    const ok = raw === undefined || raw === '' || (typeof raw === 'string' && RETURN_TO.test(raw));
    const returnTo = ok && typeof raw === 'string' && raw ? raw : undefined;
    const params = new URLSearchParams();
    if (locale === 'en') params.set('ui_locales', 'en');
    if (returnTo) params.set('return_to', returnTo);
    const p = { locale, t, query: params.size ? `?${params}` : '', returnTo };
    if (!ok) return message(ctx, p, 400, t.badReturnTo), undefined;
    return p;
  }

  function message(ctx: Context, p: Page, status: number, text: string, restart = true, title = p.t.endedTitle): void {
    ctx.status = status;
    htmlPage(ctx, (nonce) => resetMessagePage({ ...p, nonce, title, message: text, restart }));
  }

  /** Every POST: a flow cookie, a readable form and its CSRF token. */
  async function posted(ctx: Context): Promise<(Page & { flowId: string; form: Record<string, string> }) | undefined> {
    const p = page(ctx);
    if (!p) return undefined;
    const flowId = currentFlow(ctx);
    if (!flowId) return message(ctx, p, 403, p.t.flowExpired), undefined;
    let form: Record<string, string>;
    try {
      form = await readForm(ctx, deps.bodyMaxBytes);
    } catch (e) {
      if (e instanceof YihaoError) return message(ctx, p, e.status, p.t.tooLong), undefined;
      throw e;
    }
    if (!csrfFits(flowId, form.csrf)) return message(ctx, p, 403, p.t.flowExpired), undefined;
    return { ...p, flowId, form };
  }

  const renderStart = (ctx: Context, p: Page, flowId: string, error?: string) =>
    htmlPage(ctx, (nonce) => resetStartPage({ ...p, nonce, csrf: csrfOf(flowId), error }));
  const renderCode = (ctx: Context, p: Page, flowId: string, error?: string) =>
    htmlPage(ctx, (nonce) => resetCodePage({ ...p, nonce, csrf: csrfOf(flowId), codeMinutes: deps.codeMinutes, error }));

  router.get('/password-reset', (ctx) => {
    const p = page(ctx);
    if (!p) return;
    const flowId = currentFlow(ctx) ?? service.newId();
    setCookie(ctx, flowId);
    renderStart(ctx, p, flowId);
  });

  router.post('/password-reset', async (ctx) => {
    const it = await posted(ctx);
    if (!it) return;
    const parsed = startForm.safeParse(it.form);
    if (!parsed.success) {
      ctx.status = 400;
      return renderStart(ctx, it, it.flowId, problemText(it.t, parsed.error.issues[0]?.message));
    }
    const sent = await service.start(it.flowId, parsed.data.identifier, { ip: ctx.ip, requestId: ctx.state.requestId as string });
    if (!sent.ok) {
      if (sent.reason === 'sms_unavailable') {
        ctx.status = 503;
        ctx.set('retry-after', '60');
        return renderStart(ctx, it, it.flowId, it.t.smsUnavailable);
      }
      ctx.status = 429;
      ctx.set('retry-after', String(sent.retryAfterSeconds));
      return renderStart(ctx, it, it.flowId, sent.reason === 'too_soon' ? it.t.tooSoon(sent.retryAfterSeconds) : it.t.tooManyCodes(sent.retryAfterSeconds));
    }
    ctx.status = 303;
    ctx.redirect(`/password-reset/code${it.query}`);
  });

  router.get('/password-reset/code', async (ctx) => {
    const p = page(ctx);
    if (!p) return;
    const flowId = currentFlow(ctx);
    if (!flowId || !(await service.started(flowId))) {
      ctx.status = 303;
      return ctx.redirect(`/password-reset${p.query}`);
    }
    renderCode(ctx, p, flowId);
  });

  router.post('/password-reset/code', async (ctx) => {
    const it = await posted(ctx);
    if (!it) return;
    const parsed = codeForm.safeParse(it.form);
    if (!parsed.success) {
      ctx.status = 400;
      return renderCode(ctx, it, it.flowId, problemText(it.t, parsed.error.issues[0]?.message));
    }
    const { code, password } = parsed.data;
    const done = await service.complete(it.flowId, code, password, { ip: ctx.ip, requestId: ctx.state.requestId as string });
    if (done.ok) {
      setCookie(ctx, null);
      return message(ctx, it, 200, it.t.done, false, it.t.doneTitle);
    }
    const t = it.t;
    switch (done.reason) {
      case 'no_pending':
        return message(ctx, it, 400, t.flowExpired);
      case 'invalid':
        ctx.status = 400;
        return renderCode(ctx, it, it.flowId, t.wrongCode);
      case 'expired':
        return message(ctx, it, 400, t.expiredCode);
      case 'too_many_attempts':
        return message(ctx, it, 429, t.tooManyAttempts);
    }
  });

  return router;
}
