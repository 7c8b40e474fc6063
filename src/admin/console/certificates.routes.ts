import type Router from '@koa/router';
import type { Context } from 'koa';
import { scopesFor, type Operator } from '../roles.js';
import type { AdminServices } from '../services.js';
import { certificatePage, certificatesPage } from './certificate-pages.js';
import type { PageFrame } from './layout.js';
import { certificateRevocationInput } from '../certificate-service.js';
import { parseInput } from '../validate.js';

type PageRoute = (section: 'certificates', handler: (ctx: Context, v: { op: Operator; frame: PageFrame }, form: Record<string, string>) => Promise<void>) => (ctx: Context) => Promise<void>;

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
const int = (v: unknown, fallback: number) => (typeof v === 'string' && /^\d{1,6}$/.test(v) && Number(v) > 0 ? Number(v) : fallback);

/**
 * The console's certificates section (docs/admin.md): the types of the operator's departments, a
 * department's certificates by type and status, and suspend, resume and revoke with a reason,
 * through the same certificate service (and scope checks, and audit) as the admin API.
 */
export function certificateConsoleRoutes(router: Router, d: { services: AdminServices; pageRoute: PageRoute; render: (ctx: Context, frame: PageFrame, status: number, draw: (f: PageFrame) => string) => void; done: (ctx: Context, to: string, notice: string) => void }): void {
  const { services } = d;

  router.get('/admin/certificates', d.pageRoute('certificates', async (ctx, v) => {
    const departments = (await services.stores.departments.within(scopesFor(v.op, 'certificate.revoke'))).items;
    const asked = str(ctx.query.department_id);
    const filter = {
      department_id: asked ?? departments[0]?.id ?? '',
      type: str(ctx.query.type)?.slice(0, 40),
      status: ['valid', 'suspended', 'revoked'].find((s) => s === ctx.query.status),
    };
    const [types, list] = await Promise.all([
      services.certificates.listTypes(v.op),
      filter.department_id ? services.certificates.listForOperator(v.op, filter.department_id, { type: filter.type, status: filter.status as never, page: int(ctx.query.page, 1), per_page: 20 }) : undefined,
    ]);
    d.render(ctx, v.frame, 200, (f) => certificatesPage(f, types, departments, filter, list));
  }));

  router.get('/admin/certificates/:id', d.pageRoute('certificates', async (ctx, v) => {
    const certificate = await services.certificates.getForOperator(v.op, ctx.params.id!);
    const [types, department] = await Promise.all([services.certificates.listTypes(v.op), services.stores.departments.find(certificate.departmentId)]);
    const type = types.find((x) => x.id === certificate.typeId);
    d.render(ctx, v.frame, 200, (f) => certificatePage(f, certificate, type, department));
  }));

  // Checked as the admin API checks it: a reason that reads as another is refused, not recorded.
  const reasonOf = (form: Record<string, string>) => {
    const reason = form.reason?.trim();
    return parseInput(certificateRevocationInput, reason ? { reason } : {});
  };
  router.post('/admin/certificates/:id/suspend', d.pageRoute('certificates', async (ctx, v, form) => {
    await services.certificates.suspend(v.op, ctx.params.id!, true, reasonOf(form));
    d.done(ctx, `/admin/certificates/${ctx.params.id!}`, 'certificate_suspended');
  }));
  router.post('/admin/certificates/:id/resume', d.pageRoute('certificates', async (ctx, v, form) => {
    await services.certificates.suspend(v.op, ctx.params.id!, false, reasonOf(form));
    d.done(ctx, `/admin/certificates/${ctx.params.id!}`, 'certificate_resumed');
  }));
  router.post('/admin/certificates/:id/revoke', d.pageRoute('certificates', async (ctx, v, form) => {
    await services.certificates.revoke(v.op, ctx.params.id!, reasonOf(form));
    d.done(ctx, `/admin/certificates/${ctx.params.id!}`, 'certificate_revoked');
  }));
}
