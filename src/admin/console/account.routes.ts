import type Router from '@koa/router';
import type { Context } from 'koa';
import { AdminError, isAdminError } from '../admin-error.js';
import { scopesFor, type Operator, type Permission } from '../roles.js';
import type { AdminServices } from '../services.js';
import { accountPage, accountsPage, type FormState } from './account-pages.js';
import type { Locale } from './i18n.js';
import type { PageFrame } from './layout.js';

/** What the console's routes share with these (console.routes.ts). */
export interface AccountRouteKit {
  services: AdminServices;
  pageRoute: (section: 'accounts', handler: (ctx: Context, v: { op: Operator; frame: PageFrame }, form: Record<string, string>) => Promise<void>) => (ctx: Context) => Promise<void>;
  render: (ctx: Context, frame: PageFrame, status: number, draw: (f: PageFrame) => string) => void;
  done: (ctx: Context, to: string, notice: string) => void;
  fieldErrors: (locale: Locale, e: AdminError) => Record<string, string>;
}

const may = (op: Operator, p: Permission) => scopesFor(op, p).length > 0;
const empty = (): FormState => ({ errors: {}, values: {} });
const reasonAndNote = (form: Record<string, string>) => ({ reason: form.reason ?? '', ...(form.note?.trim() ? { note: form.note } : {}) });

/**
 * The console's citizen-account pages (docs/admin.md, "Citizen accounts"): find an account by its ID
 * number (POSTed, never in the address), see it, disable it, ask to enable it, review a request.
 * The account service makes every check; these only draw and redirect.
 */
export function accountConsoleRoutes(router: Router, k: AccountRouteKit): void {
  const { services } = k;
  const listView = async (ctx: Context, v: { op: Operator; frame: PageFrame }, lookup: FormState, status = 200) => {
    const pending = may(v.op, 'account.enable_review') || may(v.op, 'account.enable_request') ? await services.accounts.listEnableRequests(v.op, { per_page: '100' }) : undefined;
    k.render(ctx, v.frame, status, (f) => accountsPage(f, pending, lookup));
  };
  const accountView = async (ctx: Context, v: { op: Operator; frame: PageFrame }, sub: string, forms: { disableForm?: FormState; requestForm?: FormState } = {}, status = 200) => {
    const account = await services.accounts.get(v.op, sub);
    k.render(ctx, v.frame, status, (f) =>
      accountPage(f, account, {
        self: { sub: v.op.sub, isAccount: account.sub === v.op.sub },
        may: { disable: may(v.op, 'account.disable'), request: may(v.op, 'account.enable_request'), review: may(v.op, 'account.enable_review') },
        disableForm: forms.disableForm ?? empty(),
        requestForm: forms.requestForm ?? empty(),
      }),
    );
  };
  /** Bad input is drawn back into the form (the note kept, so that it is not typed twice); anything else goes to the error page. */
  const withForm = async (ctx: Context, v: { op: Operator; frame: PageFrame }, form: Record<string, string>, which: 'disableForm' | 'requestForm', act: () => Promise<void>) => {
    try {
      await act();
    } catch (e) {
      if (!isAdminError(e) || e.code !== 'invalid_input') throw e;
      // A note refused for holding an ID number is not drawn back into the page either.
      const note = /\d{17}[\dXx]/.test(form.note ?? '') ? '' : (form.note ?? '');
      await accountView(ctx, v, ctx.params.sub!, { [which]: { errors: k.fieldErrors(v.frame.locale, e), values: { reason: form.reason ?? '', note } } }, 400);
    }
  };

  router.get('/admin/accounts', k.pageRoute('accounts', async (ctx, v) => {
    if (!may(v.op, 'account.read')) throw new AdminError('forbidden', 'your roles do not allow this');
    await listView(ctx, v, empty());
  }));

  router.post('/admin/accounts/lookup', k.pageRoute('accounts', async (ctx, v, form) => {
    try {
      const account = await services.accounts.lookup(v.op, { citizen_id: form.citizen_id ?? '' });
      ctx.status = 303;
      ctx.redirect(`/admin/accounts/${account.sub}`);
    } catch (e) {
      if (!isAdminError(e) || (e.code !== 'invalid_input' && e.code !== 'not_found')) throw e;
      // The number typed is not drawn back into the page.
      const errors = e.code === 'not_found' ? { citizen_id: v.frame.locale === 'en' ? 'No account has this ID number.' : '没有与此身份证号码对应的账号。' } : k.fieldErrors(v.frame.locale, e);
      await listView(ctx, v, { errors, values: {} }, e.status);
    }
  }));

  router.get('/admin/accounts/:sub', k.pageRoute('accounts', async (ctx, v) => accountView(ctx, v, ctx.params.sub!)));

  router.post('/admin/accounts/:sub/disable', k.pageRoute('accounts', async (ctx, v, form) =>
    withForm(ctx, v, form, 'disableForm', async () => {
      await services.accounts.disable(v.op, ctx.params.sub!, reasonAndNote(form));
      k.done(ctx, `/admin/accounts/${ctx.params.sub!}`, 'account_disabled');
    })));

  router.post('/admin/accounts/:sub/enable-request', k.pageRoute('accounts', async (ctx, v, form) =>
    withForm(ctx, v, form, 'requestForm', async () => {
      await services.accounts.requestEnable(v.op, ctx.params.sub!, reasonAndNote(form));
      k.done(ctx, `/admin/accounts/${ctx.params.sub!}`, 'enable_requested');
    })));

  router.post('/admin/account-requests/:id/review', k.pageRoute('accounts', async (ctx, v, form) => {
    const note = form.note?.trim() ? { note: form.note } : {};
    if (form.decision === 'approve') {
      const account = await services.accounts.approveEnable(v.op, ctx.params.id!, note);
      return k.done(ctx, `/admin/accounts/${account.sub}`, 'account_enabled');
    }
    if (form.decision === 'reject') {
      await services.accounts.rejectEnable(v.op, ctx.params.id!, note);
      return k.done(ctx, '/admin/accounts', 'enable_rejected');
    }
    throw new AdminError('invalid_input', 'decision must be approve or reject');
  }));
}
