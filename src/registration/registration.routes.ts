import Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod';
import { YihaoError } from '../errors.js';
import { readForm } from '../http/form-body.js';
import { htmlPage } from '../http/html-page.js';
import { pickLocale, type Locale } from '../http/locale.js';
import { registrationMessages, type RegistrationMessages } from './i18n.js';
import { checkForm, codeForm, startForm, type CodeField, type StartField } from './registration-forms.js';
import type { RegistrationFlow } from './registration-flow.js';
import { maskedCitizenIdOf, type Entered, type RegistrationService, type SendCodeResult } from './registration-service.js';
import { parseReturnTo } from './return-to.js';
import { registerCodePage, registerDonePage, registerEndedPage, registerStartPage, type FlowLinks, type PageErrors } from './views.js';

export interface RegistrationDeps {
  service: RegistrationService;
  flow: RegistrationFlow;
  formFieldMaxLength: number;
  bodyMaxBytes: number;
  /** How long an SMS code lives, in minutes, for the page text. */
  codeMinutes: number;
}

/** What every registration request starts with: the language and where to return. */
interface Page {
  locale: Locale;
  t: RegistrationMessages;
  links: FlowLinks;
}

/** A step's POST after the checks: the flow id and the form. */
interface Posted extends Page {
  flowId: string;
  form: Record<string, string>;
}

/** Echoes a typed value back into the form, unless it is longer than the field allows. */
const echo = (value: string | undefined, max: number) => (value !== undefined && value.length <= max ? value : undefined);
const nationalPhone = (e164: string) => e164.replace(/^\+86/, '');

/**
 * Self-registration on the web, without JavaScript:
 * - `GET /register`: step 1 (ID number, name, mobile number);
 * - `POST /register`: sends the SMS code, then 303 to step 2;
 * - `GET /register/code`: step 2 (the code, a password and its confirmation);
 * - `POST /register/code`: proves the phone, checks the registry, creates the account;
 * - `POST /register/resend`: a new code, then 303 to step 2.
 * `ui_locales=en` gives English (zh-CN by default); `return_to` (an interaction or `/auth` path)
 * is where "continue to sign in" leads. Both travel in the query string of every step; the ID
 * number never does.
 */
