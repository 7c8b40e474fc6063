/**
 * Granting a role by ID number or mobile number is a lookup of a citizen by that number, so it is held
 * to the rule of docs/admin.md ("Citizen accounts"): only national super-admins and reviewers may look
 * an account up by ID number, and each such lookup is audited, found or not. Anyone else names the
 * operator by `sub`, which they learn from the operator. A dept-admin probing numbers through
 * `POST /role-assignments` learns nothing, not even whether an account exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { operator, type SignedInOperator } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('granting a role by ID number or mobile number ($name)', ({ name, enabled }) => {
  let h: Harness;
  let nation: Department, p1: Department;
  let superN: SignedInOperator, superP1: SignedInOperator, adminP1: SignedInOperator;
  const phone = '13912340001';
  let victim: { citizenId: string; sub: string };
  /** Every number these tests send: none may reach the log or an answer. */
  const numbers: string[] = [phone, '+8613912340001'];

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    superN = await operator(h, [{ role: 'super-admin', departmentId: nation.id }]);
    superP1 = await operator(h, [{ role: 'super-admin', departmentId: p1.id }]);
    adminP1 = await operator(h, [{ role: 'dept-admin', departmentId: p1.id }]);
    victim = await h.citizen({ name: '李受害', phone });
    numbers.push(victim.citizenId);
  });
  afterAll(async () => h?.close());

  const events = async (actor: string, action: string) => (await h.yihao.services.audit.query({ actor, action, limit: 100 })).events;
  const assignmentsOf = async (sub: string) => {
    const account = await h.yihao.accounts.findBySub(sub);
    return h.yihao.stores.db('role_assignments').where({ account_id: account!.id });
  };

  it.skipIf(!enabled)('refuses a dept-admin who names the account by ID number or mobile number, known or not, alike and before any lookup', async () => {
    const unknown = syntheticCitizenId();
    numbers.push(unknown);
    const answers = [];
    for (const identifier of [victim.citizenId, unknown, phone, '13912349999']) {
      const { status, body } = await adminP1.api('POST', '/role-assignments', { identifier, role: 'auditor', department_id: p1.id });
      answers.push({ status, body });
    }
    // A known and an unknown number answer the same: no oracle for whether an account exists.
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(answers[0]!.status).toBe(403);
    expect(answers[0]!.body.message).toMatch(/sub/);
    expect(await assignmentsOf(victim.sub)).toEqual([]);

    const denied = await events(adminP1.sub, 'admin.denied');
    expect(denied.map((e) => e.details)).toEqual(Array(4).fill({ operation: 'operator.assign_by_identifier', reason: 'role' }));
    // Nothing was looked up, so no lookup is recorded, and no event names the victim.
    expect(await events(adminP1.sub, 'admin.account.looked_up')).toEqual([]);
    expect(denied.every((e) => e.accountId === undefined)).toBe(true);
  });

  it.skipIf(!enabled)('refuses a provincial super-admin too: looking citizens up by number is a national power', async () => {
    const r = await superP1.api('POST', '/role-assignments', { identifier: victim.citizenId, role: 'auditor', department_id: p1.id });
    expect(r.status).toBe(403);
    expect(await assignmentsOf(victim.sub)).toEqual([]);
  });

  it.skipIf(!enabled)('lets a dept-admin grant auditor to an operator named by sub', async () => {
    const colleague = await h.citizen({ name: '王同事' });
    const r = await adminP1.api('POST', '/role-assignments', { sub: colleague.sub, role: 'auditor', department_id: p1.id });
    expect(r).toMatchObject({ status: 201, body: { sub: colleague.sub, role: 'auditor' } });
    expect(await events(adminP1.sub, 'admin.account.looked_up')).toEqual([]);
  });

  it.skipIf(!enabled)('audits a national super-admin’s lookup by number, found or not, with the kind of number and never the number', async () => {
    const unknown = syntheticCitizenId();
    numbers.push(unknown);
    const miss = await superN.api('POST', '/role-assignments', { identifier: unknown, role: 'auditor', department_id: p1.id });
    expect(miss.status).toBe(404);
    const phoneMiss = await superN.api('POST', '/role-assignments', { identifier: '139 1234 9999', role: 'auditor', department_id: p1.id });
    expect(phoneMiss.status).toBe(404);
    const hit = await superN.api('POST', '/role-assignments', { identifier: '+8613912340001', role: 'auditor', department_id: p1.id });
    expect(hit).toMatchObject({ status: 201, body: { sub: victim.sub, role: 'auditor', department_id: p1.id } });
    // Already held: the lookup happened, so it is recorded even though nothing is granted.
    const again = await superN.api('POST', '/role-assignments', { identifier: victim.citizenId, role: 'auditor', department_id: p1.id });
    expect(again.status).toBe(409);

    const lookups = (await events(superN.sub, 'admin.account.looked_up')).reverse();
    expect(lookups.map((e) => [e.accountId, e.departmentId, e.details])).toEqual([
      [undefined, p1.id, { operation: 'operator.assign', identifier: 'citizen_id', found: false }],
      [undefined, p1.id, { operation: 'operator.assign', identifier: 'phone', found: false }],
      [victim.sub, p1.id, { operation: 'operator.assign', identifier: 'phone', found: true }],
      [victim.sub, p1.id, { operation: 'operator.assign', identifier: 'citizen_id', found: true }],
    ]);
    for (const a of [miss, phoneMiss, hit, again]) for (const n of numbers) expect(JSON.stringify(a.body)).not.toContain(n);
  });

  it.skipIf(!enabled)('keeps every number out of the audit log', async () => {
    const rows = JSON.stringify(await h.yihao.stores.db('audit_events'));
    for (const n of [...numbers, '13912349999']) expect(rows).not.toContain(n);
  });
});
