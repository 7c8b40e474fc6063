/**
 * Operators and certificate types and certificates at the admin API (docs/credentials.md,
 * docs/admin.md): a change makes a new version of a type's schema without touching the
 * certificates already pushed (a schema that would drop or retype a claim they carry is refused);
 * a retired type takes no new pushes while its certificates stay valid and still reach wallets;
 * operators list their department's certificates by type and status with the citizen's ID number
 * masked. Every step is audited. The attacker's tests come first: another department's operator
 * sees and changes nothing (404, like something that does not exist).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { callApi, operator, type SignedInOperator, certificateDepartments } from '../support/admin-operators.js';
import { departmentSystemToken } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const PERMIT = {
  id: 'residence_permit',
  names: { 'zh-CN': '居住证', en: 'Residence permit' },
  claims: { permit_number: { type: 'string', required: true, max_length: 12 }, district: { type: 'string' } },
  validity_days: 365,
};

describe.each(backends)('certificate types and certificates for operators ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept = {} as Record<'nation' | 'police' | 'social', Department>;
  let policeAdmin: SignedInOperator;
  let socialAdmin: SignedInOperator;
  let reviewer: SignedInOperator;
  let national: SignedInOperator;
  let nationalReviewer: SignedInOperator;
  let systemToken: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  const pushed: string[] = [];

  const push = (claims: Record<string, unknown>) => callApi(h, systemToken, 'POST', '/certificates', { type: PERMIT.id, department_id: dept.police.id, citizen_id: citizen.citizenId, claims });

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    Object.assign(dept, await certificateDepartments(h));
    [policeAdmin, socialAdmin, reviewer, national, nationalReviewer] = await Promise.all([
      operator(h, [{ role: 'dept-admin', departmentId: dept.police.id }], '公安管理员'),
      operator(h, [{ role: 'dept-admin', departmentId: dept.social.id }], '社保管理员'),
      operator(h, [{ role: 'reviewer', departmentId: dept.police.id }], '公安审核员'),
      // Names certificate types; the police's own admin changes and retires theirs.
      operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家管理员'),
      // Approves the types the first one names (a second pair of eyes).
      operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家复核员'),
    ]);
    systemToken = await departmentSystemToken(h, dept.police.id, '公安业务系统');
    citizen = await h.citizen({ name: '孙八' });
    expect((await national.api('POST', '/certificate-types', { ...PERMIT, department_id: dept.police.id })).status).toBe(201);
    expect((await nationalReviewer.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 1 })).status).toBe(200);
    for (const n of ['R-0001', 'R-0002']) {
      const res = await push({ permit_number: n, district: '西湖区' });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      pushed.push(res.body.id);
    }
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)("another department's operator cannot see, list, change or retire the type or its certificates (404), and each try is audited", async () => {
    expect((await socialAdmin.api('GET', `/certificate-types/${PERMIT.id}`)).status).toBe(404);
    expect((await socialAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { validity_days: 30 })).status).toBe(404);
    expect((await socialAdmin.api('POST', `/certificate-types/${PERMIT.id}/retire`, {})).status).toBe(404);
    const list = await socialAdmin.api('GET', `/departments/${dept.police.id}/certificates`);
    expect(list.status).toBe(404);
    expect(JSON.stringify(list.body)).not.toContain(pushed[0]);
    // A role without certificate powers in the right department: refused too.
    expect((await reviewer.api('GET', `/departments/${dept.police.id}/certificates`)).status).toBe(403);
    const denied = await h.yihao.services.audit.query({ actor: socialAdmin.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.map((e) => (e.details as { operation: string }).operation).sort()).toEqual(['certificate.list', 'certificate_type.get', 'certificate_type.retire', 'certificate_type.update']);
    const type = (await policeAdmin.api('GET', `/certificate-types/${PERMIT.id}`)).body;
    expect(type.type).toMatchObject({ version: 1, retired_at: null, validity_days: 365 });
  });

  it.runIf(enabled)("lists the department's certificates by type and status, the citizen by masked ID number only, never the claims", async () => {
    const list = await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?type=${PERMIT.id}&status=valid`);
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect(list.body.total).toBe(2);
    const masked = `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`;
    expect(list.body.items.map((c: { citizen_id_masked: string }) => c.citizen_id_masked)).toEqual([masked, masked]);
    const text = JSON.stringify(list.body);
    for (const secret of [citizen.citizenId, 'R-0001', '西湖区']) expect(text).not.toContain(secret);
    expect((await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?status=revoked`)).body.total).toBe(0);
    expect((await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?status=lost`)).status).toBe(400);
  });

  it.runIf(enabled)('refuses type names, claim labels and claim values with characters a reader cannot see or that turn the text around (400 by field)', async () => {
    // With U+202E the name a reviewer approves reads as another in wallets; a zero-width space
    // makes two labels look alike; a line separator breaks the verifier's one-line display.
    const RLO = '\u202E';
    const named = await national.api('POST', '/certificate-types', { ...PERMIT, id: 'hidden_permit', department_id: dept.police.id, names: { 'zh-CN': '居住证', en: `Residence permit${RLO}DI lanoitaN` } });
    expect(named.status, JSON.stringify(named.body)).toBe(400);
    expect(named.body.fields).toHaveProperty(['names.en']);
    const labelled = await national.api('POST', '/certificate-types', { ...PERMIT, id: 'hidden_permit', department_id: dept.police.id, claims: { ...PERMIT.claims, district: { type: 'string', names: { 'zh-CN': '区\u200B', en: 'District' } } } });
    expect(labelled.status, JSON.stringify(labelled.body)).toBe(400);
    const renamed = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { names: { 'zh-CN': `居住证${RLO}`, en: 'Residence permit' } });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(400);
    const reversed = await push({ permit_number: `R-1${RLO}000`, district: '西湖区' });
    expect(reversed.status, JSON.stringify(reversed.body)).toBe(400);
    expect(reversed.body.fields).toHaveProperty(['claims.permit_number']);
    const broken = await push({ permit_number: 'R-1000', district: '西湖\u2028区' });
    expect(broken.status, JSON.stringify(broken.body)).toBe(400);
    expect(broken.body.fields).toHaveProperty(['claims.district']);
    // Joiners that scripts and emoji need are no such characters.
    const joined = await push({ permit_number: 'R-1001', district: 'می\u200Cخواهم' });
    expect(joined.status, JSON.stringify(joined.body)).toBe(201);
    pushed.push(joined.body.id);
  });

  it.runIf(enabled)('refuses a change that would drop or retype a claim issued certificates carry (400 by field), and keeps version 1', async () => {
    const dropped = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { claims: { permit_number: PERMIT.claims.permit_number } });
    expect(dropped.status).toBe(400);
    expect(dropped.body.fields['claims.district']).toMatch(/cannot be removed/);
    const retyped = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { claims: { ...PERMIT.claims, district: { type: 'number' } } });
    expect(retyped.status).toBe(400);
    expect(retyped.body.fields['claims.district']).toMatch(/type/);
    expect((await policeAdmin.api('GET', `/certificate-types/${PERMIT.id}`)).body.type.version).toBe(1);
  });

  it.runIf(enabled)("a department's admin alone changes nothing wallets and verifiers see of a type in force: a new version waits for a second national super-admin", async () => {
    // Were a change live at once, the police's admin could show the permit as the resident identity
    // card, and add claims to it, under the vct and names the national department approved.
    const proposed = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, {
      names: { 'zh-CN': '居民身份证', en: 'Resident identity card' },
      claims: { ...PERMIT.claims, nationality: { type: 'string' } },
    });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    expect(proposed.body).toMatchObject({ version: 1, status: 'active', pending_version: 2, names: PERMIT.names });
    const typeDocument = (await (await fetch(`${h.issuer}/credentials/types/${PERMIT.id}`)).json()) as { display: { locale: string; name: string }[]; claims: { path: string[] }[] };
    expect(typeDocument.display).toContainEqual({ locale: 'en', name: 'Residence permit' });
    expect(typeDocument.claims.map((c) => c.path[0])).not.toContain('nationality');
    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, { credential_metadata: { display: { name: string }[]; claims: { path: string[] }[] } }> };
    const announced = metadata.credential_configurations_supported.cert_residence_permit!.credential_metadata;
    expect(announced.display.map((d) => d.name)).toEqual(['居住证', 'Residence permit']);
    expect(announced.claims.map((c) => c.path[0])).not.toContain('nationality');
    const withNew = await push({ permit_number: 'R-0009', nationality: 'CN' });
    expect(withNew.status, JSON.stringify(withNew.body)).toBe(400);

    // Its author is no national super-admin; a reviewer names the pending version, not another.
    const own = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 2 });
    expect(own.status, JSON.stringify(own.body)).toBe(403);
    expect((await nationalReviewer.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 1 })).status).toBe(409);
    const detail = (await policeAdmin.api('GET', `/certificate-types/${PERMIT.id}`)).body;
    expect(detail.versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([[1, 'current'], [2, 'pending']]);
    const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate_type.updated', limit: 10 });
    expect(events.events[0]!.details).toMatchObject({ type: PERMIT.id, before: { version: 1 }, after: { version: 2 }, status: 'pending' });
  });

  it.runIf(enabled)('a change builds on the pending version and replaces it; once approved it is for new pushes, while certificates pushed before keep version 1; audited', async () => {
    // A change made from the version in force lost the race with the pending one: refused.
    expect((await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { base_version: 1, validity_days: 10 })).status).toBe(409);
    const changed = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, {
      base_version: 2,
      names: { 'zh-CN': '浙江省居住证', en: 'Zhejiang residence permit' },
      claims: { ...PERMIT.claims, address: { type: 'string', required: true } },
      validity_days: 730,
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(201);
    expect(changed.body).toMatchObject({ version: 1, pending_version: 3, validity_days: 365 });
    // The replaced version can no longer be approved; one who wrote a pending version approves none.
    expect((await nationalReviewer.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 2 })).status).toBe(409);
    const selfProposed = await nationalReviewer.api('POST', `/certificate-types/${PERMIT.id}/versions`, { base_version: 3, validity_days: 731 });
    expect(selfProposed.body).toMatchObject({ pending_version: 4 });
    const self = await nationalReviewer.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 4 });
    expect(self.status, JSON.stringify(self.body)).toBe(403);
    const denied = await h.yihao.services.audit.query({ actor: nationalReviewer.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.map((e) => e.details)).toContainEqual({ operation: 'certificate_type.approve', reason: 'self_approval' });
    const approved = await national.api('POST', `/certificate-types/${PERMIT.id}/approve`, { version: 4 });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    expect(approved.body).toMatchObject({ version: 4, pending_version: null, validity_days: 731, names: { en: 'Zhejiang residence permit' } });

    // New pushes need the new required claim; the old schema no longer passes.
    const old = await push({ permit_number: 'R-0003' });
    expect(old.status).toBe(400);
    expect(old.body.fields).toHaveProperty('claims.address');
    const fresh = await push({ permit_number: 'R-0003', address: '文三路 1 号' });
    expect(fresh.status).toBe(201);
    expect(fresh.body.type_version).toBe(4);
    const before = await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?type=${PERMIT.id}`);
    const byId = new Map(before.body.items.map((c: { id: string; type_version: number; status: string }) => [c.id, c]));
    for (const id of pushed) expect(byId.get(id)).toMatchObject({ type_version: 1, status: 'valid' });

    const detail = (await policeAdmin.api('GET', `/certificate-types/${PERMIT.id}`)).body;
    expect(detail.versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([[1, 'earlier'], [2, 'withdrawn'], [3, 'withdrawn'], [4, 'current']]);
    expect(detail.versions[3]).toMatchObject({ approved_by: national.sub, created_by: nationalReviewer.sub });
    expect(Object.keys(detail.versions[0].claims)).toEqual(['permit_number', 'district']);
    // A claim added as required is not in every certificate: the metadata does not say it always is.
    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, { credential_metadata: { claims: { path: string[]; mandatory?: boolean }[] } }> };
    const claims = metadata.credential_configurations_supported.cert_residence_permit!.credential_metadata.claims;
    expect(claims.find((c) => c.path[0] === 'address')?.mandatory).toBe(false);
    expect(claims.find((c) => c.path[0] === 'permit_number')?.mandatory).toBe(true);
    expect(claims.map((c) => c.path[0])).not.toContain('nationality');
    const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate_type.updated', limit: 10 });
    expect(events.events).toHaveLength(2);
    expect(events.events[0]!.details).toMatchObject({ type: PERMIT.id, before: { version: 2 }, after: { version: 3 }, changed: ['names', 'claims', 'validity_days'], status: 'pending' });
    const approvals = await h.yihao.services.audit.query({ actor: national.sub, action: 'admin.certificate_type.approved', limit: 10 });
    expect(approvals.events[0]).toMatchObject({ departmentId: dept.police.id, details: { type: PERMIT.id, version: 4 } });
  });

  it.runIf(enabled)('a retired type takes no new pushes (409); its certificates stay valid; it cannot be changed or retired again', async () => {
    const retired = await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/retire`, { reason: '改为电子居住证' });
    expect(retired.status, JSON.stringify(retired.body)).toBe(200);
    expect(retired.body.retired_at).not.toBeNull();
    expect((await push({ permit_number: 'R-0004', address: '文三路 2 号' })).status).toBe(409);
    expect((await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/retire`, {})).status).toBe(409);
    expect((await policeAdmin.api('POST', `/certificate-types/${PERMIT.id}/versions`, { validity_days: 10 })).status).toBe(409);
    const list = await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?type=${PERMIT.id}&status=valid`);
    expect(list.body.total).toBe(4);
    // Still issued to wallets: the configuration stays in the metadata.
    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, unknown> };
    expect(metadata.credential_configurations_supported.cert_residence_permit).toBeDefined();
    const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate_type.retired', limit: 10 });
    expect(events.events[0]!.details).toMatchObject({ type: PERMIT.id, reason: '改为电子居住证' });
  });
});