export function registrationRouter(deps: RegistrationDeps): Router {
  const router = new Router();
  const { service, flow } = deps;
  const fieldMax = deps.formFieldMaxLength;

  /** Reads the language and `return_to`; answers a refused `return_to` itself (400). */
  function page(ctx: Context): Page | undefined {
    const locale = pickLocale(ctx.query.ui_locales);
    const t = registrationMessages(locale);
    const returnTo = parseReturnTo(ctx.query.return_to);
    const params = new URLSearchParams();
    if (locale === 'en') params.set('ui_locales', 'en');
    if (returnTo.ok && returnTo.path) params.set('return_to', returnTo.path);
    const query = params.size ? `?${params}` : '';
    const links = { query, returnTo: returnTo.ok ? returnTo.path : undefined };
    if (!returnTo.ok) {
      ctx.status = 400;
      htmlPage(ctx, (nonce) => registerEndedPage({ locale, nonce, title: t.endedTitle, message: t.badReturnTo, links, restart: true }));
      return undefined;
    }
    return { locale, t, links };
  }

  function ended(ctx: Context, p: Page, status: number, message: string, restart = true): void {
    ctx.status = status;
    htmlPage(ctx, (nonce) => registerEndedPage({ locale: p.locale, nonce, title: p.t.endedTitle, message, links: p.links, restart }));
  }

  /** The checks every POST passes: a flow cookie, a readable form, and the flow's CSRF token. */
  async function posted(ctx: Context): Promise<Posted | undefined> {
    const p = page(ctx);
    if (!p) return undefined;
    const flowId = flow.current(ctx);
    if (!flowId) return ended(ctx, p, 403, p.t.flowExpired), undefined;
    let form: Record<string, string>;
    try {
      form = await readForm(ctx, deps.bodyMaxBytes);
    } catch (e) {
      if (e instanceof YihaoError) return ended(ctx, p, e.status, p.t.formTooLarge), undefined;
      throw e;
    }
    if (!flow.checkCsrf(flowId, form.csrf)) return ended(ctx, p, 403, p.t.flowExpired), undefined;
    return { ...p, flowId, form };
  }

  function renderStart(ctx: Context, p: Page, flowId: string, extra: { values?: { citizenId?: string; name?: string; phone?: string }; errors?: PageErrors<StartField> } = {}) {
    htmlPage(ctx, (nonce) => registerStartPage({ locale: p.locale, nonce, csrf: flow.csrf(flowId), links: p.links, ...extra }));
  }

  async function renderCode(ctx: Context, p: Page, flowId: string, extra: { newCodeSent?: boolean; errors?: PageErrors<CodeField> } = {}): Promise<void> {
    const view = await service.view(flowId);
    if (!view) return ended(ctx, p, 400, p.t.flowExpired);
    htmlPage(ctx, (nonce) =>
      registerCodePage({ locale: p.locale, nonce, csrf: flow.csrf(flowId), links: p.links, codeMinutes: deps.codeMinutes, ...view, ...extra }),
    );
  }

  /** A refused send: 429 with Retry-After for the throttles, 503 when the gateway failed. */
  function sendRefusal(ctx: Context, p: Page, sent: Exclude<SendCodeResult, { ok: true } | { reason: 'no_pending' }>): string {
    if (sent.reason === 'sms_unavailable') {
      ctx.status = 503;
      ctx.set('retry-after', '60');
      return p.t.smsUnavailable;
    }
    ctx.status = 429;
    ctx.set('retry-after', String(sent.retryAfterSeconds));
    return sent.reason === 'too_soon' ? p.t.tooSoon(sent.retryAfterSeconds) : p.t.tooManyCodes(sent.retryAfterSeconds);
  }

  function refill(entered: Entered) {
    return { citizenId: entered.citizenId, name: entered.name, phone: nationalPhone(entered.phone) };
  }

  router.get('/register', (ctx) => {
    const p = page(ctx);
    if (!p) return;
    renderStart(ctx, p, flow.ensure(ctx));
  });

  router.post('/register', async (ctx) => {
    const it = await posted(ctx);
    if (!it) return;
    const values = { citizenId: echo(it.form.citizen_id, 18), name: echo(it.form.name, 64), phone: echo(it.form.phone, 20) };
    const checked = checkForm<StartField, z.output<ReturnType<typeof startForm>>>(startForm(fieldMax), it.form);
    if (!checked.ok) {
      ctx.status = 400;
      return renderStart(ctx, it, it.flowId, { values, errors: { fields: checked.fields } });
    }
    const { citizen_id, name, phone } = checked.value;
    const sent = await service.start(it.flowId, { citizenId: citizen_id, name, phone }, { ip: ctx.ip, requestId: ctx.state.requestId as string });
    if (!sent.ok) {
      const message = sent.reason === 'no_pending' ? it.t.flowExpired : sendRefusal(ctx, it, sent);
      return renderStart(ctx, it, it.flowId, { values, errors: { message, about: ['phone'] } });
    }
    ctx.status = 303;
    ctx.redirect(`/register/code${it.links.query}`);
  });

  router.get('/register/code', async (ctx) => {
    const p = page(ctx);
    if (!p) return;
    const flowId = flow.current(ctx);
    if (!flowId || !(await service.view(flowId))) {
      ctx.status = 303;
      return ctx.redirect(`/register${p.links.query}`);
    }
    await renderCode(ctx, p, flowId, { newCodeSent: ctx.query.sent === '1' });
  });

  router.post('/register/code', async (ctx) => {
    const it = await posted(ctx);
    if (!it) return;
    const view = await service.view(it.flowId);
    if (!view) return ended(ctx, it, 400, it.t.flowExpired);
    const checked = checkForm<CodeField, { code: string | undefined; password: string }>(codeForm(fieldMax, { codeNeeded: !view.phoneVerified }), it.form);
    if (!checked.ok) {
      ctx.status = 400;
      return renderCode(ctx, it, it.flowId, { errors: { fields: checked.fields } });
    }
    const origin = { ip: ctx.ip, requestId: ctx.state.requestId as string };
    const done = await service.complete(it.flowId, checked.value, origin);
    if (done.ok) {
      flow.end(ctx);
      const maskedCitizenId = maskedCitizenIdOf(done.account);
      return htmlPage(ctx, (nonce) => registerDonePage({ locale: it.locale, nonce, links: it.links, maskedCitizenId }));
    }
    const t = it.t;
    switch (done.reason) {
      case 'no_pending':
        return ended(ctx, it, 400, t.flowExpired);
      case 'invalid_code':
        ctx.status = 400;
        return renderCode(ctx, it, it.flowId, { errors: { message: t.wrongCode, about: ['code'] } });
      case 'expired_code':
        ctx.status = 400;
        return renderCode(ctx, it, it.flowId, { errors: { message: t.expiredCode, about: ['code'] } });
      case 'too_many_attempts':
        ctx.status = 429;
        return renderCode(ctx, it, it.flowId, { errors: { message: t.tooManyAttempts, about: ['code'] } });
      case 'registry_unavailable':
        ctx.set('retry-after', '30');
        // After too many outages the flow is over (see MAX_REGISTRY_FAILURES): the same words, and "start again".
        if (!(await service.view(it.flowId))) return ended(ctx, it, 503, t.registryUnavailable);
        ctx.status = 503;
        return renderCode(ctx, it, it.flowId, { errors: { message: t.registryUnavailable } });
      case 'registry_mismatch':
        ctx.status = 422;
        return renderStart(ctx, it, it.flowId, { values: refill(done.entered), errors: { message: t.registryMismatch, about: ['citizen_id', 'name'] } });
      case 'phone_not_in_name':
        ctx.status = 422;
        return renderStart(ctx, it, it.flowId, { values: refill(done.entered), errors: { message: t.phoneNotInName, about: ['phone'] } });
      case 'duplicate_phone':
        ctx.status = 409;
        return renderStart(ctx, it, it.flowId, { values: refill(done.entered), errors: { message: t.duplicatePhone, about: ['phone'] } });
      case 'duplicate_citizen_id':
        flow.end(ctx);
        return ended(ctx, it, 409, t.duplicateCitizenId, false);
    }
  });

  router.post('/register/resend', async (ctx) => {
    const it = await posted(ctx);
    if (!it) return;
    const sent = await service.resend(it.flowId, { ip: ctx.ip, requestId: ctx.state.requestId as string });
    if (sent.ok) {
      ctx.status = 303;
      return ctx.redirect(`/register/code${it.links.query ? `${it.links.query}&sent=1` : '?sent=1'}`);
    }
    if (sent.reason === 'no_pending') return ended(ctx, it, 400, it.t.flowExpired);
    const message = sendRefusal(ctx, it, sent);
    return renderCode(ctx, it, it.flowId, { errors: { message } });
  });

  return router;
}
