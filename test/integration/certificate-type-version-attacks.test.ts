/**
 * Every later version of a certificate type in force waits for a second national super-admin over
 * its department, who wrote none of the versions under review and approves exactly the version they
 * reviewed (docs/credentials.md). The attacker's view, from a review: supersede chains, races with
 * the CLI and with other proposals, withdrawn versions (one changed the issuer metadata's
 * `mandatory` before its fix), what readers show while a version waits, bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { callApi, operator, type SignedInOperator } from '../support/admin-operators.js';
import { departmentSystemToken } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const base = (id: string) => ({
  id,
  names: { 'zh-CN': '居住证', en: 'Residence permit' },
  claims: { permit_number: { type: 'string', required: true, max_length: 12 }, district: { type: 'string' } },
  validity_days: 365,
});

type Metadata = { credential_configurations_supported: Record<string, { credential_metadata: { display: { name: string }[]; claims: { path: string[]; mandatory?: boolean }[] } }> };

describe.each(backends)('certificate type versions under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept = {} as Record<'nation' | 'police', Department>;
  let policeAdmin: SignedInOperator;
  let s1: SignedInOperator;
  let s2: SignedInOperator;
  let s3: SignedInOperator;
  let systemToken: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  const define = async (id: string) => {
    const made = await s1.api('POST', '/certificate-types', { ...base(id), department_id: dept.police.id });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const ok = await s2.api('POST', `/certificate-types/${id}/approve`, { version: 1 });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  };
  const metadata = async () => (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as Metadata;
  const typeDoc = async (id: string) => (await fetch(`${h.issuer}/credentials/types/${id}`)).json() as Promise<{ display: { locale: string; name: string }[]; claims: { path: string[] }[] }>;
  const push = (type: string, claims: Record<string, unknown>) => callApi(h, systemToken, 'POST', '/certificates', { type, department_id: dept.police.id, citizen_id: citizen.citizenId, claims });

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.police = await boot.createDepartment({ name: '浙江省公安厅', level: 'province', parentId: dept.nation.id });
    [policeAdmin, s1, s2, s3] = await Promise.all([
      operator(h, [{ role: 'dept-admin', departmentId: dept.police.id }], '公安管理员'),
      operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家管理员一'),
      operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家管理员二'),
      operator(h, [{ role: 'super-admin', departmentId: dept.nation.id }], '国家管理员三'),
    ]);
    systemToken = await departmentSystemToken(h, dept.police.id, '公安业务系统');
    citizen = await h.citizen({ name: '孙八' });
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('supersede chain: neither the author of a withdrawn version nor of the pending one approves; a third does', async () => {
    await define('chain_permit');
    const evil = await policeAdmin.api('POST', '/certificate-types/chain_permit/versions', { names: { 'zh-CN': '居民身份证', en: 'Resident identity card' } });
    expect(evil.body).toMatchObject({ pending_version: 2 });
    // s2 merely touches validity on top of the police admin's rename: that rename is in v3.
    const touched = await s2.api('POST', '/certificate-types/chain_permit/versions', { validity_days: 366 });
    expect(touched.body).toMatchObject({ pending_version: 3 });
    expect((await s2.api('POST', '/certificate-types/chain_permit/approve', { version: 3 })).status).toBe(403);
    expect((await policeAdmin.api('POST', '/certificate-types/chain_permit/approve', { version: 3 })).status).toBe(403);
    expect((await s3.api('POST', '/certificate-types/chain_permit/approve', { version: 2 })).status).toBe(409);
    // Nothing of it is shown yet.
    expect((await typeDoc('chain_permit')).display).toContainEqual({ locale: 'en', name: 'Residence permit' });
    const bundle = await h.yihao.credentials.bundle();
    expect(JSON.stringify(bundle)).not.toContain('Resident identity card');
    expect((await s3.api('POST', '/certificate-types/chain_permit/approve', { version: 3 })).status).toBe(200);
  });

  it.runIf(enabled)('the CLI drops a pending version: the withdrawn one cannot be approved afterwards, nor shown', async () => {
    await define('cli_permit');
    expect((await policeAdmin.api('POST', '/certificate-types/cli_permit/versions', { names: { 'zh-CN': '居民身份证', en: 'Resident identity card' } })).body).toMatchObject({ pending_version: 2 });
    const cli = await h.yihao.admin.services.certificates.system.updateType('cli_permit', { validity_days: 400 });
    expect(cli).toMatchObject({ version: 3, pendingVersion: undefined, names: base('x').names });
    expect((await s3.api('POST', '/certificate-types/cli_permit/approve', { version: 2 })).status).toBe(409);
    expect((await s3.api('POST', '/certificate-types/cli_permit/approve', { version: 3 })).status).toBe(409);
    // A proposal after the CLI builds on the version in force, not on the dropped one.
    const next = await policeAdmin.api('POST', '/certificate-types/cli_permit/versions', { validity_days: 401 });
    expect(next.body).toMatchObject({ pending_version: 4 });
    const detail = (await s3.api('GET', '/certificate-types/cli_permit')).body;
    expect(detail.versions[3].names.en).toBe('Residence permit');
  });

  it.runIf(enabled)('races: approve, CLI update and further proposals at once leave in force only a version approved by a non-author', async () => {
    for (let round = 0; round < 4; round++) {
      const id = `race_permit_${round}`;
      await define(id);
      await policeAdmin.api('POST', `/certificate-types/${id}/versions`, { names: { 'zh-CN': '居民身份证', en: `Evil ${round}` } });
      const results = await Promise.allSettled([
        s3.api('POST', `/certificate-types/${id}/approve`, { version: 2 }),
        policeAdmin.api('POST', `/certificate-types/${id}/versions`, { names: { 'zh-CN': '居民身份证', en: `Worse ${round}` } }),
        s2.api('POST', `/certificate-types/${id}/versions`, { validity_days: 999 }),
        round % 2 ? h.yihao.admin.services.certificates.system.updateType(id, { validity_days: 500 }) : Promise.resolve(undefined),
      ]);
      for (const r of results) if (r.status === 'fulfilled' && r.value && 'status' in r.value) expect(r.value.status, JSON.stringify(r.value.body)).toBeLessThan(500);
      const detail = (await s3.api('GET', `/certificate-types/${id}`)).body;
      const inForce = detail.versions.find((v: { version: number }) => v.version === detail.type.version);
      expect(detail.type.names).toEqual(inForce.names);
      if (inForce.approved_by !== 'cli') {
        expect(inForce.approved_by).not.toBe(inForce.created_by);
        // The approver wrote none of the versions since the one before it in force.
        const earlier = detail.versions.filter((v: { status: string }) => v.status === 'earlier').map((v: { version: number }) => v.version);
        const from = Math.max(...earlier);
        for (const v of detail.versions.filter((x: { version: number }) => x.version > from && x.version <= inForce.version)) expect(v.created_by).not.toBe(inForce.approved_by);
      }
      const pendings = detail.versions.filter((v: { status: string }) => v.status === 'pending');
      expect(pendings.length).toBeLessThanOrEqual(1);
      if (pendings.length) expect(pendings[0].version).toBe(detail.type.pending_version);
    }
  });

  it.runIf(enabled)('a pending version is invisible to pushes, the type document, the metadata and the bundle', async () => {
    await define('shown_permit');
    await policeAdmin.api('POST', '/certificate-types/shown_permit/versions', { names: { 'zh-CN': '居民身份证', en: 'Resident identity card' }, claims: { ...base('x').claims, nationality: { type: 'string', required: true } } });
    expect((await push('shown_permit', { permit_number: 'P-1' })).status).toBe(201);
    expect((await push('shown_permit', { permit_number: 'P-2', nationality: 'CN' })).status).toBe(400);
    const m = (await metadata()).credential_configurations_supported.cert_shown_permit!.credential_metadata;
    expect(m.display.map((d) => d.name)).toEqual(['居住证', 'Residence permit']);
    expect(m.claims.map((c) => c.path[0])).not.toContain('nationality');
    expect(JSON.stringify((await h.yihao.credentials.bundle()))).not.toContain('nationality');
  });

  it.runIf(enabled)('a withdrawn version, never in force, does not change the issuer metadata (mandatory)', async () => {
    await define('mandatory_permit');
    const loosened = await policeAdmin.api('POST', '/certificate-types/mandatory_permit/versions', { claims: { ...base('x').claims, permit_number: { type: 'string', required: false, max_length: 12 } } });
    expect(loosened.body).toMatchObject({ pending_version: 2 });
    const restored = await policeAdmin.api('POST', '/certificate-types/mandatory_permit/versions', { claims: base('x').claims, validity_days: 400 });
    expect(restored.body).toMatchObject({ pending_version: 3 });
    expect((await s3.api('POST', '/certificate-types/mandatory_permit/approve', { version: 3 })).status).toBe(200);
    // Every version ever in force (1 and 3) required permit_number; version 2 never was in force
    // and no certificate was pushed under it, yet the metadata wallets read changes because of it.
    const m = (await metadata()).credential_configurations_supported.cert_mandatory_permit!.credential_metadata;
    expect(m.claims.find((c) => c.path[0] === 'permit_number')?.mandatory).toBe(true);
  });

  it.runIf(enabled)('bad input to the endpoints answers 4xx, never 500', async () => {
    await define('input_permit');
    const tries: [SignedInOperator, string, unknown][] = [
      [s3, '/certificate-types/input_permit/approve', { version: '2' }],
      [s3, '/certificate-types/input_permit/approve', { version: 2 ** 53 }],
      [s3, '/certificate-types/input_permit/approve', { version: 2 ** 31 }],
      [s3, '/certificate-types/input_permit/approve', { version: -1 }],
      [s3, '/certificate-types/input_permit/approve', { version: 1.5 }],
      [s3, '/certificate-types/input_permit/approve', {}],
      [s3, '/certificate-types/input_permit/approve', null],
      [s3, '/certificate-types/input_permit/approve', { version: 1 }],
      [s3, '/certificate-types/no_such_type/approve', { version: 1 }],
      [s3, '/certificate-types/INPUT/approve', { version: 1 }],
      [s3, '/certificate-types/input_permit%00/approve', { version: 1 }],
      [policeAdmin, '/certificate-types/input_permit/versions', { base_version: 2 ** 31, validity_days: 3 }],
      [policeAdmin, '/certificate-types/input_permit/versions', { base_version: 2 ** 53 + 2, validity_days: 3 }],
      [policeAdmin, '/certificate-types/input_permit/versions', { base_version: 0, validity_days: 3 }],
      [policeAdmin, '/certificate-types/input_permit/versions', { base_version: 1 }],
    ];
    for (const [who, path, body] of tries) {
      const res = await who.api('POST', path, body);
      expect(res.status, `${path} ${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${path} ${JSON.stringify(body)} -> ${JSON.stringify(res.body)}`).toBeLessThan(500);
    }
    // No pending version: approving anything is a conflict.
    expect((await s3.api('POST', '/certificate-types/input_permit/approve', { version: 2 })).status).toBe(409);
    // Retired with a pending version: neither approvable nor left pending.
    await policeAdmin.api('POST', '/certificate-types/input_permit/versions', { validity_days: 9 });
    expect((await policeAdmin.api('POST', '/certificate-types/input_permit/retire', {})).status).toBe(200);
    expect((await s3.api('POST', '/certificate-types/input_permit/approve', { version: 2 })).status).toBe(409);
    expect((await s3.api('GET', '/certificate-types/input_permit')).body.type.pending_version).toBeNull();
  });

  it.runIf(enabled)('a pending type: a department admin change is reviewed too; its author cannot approve; nothing is shown before', async () => {
    const made = await s1.api('POST', '/certificate-types', { ...base('fresh_permit'), department_id: dept.police.id });
    expect(made.status).toBe(201);
    const changed = await policeAdmin.api('POST', '/certificate-types/fresh_permit/versions', { names: { 'zh-CN': '居民身份证', en: 'Resident identity card' } });
    expect(changed.body).toMatchObject({ version: 2, pending_version: null, status: 'pending' });
    expect((await fetch(`${h.issuer}/credentials/types/fresh_permit`)).status).toBe(404);
    expect((await s1.api('POST', '/certificate-types/fresh_permit/approve', { version: 2 })).status).toBe(403);
    expect((await s2.api('POST', '/certificate-types/fresh_permit/approve', { version: 1 })).status).toBe(409);
    expect((await s2.api('POST', '/certificate-types/fresh_permit/approve', { version: 2 })).status).toBe(200);
    const detail = (await s2.api('GET', '/certificate-types/fresh_permit')).body;
    expect(detail.versions.map((v: { version: number; status: string }) => [v.version, v.status])).toEqual([[1, 'withdrawn'], [2, 'current']]);
  });
});
