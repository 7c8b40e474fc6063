import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { readForm } from '../../http/form-body.js';
import { htmlPage } from '../../http/html-page.js';
import { SERVICE_TIME_ZONE, zonedTime } from '../../http/zoned-time.js';
import type { CsrfTokens } from '../../http/csrf.js';
import { isYihaoError } from '../../errors.js';
import { looksLikePhone } from '../../accounts/index.js';
import { isCitizenIdShaped } from '../../identity/index.js';
import { AdminError, isAdminError } from '../admin-error.js';
import { auditQueryInput } from '../audit-service.js';
import type { OperatorAuth } from '../operator-auth.js';
import { scopesFor, type Operator, type Permission } from '../roles.js';
import type { AdminServices } from '../services.js';
import { formErrors, formFromSettings, settingsFromForm } from './client-form.js';
import type { ConsoleSignIn, ConsoleSession } from './console-sign-in.js';
import { consoleMessages, pickLocale, SECTIONS, type Locale, type Section } from './i18n.js';
import type { PageFrame } from './layout.js';
import * as pages from './pages.js';
import { localised } from './messages.js';
import { certificateConsoleRoutes } from './certificates.routes.js';
import { accountConsoleRoutes } from './account.routes.js';
import { revokeWithRecord } from '../../storage/revocation-hold.js';

export interface ConsoleDeps {
  services: AdminServices;
  auth: OperatorAuth;
  signIn: ConsoleSignIn;
  csrf: CsrfTokens;
  bodyMaxBytes: number;
  logger: Logger;
  /** Ends the operator's Yihao session in this browser (and the console's grant with it). */
  endYihaoSession?: ((sessionUid: string, sub: string) => Promise<unknown>) | undefined;
}

const SESSION_COOKIE = 'yihao_admin';
const LOGIN_COOKIE = 'yihao_admin_login';
const LOCALE_COOKIE = 'yihao_admin_lang';
const cookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: '/admin', overwrite: true });

function localeOf(ctx: Context): Locale {
  const asked = ctx.query.ui_locales;
  if (typeof asked === 'string') {
    const locale = pickLocale(asked);
    ctx.cookies.set(LOCALE_COOKIE, locale, { ...cookieOptions(ctx), signed: false, maxAge: 365 * 86_400_000 });
    return locale;
  }
  return ctx.cookies.get(LOCALE_COOKIE) === 'en' ? 'en' : 'zh-CN';
}

/** The current URL without ui_locales, for the language switch. */
const pathOf = (ctx: Context) => {
  const q = new URLSearchParams(ctx.querystring);
  q.delete('ui_locales');
  q.delete('notice');
  const s = q.toString();
  return s ? `${ctx.path}?${s}` : ctx.path;
};

interface Visit {
  session: ConsoleSession;
  op: Operator;
  frame: PageFrame;
  csrf: string;
}

const may = (op: Operator, p: Permission) => scopesFor(op, p).length > 0;
const SECTION_PERMISSION: Record<(typeof SECTIONS)[number], Permission> = {
  clients: 'client.read',
  changes: 'client.read',
  departments: 'department.read',
  operators: 'operator.read',
  certificates: 'certificate.revoke',
  accounts: 'account.read',
  audit: 'audit.read',
  keys: 'key.read',
};
const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
const int = (v: unknown, fallback: number) => (typeof v === 'string' && /^\d{1,6}$/.test(v) && Number(v) > 0 ? Number(v) : fallback);

