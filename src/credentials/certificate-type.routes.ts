import type Router from '@koa/router';
import { approvedType, type CertificateStore } from './certificate-store.js';

const TYPE_ID = /^[a-z][a-z0-9_]{2,39}$/;

/**
 * Each certificate type's `vct` resolves: SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc §6)
 * with its names in zh-CN and en and its claims, each selectively disclosable. Public and
 * cacheable like the issuer metadata, so a wallet or verifier can label what it shows.
 */
export function certificateTypeRoutes(router: Router, deps: { issuer: string; certificates: CertificateStore; maxAge: number }): void {
  router.get('/credentials/types/:id', async (ctx) => {
    const id = String(ctx.params.id);
    const found = TYPE_ID.test(id) ? await deps.certificates.type(id) : undefined;
    // A type awaiting its second national approval is no vct anyone may rely on yet.
    const type = found && approvedType(found) ? found : undefined;
    if (!type) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such certificate type' };
      return;
    }
    const display = (names: { 'zh-CN': string; en: string }) => [
      { locale: 'zh-CN', name: names['zh-CN'] },
      { locale: 'en', name: names.en },
    ];
    ctx.set('cache-control', `public, max-age=${deps.maxAge}`);
    ctx.set('access-control-allow-origin', '*');
    ctx.body = {
      vct: type.vct,
      name: type.names.en,
      display: display(type.names),
      claims: [
        ...Object.entries(type.claims).map(([claim, spec]) => ({ path: [claim], sd: 'always', ...(spec.names ? { display: display(spec.names).map((d) => ({ locale: d.locale, label: d.name })) } : {}) })),
        { path: ['issuing_department'], sd: 'always', display: [{ locale: 'zh-CN', label: '签发部门' }, { locale: 'en', label: 'Issuing department' }] },
      ],
    };
  });
}
