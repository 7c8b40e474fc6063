/**
 * A NUL byte (or another control character) sent to the admin API, in a path, a query or a body,
 * is refused at the edge: PostgreSQL rejects 0x00 in text, so without that the query failed and the
 * API answered 500. An id that no Yihao id can look like answers like a missing one (404, audited
 * as `admin.denied` / `not_found`); a field answers 400 naming it. Both backends answer alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { operator, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('control characters in admin input ($name)', ({ name, enabled }) => {
  let h: Harness;
  let nation: Department, p1: Department;
  let superN: SignedInOperator, adminP1: SignedInOperator;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    superN = await operator(h, [{ role: 'super-admin', departmentId: nation.id }]);
    adminP1 = await operator(h, [{ role: 'dept-admin', departmentId: p1.id }]);
  });
  afterAll(async () => h?.close());

  const denials = async (sub: string) => (await h.yihao.services.audit.query({ actor: sub, action: 'admin.denied', limit: 200 })).events.map((e) => e.details);

  it.skipIf(!enabled)('answers an id holding a NUL or a control character like a missing one, audited', async () => {
    const paths: [string, string, string][] = [
      ['GET', '/clients/%00', 'client.read'],
      ['GET', '/clients/yh_%0Aabc', 'client.read'],
      ['POST', '/clients/%00/suspend', 'client.suspend'],
      ['GET', '/client-changes/%00', 'client_change.read'],
      ['POST', '/client-changes/cc%00/submit', 'client_change.submit'],
      ['GET', '/departments/%00', 'department.read'],
      ['GET', '/departments/%00/certificates', 'certificate.list'],
      ['DELETE', '/role-assignments/%00', 'operator.revoke'],
    ];
    for (const [method, path, operation] of paths) {
      const before = (await denials(superN.sub)).length;
      const body = method === 'POST' ? (path.endsWith('/suspend') ? { reason: 'x' } : {}) : undefined;
      const r = await superN.api(method, path, body);
      expect([path, r.status, r.body.error]).toEqual([path, 404, 'not_found']);
      const after = await denials(superN.sub);
      expect(after.slice(0, after.length - before)).toEqual([{ operation, reason: 'not_found' }]);
    }
    // The same for ids the services already checked, and for the ones the API hands to other parts.
    for (const [method, path, status] of [
      ['GET', '/accounts/%00', 404],
      ['GET', '/certificate-types/%00', 404],
      ['POST', '/certificates/%00/revoke', 404],
      ['POST', '/account-enable-requests/%00/approve', 404],
      // The revocation service names the shape of a credential id.
      ['POST', '/credentials/%00/revoke', 400],
    ] as const) {
      const r = await superN.api(method, path, method === 'POST' ? {} : undefined);
      expect([path, r.status]).toEqual([path, status]);
    }
  });

  it.skipIf(!enabled)('refuses a NUL or a control character in a list or audit query with 400 naming the field', async () => {
    for (const [path, field] of [
      ['/clients?q=%00', 'q'],
      ['/clients?q=a%0Db', 'q'],
      ['/departments?q=%00', 'q'],
      ['/operators?q=%00', 'q'],
      ['/operators?department_id=%00', 'department_id'],
      ['/client-changes?client_id=%00', 'client_id'],
      ['/audit/events?actor=%00', 'actor'],
      ['/audit/events?subject=%00', 'subject'],
      ['/audit/events?client_id=%01', 'client_id'],
    ] as const) {
      const r = await superN.api('GET', path);
      expect([path, r.status, r.body.error, Object.keys(r.body.fields ?? {})]).toEqual([path, 400, 'invalid_input', [field]]);
      expect(r.body.message).toMatch(/control character/);
    }
  });

  it.skipIf(!enabled)('refuses a NUL anywhere in a body with 400 naming the field, and stores nothing', async () => {
    const bodies: [string, string, unknown, string][] = [
      ['POST', '/clients', { department_id: p1.id, settings: { client_name: 'x\u0000y', redirect_uris: [REDIRECT] } }, 'settings.client_name'],
      ['POST', '/clients', { department_id: p1.id, settings: { client_name: 'ok', redirect_uris: [`${REDIRECT}?a=\u0000`] } }, 'settings.redirect_uris.0'],
      ['POST', '/clients', { department_id: '\u0000', settings: { client_name: 'ok', redirect_uris: [REDIRECT] } }, 'department_id'],
      ['POST', '/departments', { name: 'a\u0000b', level: 'city', parent_id: p1.id }, 'name'],
      ['POST', '/departments', { name: 'a\nb', level: 'city', parent_id: p1.id }, 'name'],
      ['POST', '/role-assignments', { sub: '\u0000', role: 'auditor', department_id: p1.id }, 'sub'],
    ];
    for (const [method, path, body, field] of bodies) {
      const r = await adminP1.api(method, path, body);
      expect([path, field, r.status, r.body.error]).toEqual([path, field, 400, 'invalid_input']);
      expect(Object.keys(r.body.fields)).toContain(field);
    }
    expect((await adminP1.api('GET', '/clients')).body.total).toBe(0);

    const made = await adminP1.api('POST', '/clients', { department_id: p1.id, settings: { client_name: '社保', redirect_uris: [REDIRECT] } });
    expect(made.status).toBe(201);
    const edit = await adminP1.api('PUT', `/client-changes/${made.body.change.id}`, { client_name: '社\u0000保', redirect_uris: [REDIRECT] });
    expect([edit.status, Object.keys(edit.body.fields)]).toEqual([400, ['client_name']]);
    const submitted = await adminP1.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect(submitted.status).toBe(200);
  });
});