/** The admin console: server-rendered pages over the same services (and checks) as the API. */
export function consoleRoutes(router: Router, d: ConsoleDeps): void {
  const frameFor = (ctx: Context, chrome?: PageFrame['chrome']): PageFrame => {
    const locale = localeOf(ctx);
    return { locale, t: consoleMessages(locale), nonce: '', path: pathOf(ctx), chrome };
  };
  const render = (ctx: Context, frame: PageFrame, status: number, draw: (f: PageFrame) => string) => {
    ctx.status = status;
    htmlPage(ctx, (nonce) => draw({ ...frame, nonce }));
  };
  const fail = (ctx: Context, frame: PageFrame, status: number, message: string) => render(ctx, frame, status, (f) => pages.errorPage(f, message));

  async function startSignIn(ctx: Context, returnTo: string): Promise<void> {
    const { transactionId, authorizationUrl } = await d.signIn.begin(returnTo, localeOf(ctx));
    ctx.cookies.set(LOGIN_COOKIE, transactionId, { ...cookieOptions(ctx), maxAge: 600_000 });
    ctx.status = 303;
    ctx.redirect(authorizationUrl);
  }

  /** The signed-in operator, or undefined once the answer (a redirect to sign in, a refusal) is set. */
  async function visit(ctx: Context, section: Section): Promise<Visit | undefined> {
    const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = id ? await d.signIn.find(id) : undefined;
    if (!session) {
      if (ctx.method === 'GET') await startSignIn(ctx, pathOf(ctx));
      else ctx.redirect('/admin');
      return undefined;
    }
    let op: Operator;
    try {
      op = await d.auth.fromAccessToken(session.accessToken, { ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    } catch (e) {
      await d.signIn.end(session.id);
      ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
      if (isAdminError(e) && e.code === 'forbidden') {
        fail(ctx, frameFor(ctx), 403, consoleMessages(localeOf(ctx)).notOperator);
        return undefined;
      }
      if (isAdminError(e) && e.code === 'unauthorized') {
        if (ctx.method === 'GET') await startSignIn(ctx, pathOf(ctx));
        else ctx.redirect('/admin');
        return undefined;
      }
      throw e;
    }
    const csrf = d.csrf.make(session.id);
    const sections = SECTIONS.filter((s) => may(op, SECTION_PERMISSION[s]));
    return { session, op, csrf, frame: frameFor(ctx, { name: op.name, csrf, section, sections, notice: str(ctx.query.notice) }) };
  }

  /** A console page: signed in, failures shown as pages in the operator's language. */
  const pageRoute =
    (section: Section, handler: (ctx: Context, v: Visit, form: Record<string, string>) => Promise<void>) =>
    async (ctx: Context) => {
      const v = await visit(ctx, section);
      if (!v) return;
      const { t } = v.frame;
      try {
        let form: Record<string, string> = {};
        if (ctx.method === 'POST') {
          form = await readForm(ctx, d.bodyMaxBytes);
          if (!d.csrf.check(v.session.id, form.csrf)) await d.services.guard.deny(v.op, `console.${ctx.path.split('/')[2] ?? 'home'}`, 'csrf');
        }
        await handler(ctx, v, form);
      } catch (e) {
        if (isAdminError(e)) {
          const message = e.code === 'not_found' ? t.notFound : e.code === 'forbidden' ? `${localised(v.frame.locale, e.message)}${v.frame.locale === 'en' ? '. ' : '。'}${t.attemptRecorded}` : e.code === 'conflict' ? `${t.conflict}: ${localised(v.frame.locale, e.message)}` : localised(v.frame.locale, e.message);
          return fail(ctx, v.frame, e.status, message);
        }
        if (isYihaoError(e)) return fail(ctx, v.frame, e.status, e.message);
        d.logger.error({ err: e, requestId: ctx.state.requestId as string | undefined }, 'admin console error');
        return fail(ctx, v.frame, 500, t.errorTitle);
      }
    };
  const done = (ctx: Context, to: string, notice: string) => {
    ctx.status = 303;
    ctx.redirect(`${to}${to.includes('?') ? '&' : '?'}notice=${notice}`);
  };
  const fieldErrors = (locale: Locale, e: AdminError) =>
    Object.fromEntries(Object.entries(formErrors(e.fields ?? { _: e.message })).map(([k, m]) => [k, localised(locale, m)]));

  router.get('/admin/callback', async (ctx) => {
    const tx = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
    ctx.cookies.set(LOGIN_COOKIE, null, cookieOptions(ctx));
    const outcome = await d.signIn.complete(tx, ctx.query);
    if (!outcome.ok) {
      d.logger.info({ event: 'admin_console.sign_in_failed', reason: outcome.reason, requestId: ctx.state.requestId as string | undefined }, 'console sign-in did not finish');
      return fail(ctx, frameFor(ctx), 400, consoleMessages(localeOf(ctx)).signInFailed);
    }
    const previous = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    if (previous) await d.signIn.end(previous);
    ctx.cookies.set(SESSION_COOKIE, outcome.session.id, cookieOptions(ctx));
    ctx.status = 303;
    ctx.redirect(outcome.returnTo.startsWith('/admin') ? outcome.returnTo : '/admin');
  });

  router.post('/admin/sign-out', async (ctx) => {
    const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = id ? await d.signIn.find(id) : undefined;
    const form = await readForm(ctx, d.bodyMaxBytes).catch(() => ({}) as Record<string, string>);
    // A forged sign-out must not even drop the cookie: a page elsewhere could sign an operator out mid-review.
    if (session && !d.csrf.check(session.id, form.csrf)) {
      const f = frameFor(ctx);
      return render(ctx, f, 403, (page) => pages.errorPage(page, localised(f.locale, 'the form did not come from this console session; reload the page and try again')));
    }
    if (session) {
      // Both sessions end with their record, or neither does (storage/revocation-hold.ts).
      await revokeWithRecord(
        async () => {
          await d.signIn.end(session.id);
          // On a shared counter PC, the next person must not find a loa:2 Yihao session waiting.
          if (session.sessionUid) await d.endYihaoSession?.(session.sessionUid, session.sub);
        },
        (_done, trx) =>
          d.services.guard.record({ sub: session.sub, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined }, 'session.ended', { accountId: session.sub }, { via: 'admin_console' }, trx),
      );
    }
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    render(ctx, frameFor(ctx), 200, (f) => pages.signedOutPage(f));
  });

  router.get('/admin', pageRoute('home', async (ctx, v) => {
    const [found, dashboard] = await Promise.all([
      Promise.all([...new Set(v.op.assignments.map((a) => a.departmentId))].map((id) => d.services.stores.departments.find(id))),
      d.services.dashboard.figures(v.op),
    ]);
    const depts = new Map(found.filter((x) => x !== undefined).map((x) => [x.id, x]));
    render(ctx, v.frame, 200, (f) => pages.homePage(f, v.op, depts, dashboard));
  }));

  // Apps.
  router.get('/admin/clients', pageRoute('clients', async (ctx, v) => {
    const q = { q: str(ctx.query.q)?.slice(0, 128), status: ['draft', 'active', 'suspended'].find((s) => s === ctx.query.status), page: int(ctx.query.page, 1), per_page: 20 };
    const list = await d.services.clients.list(v.op, q);
    render(ctx, v.frame, 200, (f) => pages.clientsPage(f, list, q, may(v.op, 'client.write')));
  }));

  const writableDepartments = async (op: Operator) => (await d.services.stores.departments.within(scopesFor(op, 'client.write'))).items;

  router.get('/admin/clients/new', pageRoute('clients', async (ctx, v) => {
    const departments = await writableDepartments(v.op);
    if (departments.length === 0) throw new AdminError('forbidden', 'your roles do not allow this');
    render(ctx, v.frame, 200, (f) => pages.newClientPage(f, { csrf: v.csrf, values: formFromSettings({}), errors: {}, departments }));
  }));

  router.post('/admin/clients', pageRoute('clients', async (ctx, v, form) => {
    try {
      const made = await d.services.clients.create(v.op, { department_id: form.department_id ?? '', settings: settingsFromForm(form) });
      render(ctx, v.frame, 201, (f) => pages.secretShownPage(f, f.t.createdTitle, made.client.clientId, made.clientSecret, undefined));
    } catch (e) {
      if (!isAdminError(e) || e.code !== 'invalid_input') throw e;
      const departments = await writableDepartments(v.op);
      render(ctx, v.frame, 400, (f) => pages.newClientPage(f, { csrf: v.csrf, values: form, errors: fieldErrors(f.locale, e), departments }));
    }
  }));

  router.get('/admin/clients/:id', pageRoute('clients', async (ctx, v) => {
    const detail = await d.services.clients.get(v.op, ctx.params.id!);
    const dept = await d.services.stores.departments.find(detail.client.departmentId);
    render(ctx, v.frame, 200, (f) => pages.clientPage(f, detail, dept, { write: may(v.op, 'client.write'), review: may(v.op, 'client.review'), self: v.op.sub }));
  }));

  router.get('/admin/clients/:id/change', pageRoute('clients', async (ctx, v) => {
    const { client } = await d.services.clients.get(v.op, ctx.params.id!);
    render(ctx, v.frame, 200, (f) => pages.proposePage(f, client, { errors: {} }));
  }));

  router.post('/admin/clients/:id/change', pageRoute('clients', async (ctx, v, form) => {
    const { client } = await d.services.clients.get(v.op, ctx.params.id!);
    try {
      await d.services.clients.propose(v.op, client.clientId, settingsFromForm(form, { base: client.settings, fixedPublic: client.settings?.public ?? !client.secretDigest }));
      done(ctx, `/admin/clients/${client.clientId}`, 'drafted');
    } catch (e) {
      if (!isAdminError(e) || e.code !== 'invalid_input') throw e;
      render(ctx, v.frame, 400, (f) => pages.proposePage(f, client, { values: form, errors: fieldErrors(f.locale, e) }));
    }
  }));

  router.post('/admin/clients/:id/suspend', pageRoute('clients', async (ctx, v, form) => {
    await d.services.clients.suspend(v.op, ctx.params.id!, { reason: form.reason ?? '' });
    done(ctx, `/admin/clients/${ctx.params.id!}`, 'suspended');
  }));

  router.post('/admin/clients/:id/resume', pageRoute('clients', async (ctx, v) => {
    await d.services.clients.resume(v.op, ctx.params.id!);
    done(ctx, `/admin/clients/${ctx.params.id!}`, 'resumed');
  }));

  router.post('/admin/clients/:id/secret', pageRoute('clients', async (ctx, v, form) => {
    const grace = form.grace_seconds && /^\d{1,9}$/.test(form.grace_seconds) ? Number(form.grace_seconds) : undefined;
    const rotated = await d.services.clients.rotateSecret(v.op, ctx.params.id!, grace === undefined ? {} : { grace_seconds: grace });
    const until = rotated.previousValidUntil ? zonedTime(rotated.previousValidUntil, SERVICE_TIME_ZONE) : undefined;
    render(ctx, v.frame, 200, (f) => pages.secretShownPage(f, f.t.rotatedTitle, ctx.params.id!, rotated.clientSecret, f.t.rotatedBody(until)));
  }));

  // Reviews.
  router.get('/admin/changes', pageRoute('changes', async (ctx, v) => {
    const q = { status: ['draft', 'submitted', 'approved', 'rejected'].find((s) => s === ctx.query.status), page: int(ctx.query.page, 1), per_page: 20 };
    const list = await d.services.clients.listChanges(v.op, q);
    render(ctx, v.frame, 200, (f) => pages.changesPage(f, list, q));
  }));

  router.get('/admin/changes/:id', pageRoute('changes', async (ctx, v) => {
    const change = await d.services.clients.getChange(v.op, ctx.params.id!);
    render(ctx, v.frame, 200, (f) => pages.changePage(f, change, { review: may(v.op, 'client.review'), write: may(v.op, 'client.write'), self: v.op.sub }));
  }));

  router.get('/admin/changes/:id/edit', pageRoute('changes', async (ctx, v) => {
    const change = await d.services.clients.getChange(v.op, ctx.params.id!);
    if (change.status !== 'draft') throw new AdminError('conflict', 'only a draft can be edited');
    render(ctx, v.frame, 200, (f) => pages.proposePage(f, change.client, { errors: {}, draft: change }));
  }));

  router.post('/admin/changes/:id/edit', pageRoute('changes', async (ctx, v, form) => {
    const change = await d.services.clients.getChange(v.op, ctx.params.id!);
    try {
      await d.services.clients.edit(v.op, change.id, settingsFromForm(form, { base: change.proposed, fixedPublic: change.proposed.public }));
      done(ctx, `/admin/clients/${change.clientId}`, 'drafted');
    } catch (e) {
      if (!isAdminError(e) || e.code !== 'invalid_input') throw e;
      render(ctx, v.frame, 400, (f) => pages.proposePage(f, change.client, { values: form, errors: fieldErrors(f.locale, e), draft: change }));
    }
  }));

  router.post('/admin/changes/:id/submit', pageRoute('changes', async (ctx, v) => {
    await d.services.clients.submit(v.op, ctx.params.id!);
    done(ctx, `/admin/changes/${ctx.params.id!}`, 'submitted');
  }));

  router.post('/admin/changes/:id/review', pageRoute('changes', async (ctx, v, form) => {
    // The revision the page showed (a decision must name one): a change edited since then is refused.
    const revision = /^[1-9][0-9]{0,8}$/.test(form.revision ?? '') ? { revision: Number(form.revision) } : {};
    const note = { ...(form.note?.trim() ? { note: form.note.trim() } : {}), ...revision };
    if (form.decision === 'approve') {
      await d.services.clients.approve(v.op, ctx.params.id!, note);
      return done(ctx, `/admin/changes/${ctx.params.id!}`, 'approved');
    }
    if (form.decision === 'reject') {
      await d.services.clients.reject(v.op, ctx.params.id!, note);
      return done(ctx, `/admin/changes/${ctx.params.id!}`, 'rejected');
    }
    throw new AdminError('invalid_input', 'decision must be approve or reject');
  }));

  // Departments.
  const departmentsView = async (ctx: Context, v: Visit, create: { errors: Record<string, string>; values: Record<string, string> }, status = 200) => {
    const q = { q: str(ctx.query.q)?.slice(0, 128), page: int(ctx.query.page, 1), per_page: 50 };
    const list = await d.services.departments.list(v.op, q);
    const parents = (await d.services.stores.departments.within(scopesFor(v.op, 'department.write'))).items.filter((x) => x.level !== 'district');
    render(ctx, v.frame, status, (f) => pages.departmentsPage(f, list, q, { parents, ...create }));
  };
  router.get('/admin/departments', pageRoute('departments', async (ctx, v) => departmentsView(ctx, v, { errors: {}, values: {} })));
  router.post('/admin/departments', pageRoute('departments', async (ctx, v, form) => {
    try {
      await d.services.departments.create(v.op, { name: form.name ?? '', level: form.level as never, parent_id: form.parent_id ?? '' });
      done(ctx, '/admin/departments', 'department_created');
    } catch (e) {
      if (!isAdminError(e) || e.code !== 'invalid_input') throw e;
      await departmentsView(ctx, v, { errors: fieldErrors(v.frame.locale, e), values: form }, 400);
    }
  }));

  // Operators.
  const operatorsView = async (ctx: Context, v: Visit, grant: { errors: Record<string, string>; values: Record<string, string> }, status = 200) => {
    const q = { q: str(ctx.query.q)?.slice(0, 128), page: int(ctx.query.page, 1), per_page: 20 };
    const list = await d.services.operators.list(v.op, q);
    const departments = new Map((await d.services.stores.departments.within(scopesFor(v.op, 'operator.write'))).items.map((x) => [x.id, x]));
    render(ctx, v.frame, status, (f) => pages.operatorsPage(f, list, q, departments, grant));
  };
  router.get('/admin/operators', pageRoute('operators', async (ctx, v) => operatorsView(ctx, v, { errors: {}, values: {} })));
  router.post('/admin/operators', pageRoute('operators', async (ctx, v, form) => {
    try {
      // One field takes both: a number is a lookup of a citizen (national super-admins and reviewers
      // only, operator-service.ts), anything else is the operator's sub, which they can tell anyone.
      const named = form.identifier?.trim() ?? '';
      const who = isCitizenIdShaped(named) || looksLikePhone(named) ? { identifier: named } : { sub: named };
      await d.services.operators.assign(v.op, { ...who, role: form.role as never, department_id: form.department_id ?? '' });
      done(ctx, '/admin/operators', 'granted');
    } catch (e) {
      if (!isAdminError(e) || (e.code !== 'invalid_input' && !(e.code === 'not_found' && e.fields) && e.code !== 'conflict' && e.code !== 'forbidden')) throw e;
      const fields = e.fields && Object.fromEntries(Object.entries(e.fields).map(([k, m]) => [k === 'sub' ? 'identifier' : k, m]));
      const errors = fields ? fieldErrors(v.frame.locale, new AdminError(e.code, e.message, fields)) : { _: localised(v.frame.locale, e.message) };
      // The identifier (perhaps a citizen ID number) is not echoed back into the page.
      await operatorsView(ctx, v, { errors, values: { role: form.role ?? '', department_id: form.department_id ?? '' } }, e.status);
    }
  }));
  router.post('/admin/operators/revoke', pageRoute('operators', async (ctx, v, form) => {
    await d.services.operators.revoke(v.op, form.assignment_id ?? '');
    done(ctx, '/admin/operators', 'revoked');
  }));

  // Audit.
  const fromLocal = (s: string | undefined) => (s ? new Date(`${s}${/[zZ]|[+-]\d\d:\d\d$/.test(s) ? '' : '+08:00'}`).toISOString() : undefined);
  const auditView = async (ctx: Context, v: Visit, chain?: Awaited<ReturnType<AdminServices['audit']['verify']>>) => {
    const raw = Object.fromEntries(['actor', 'subject', 'client_id', 'action', 'from', 'to', 'before'].map((k) => [k, str(ctx.query[k])])) as Record<string, string | undefined>;
    let errors: Record<string, string> = {};
    let events: import('../../audit/index.js').AuditEvent[] = [];
    let next: number | undefined;
    let times: { from?: string | undefined; to?: string | undefined } = {};
    try {
      times = { from: fromLocal(raw.from), to: fromLocal(raw.to) };
    } catch {
      errors = { from: 'invalid date' };
    }
    const parsed = auditQueryInput.safeParse(Object.fromEntries(Object.entries({ ...raw, ...times, limit: '50' }).filter(([, x]) => x !== undefined)));
    if (!parsed.success) {
      errors = Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), localised(v.frame.locale, i.message)]));
    } else if (!Object.keys(errors).length) {
      const page = await d.services.audit.query(v.op, parsed.data);
      events = page.events;
      next = page.next;
    }
    const { before: _before, ...shownQuery } = raw;
    render(ctx, v.frame, Object.keys(errors).length ? 400 : 200, (f) => pages.auditPage(f, events, next, shownQuery, errors, chain));
  };
  router.get('/admin/audit', pageRoute('audit', async (ctx, v) => auditView(ctx, v)));
  router.post('/admin/audit/verify', pageRoute('audit', async (ctx, v) => auditView(ctx, v, await d.services.audit.verify(v.op))));

  certificateConsoleRoutes(router, { services: d.services, pageRoute, render, done });
  accountConsoleRoutes(router, { services: d.services, pageRoute, render, done, fieldErrors });

  // Signing keys.
  router.get('/admin/keys', pageRoute('keys', async (ctx, v) => {
    const keys = await d.services.keys.list(v.op);
    render(ctx, v.frame, 200, (f) => pages.keysPage(f, keys, may(v.op, 'key.rotate')));
  }));
  router.post('/admin/keys/rotate', pageRoute('keys', async (ctx, v) => {
    await d.services.keys.rotate(v.op);
    done(ctx, '/admin/keys', 'keys_rotated');
  }));
}
