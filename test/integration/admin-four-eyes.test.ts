/**
 * Four-eyes review over HTTP, table-driven: every combination of who creates, edits, submits and
 * approves a client change (super-admin, dept-admin, reviewer, one account holding dept-admin and
 * reviewer, operators of another department). The approver must differ from everyone who took part
 * since the last approval; a change edited after submission needs a fresh submission and review;
 * an approval names the revision the reviewer saw and lands only on it; settings that skip consent or release
 * the full ID number need a super-admin of a national department. Granting a role that authors,
 * reviews or attests is a super-admin's act, never a dept-admin's.
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

const settings = (extra: Record<string, unknown> = {}) => ({ client_name: '四眼审核', redirect_uris: [REDIRECT], scope: 'openid profile', ...extra });

/** The people in the table; every change is made in province P1. */
type Persona = 'superN' | 'superP1' | 'adminP1' | 'reviewerP1' | 'adminReviewerP1' | 'adminP2' | 'reviewerP2';
const WRITERS: readonly Persona[] = ['superN', 'adminP1', 'adminReviewerP1', 'reviewerP1', 'adminP2'];
const AUTHORS: readonly Persona[] = ['superN', 'adminP1', 'adminReviewerP1'];
const APPROVERS: readonly Persona[] = ['superN', 'superP1', 'reviewerP1', 'adminReviewerP1', 'adminP1', 'reviewerP2'];

/** What a write by `p` on a P1 change answers: reviewers lack client.write (403); P2's admin sees nothing (404). */
const writeStatus = (p: Persona, ok: number) => (p === 'reviewerP1' ? 403 : p === 'adminP2' ? 404 : ok);

/** What an approval answers, in the order the service checks: role, scope, participation, state. */
function approveStatus(p: Persona, participants: ReadonlySet<Persona>, submitted: boolean): number {
  if (p === 'adminP1') return 403;
  if (p === 'reviewerP2') return 404;
  if (participants.has(p)) return 403;
  return submitted ? 200 : 409;
}

describe.each(backends)('four-eyes review ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept: Record<'nation' | 'p1' | 'p2', Department> = {} as never;
  const ops = {} as Record<Persona | 'superN2', SignedInOperator>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: dept.nation.id });
    dept.p2 = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: dept.nation.id });
    const at = (role: Parameters<typeof operator>[1][number]['role'], d: Department) => ({ role, departmentId: d.id });
    const roles: Record<Persona | 'superN2', Parameters<typeof operator>[1]> = {
      superN: [at('super-admin', dept.nation)],
      superN2: [at('super-admin', dept.nation)],
      superP1: [at('super-admin', dept.p1)],
      adminP1: [at('dept-admin', dept.p1)],
      reviewerP1: [at('reviewer', dept.p1)],
      adminReviewerP1: [at('dept-admin', dept.p1), at('reviewer', dept.p1)],
      adminP2: [at('dept-admin', dept.p2)],
      reviewerP2: [at('reviewer', dept.p2)],
    };
    for (const [who, held] of Object.entries(roles)) ops[who as Persona] = await operator(h, held, who);
  });
  afterAll(async () => h?.close());

  const draft = async (author: Persona, extra: Record<string, unknown> = {}) => {
    const made = await ops[author].api('POST', '/clients', { department_id: dept.p1.id, settings: settings(extra) });
    expect(made.status).toBe(201);
    return { changeId: made.body.change.id as string, clientId: made.body.client.client_id as string };
  };
  /** Submits a change as `who`; the answer, and the revision a reviewer then sees. */
  const submit = async (who: Persona | 'superN2', changeId: string) => {
    const submitted = await ops[who].api('POST', `/client-changes/${changeId}/submit`);
    return { status: submitted.status, revision: submitted.body?.revision as number };
  };

  async function denialsOf(who: Persona | 'superN2') {
    const page = await h.yihao.services.audit.query({ actor: ops[who].sub, action: 'admin.denied', limit: 500 });
    return page.events.map((e) => e.details);
  }

  describe.each(AUTHORS)('author %s', (author) => {
    it.skipIf(!enabled)('refuses every approver who created, edited or submitted the change; lets anyone else with review rights approve', async () => {
      const mismatches: string[] = [];
      for (const editor of WRITERS) {
        for (const submitter of WRITERS) {
          for (const approver of APPROVERS) {
            const { changeId } = await draft(author);
            const participants = new Set<Persona>([author]);
            // The approver names the latest revision, as a reviewer reading the change would see it.
            let revision = 1;
            const edited = await ops[editor].api('PUT', `/client-changes/${changeId}`, settings({ client_name: `改 ${editor}` }));
            if (edited.status === 200) {
              participants.add(editor);
              revision = edited.body.revision as number;
            }
            const submitted = await ops[submitter].api('POST', `/client-changes/${changeId}/submit`);
            if (submitted.status === 200) {
              participants.add(submitter);
              revision = submitted.body.revision as number;
            }
            const approved = await ops[approver].api('POST', `/client-changes/${changeId}/approve`, { revision });
            const want = [writeStatus(editor, 200), writeStatus(submitter, 200), approveStatus(approver, participants, submitted.status === 200)];
            const got = [edited.status, submitted.status, approved.status];
            if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push(`${author} → edit ${editor} → submit ${submitter} → approve ${approver}: want ${want.join('/')} got ${got.join('/')}`);
          }
        }
      }
      expect(mismatches).toEqual([]);
    }, 300_000);
  });

  it.skipIf(!enabled)('audits a participant’s approval or rejection as self_approval, and refuses it even to a national super-admin', async () => {
    const { changeId, clientId } = await draft('adminP1');
    expect((await ops.superN.api('PUT', `/client-changes/${changeId}`, settings({ client_name: '超管改过' }))).status).toBe(200);
    const { status, revision } = await submit('adminP1', changeId);
    expect(status).toBe(200);
    const self = await ops.superN.api('POST', `/client-changes/${changeId}/approve`, { revision });
    expect(self).toMatchObject({ status: 403, body: { error: 'forbidden', message: 'a change or request must be decided by someone who did not draft, edit, submit or ask for it' } });
    expect((await ops.superN.api('POST', `/client-changes/${changeId}/reject`, { revision })).status).toBe(403);
    expect(await denialsOf('superN')).toEqual(expect.arrayContaining([
      { operation: 'client_change.approve', reason: 'self_approval' },
      { operation: 'client_change.reject', reason: 'self_approval' },
    ]));
    expect((await ops.superN.api('GET', `/clients/${clientId}`)).body.client.status).toBe('draft');
    expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision })).status).toBe(200);
  });

  it.skipIf(!enabled)('sends a change edited after submission back to draft: it needs a fresh submission and review, and its editor cannot approve it', async () => {
    const { changeId } = await draft('adminP1');
    expect((await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`)).status).toBe(200);
    const edited = await ops.adminReviewerP1.api('PUT', `/client-changes/${changeId}`, settings({ client_name: '提交后又改', scope: 'openid' }));
    expect(edited).toMatchObject({ status: 200, body: { status: 'draft', submitted_at: null } });
    expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision: edited.body.revision })).status).toBe(409);
    const { status, revision } = await submit('adminReviewerP1', changeId);
    expect(status).toBe(200);
    expect((await ops.adminReviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision })).status).toBe(403);
    const approved = await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision });
    expect(approved).toMatchObject({ status: 200, body: { client: { settings: { client_name: '提交后又改', scope: 'openid' } } } });
    const events = (await h.yihao.services.audit.query({ action: 'admin.client_change.edited', limit: 100 })).events.filter((e) => (e.details as { change_id?: string }).change_id === changeId);
    expect(events[0]!.details).toMatchObject({ status: { before: 'submitted', after: 'draft' } });
  });

  it.skipIf(!enabled)('lists who took part in a change, and approves only the revision the reviewer saw', async () => {
    const { changeId } = await draft('adminP1');
    await ops.adminReviewerP1.api('PUT', `/client-changes/${changeId}`, settings({ client_name: '第二版' }));
    const submitted = await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`);
    expect(submitted.body).toMatchObject({ participants: [ops.adminP1.sub, ops.adminReviewerP1.sub], revision: 3 });
    const seen = (await ops.reviewerP1.api('GET', `/client-changes/${changeId}`)).body;
    // Meanwhile the author swaps the content and resubmits.
    await ops.adminP1.api('PUT', `/client-changes/${changeId}`, settings({ client_name: '偷换的版本' }));
    await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`);
    const stale = await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision: seen.revision });
    expect(stale).toMatchObject({ status: 409, body: { error: 'conflict' } });
    const fresh = (await ops.reviewerP1.api('GET', `/client-changes/${changeId}`)).body;
    expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision: fresh.revision })).status).toBe(200);
  });

  it.skipIf(!enabled)('refuses an approval or rejection that names no revision, so content swapped in after the reviewer read the change is never approved unseen', async () => {
    const evil = 'http://127.0.0.1:9/evil';
    const { changeId, clientId } = await draft('adminP1');
    expect((await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`)).status).toBe(200);
    const seen = (await ops.reviewerP1.api('GET', `/client-changes/${changeId}`)).body;
    expect(seen.proposed.redirect_uris).toEqual([REDIRECT]);
    // While the reviewer reads, the author adds a redirect URI of their own and resubmits.
    const swapped = await ops.adminP1.api('PUT', `/client-changes/${changeId}`, settings({ redirect_uris: [REDIRECT, evil] }));
    expect(swapped.body.revision).toBeGreaterThan(seen.revision);
    expect((await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`)).status).toBe(200);

    // An API client that names no revision would approve whatever is submitted now: refused.
    for (const verb of ['approve', 'reject']) {
      const bare = await ops.reviewerP1.api('POST', `/client-changes/${changeId}/${verb}`, {});
      expect({ verb, status: bare.status, body: bare.body }).toEqual({
        verb,
        status: 400,
        body: { error: 'invalid_input', message: 'revision is required: the revision of the change you reviewed', fields: { revision: 'is required: the revision of the change you reviewed' } },
      });
      expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/${verb}`, { note: '同意' })).status).toBe(400);
      // Naming the revision that was read is refused too: it is not what is submitted now.
      const stale = await ops.reviewerP1.api('POST', `/client-changes/${changeId}/${verb}`, { revision: seen.revision });
      expect({ verb, status: stale.status, error: stale.body.error }).toEqual({ verb, status: 409, error: 'conflict' });
    }
    expect((await ops.reviewerP1.api('GET', `/client-changes/${changeId}`)).body).toMatchObject({ status: 'submitted', reviewer: null });
    expect((await ops.reviewerP1.api('GET', `/clients/${clientId}`)).body.client).toMatchObject({ status: 'draft', settings: null });
    expect(await new h.yihao.services.Adapter('Client').find(clientId)).toBeUndefined();
  });

  describe('dangerous settings', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['first_party', { first_party: true }],
      ['citizen_id_release full', { citizen_id_release: 'full' }],
    ];
    it.skipIf(!enabled).each(cases)('lets only a national super-admin approve %s, and says so in the change', async (_label, extra) => {
      const { changeId } = await draft('adminP1', extra);
      const submitted = await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`);
      expect(submitted.body.needs_national_review).toBe(true);
      const revision = submitted.body.revision as number;
      for (const who of ['reviewerP1', 'adminReviewerP1', 'superP1'] as const) {
        const refused = await ops[who].api('POST', `/client-changes/${changeId}/approve`, { revision });
        expect({ who, status: refused.status, message: refused.body.message }).toEqual({ who, status: 403, message: 'this change needs a super-admin of a national department to approve it' });
        expect(await denialsOf(who)).toEqual(expect.arrayContaining([{ operation: 'client_change.approve', reason: 'national_review' }]));
      }
      expect((await ops.superN.api('POST', `/client-changes/${changeId}/approve`, { revision })).status).toBe(200);
    });

    it.skipIf(!enabled)("refuses a super-admin of another national department, however they also review here", async () => {
      // A second root (a sandbox platform): its super-admin, made a reviewer in this tree, is national
      // somewhere else, not over this client's department.
      const sandbox = await h.yihao.admin.services.bootstrap.createDepartment({ name: '国家政务服务沙箱', level: 'national' });
      const elsewhere = await operator(h, [{ role: 'super-admin', departmentId: sandbox.id }, { role: 'reviewer', departmentId: dept.p1.id }], '沙箱管理员');
      const { changeId } = await draft('adminP1', { first_party: true });
      const { revision } = await submit('adminP1', changeId);
      const refused = await elsewhere.api('POST', `/client-changes/${changeId}/approve`, { revision });
      expect({ status: refused.status, message: refused.body.message }).toEqual({ status: 403, message: 'this change needs a super-admin of a national department to approve it' });
      expect((await ops.superN.api('POST', `/client-changes/${changeId}/approve`, { revision })).status).toBe(200);
    });

    it.skipIf(!enabled)('keeps a first-party client under national review for every later change', async () => {
      const { changeId, clientId } = await draft('adminP1', { first_party: true });
      const first = await submit('adminP1', changeId);
      expect((await ops.superN.api('POST', `/client-changes/${changeId}/approve`, { revision: first.revision })).status).toBe(200);
      const next = await ops.adminP1.api('POST', `/clients/${clientId}/changes`, settings({ first_party: true, redirect_uris: [REDIRECT, 'http://127.0.0.1:9/evil'] }));
      const { revision } = await submit('adminP1', next.body.id as string);
      expect((await ops.reviewerP1.api('POST', `/client-changes/${next.body.id}/approve`, { revision })).status).toBe(403);
      expect((await ops.superN2.api('POST', `/client-changes/${next.body.id}/approve`, { revision })).status).toBe(200);
    });

    it.skipIf(!enabled)('brings a change that went stale (the secret was rotated meanwhile) up to date when it is edited, and under review again; never approved stale', async () => {
      const { changeId, clientId } = await draft('adminP1');
      const first = await submit('adminP1', changeId);
      expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision: first.revision })).status).toBe(200);
      const next = await ops.adminP1.api('POST', `/clients/${clientId}/changes`, settings({ client_name: '四眼审核 v2' }));
      const stale = await submit('adminP1', next.body.id as string);
      // Another operator rotates the secret: the open change now names an older version of the client.
      expect((await ops.superN.api('POST', `/clients/${clientId}/secret`, {})).status).toBe(200);
      expect((await ops.reviewerP1.api('POST', `/client-changes/${next.body.id}/approve`, { revision: stale.revision })).status).toBe(409);
      // Only one change is open at a time, so it is that change that must come up to date: edited, it does.
      expect((await ops.adminP1.api('POST', `/clients/${clientId}/changes`, settings({ client_name: '四眼审核 v3' }))).status).toBe(409);
      expect((await ops.adminP1.api('PUT', `/client-changes/${next.body.id}`, settings({ client_name: '四眼审核 v2' }))).status).toBe(200);
      const again = await submit('adminP1', next.body.id as string);
      expect((await ops.reviewerP1.api('POST', `/client-changes/${next.body.id}/approve`, { revision: again.revision })).status).toBe(200);
      expect((await h.yihao.admin.services.stores.clients.find(clientId))?.settings?.client_name).toBe('四眼审核 v2');
    });

    it.skipIf(!enabled)('lets a department reviewer approve ordinary settings', async () => {
      const { changeId } = await draft('adminP1', { citizen_id_release: 'pseudonym' });
      const submitted = await ops.adminP1.api('POST', `/client-changes/${changeId}/submit`);
      expect(submitted.body.needs_national_review).toBe(false);
      expect((await ops.reviewerP1.api('POST', `/client-changes/${changeId}/approve`, { revision: submitted.body.revision })).status).toBe(200);
    });
  });

  describe('role grants', () => {
    it.skipIf(!enabled).each(['dept-admin', 'reviewer', 'counter-staff', 'super-admin'])('refuses a dept-admin granting %s to anyone, and audits it', async (role) => {
      const someone = await h.citizen();
      const tried = await ops.adminP1.api('POST', '/role-assignments', { sub: someone.sub, role, department_id: dept.p1.id });
      expect(tried).toMatchObject({ status: 403, body: { error: 'forbidden', message: 'only a super-admin over the department may grant dept-admin, reviewer, counter-staff or super-admin' } });
      expect(await denialsOf('adminP1')).toEqual(expect.arrayContaining([{ operation: 'operator.assign', reason: 'elevated_role' }]));
      // A dept-admin who also reviews cannot either.
      expect((await ops.adminReviewerP1.api('POST', '/role-assignments', { sub: someone.sub, role, department_id: dept.p1.id })).status).toBe(403);
    });

    it.skipIf(!enabled)('refuses a dept-admin who also reviews making a second account an author, so nobody approves their own change through it', async () => {
      // The attack: X (dept-admin + reviewer in P1) makes X2, a second account X controls, a
      // dept-admin; X2 drafts and submits a change; X, not a participant, would approve it.
      const second = await h.citizen({ name: '小号' });
      const tried = await ops.adminReviewerP1.api('POST', '/role-assignments', { sub: second.sub, role: 'dept-admin', department_id: dept.p1.id });
      expect(tried).toMatchObject({ status: 403, body: { error: 'forbidden', message: 'only a super-admin over the department may grant dept-admin, reviewer, counter-staff or super-admin' } });
      expect(await denialsOf('adminReviewerP1')).toEqual(expect.arrayContaining([{ operation: 'operator.assign', reason: 'elevated_role' }]));
      const held = await ops.superP1.api('GET', `/operators?department_id=${dept.p1.id}&q=${second.sub}`);
      expect(held.body.items).toEqual([]);
    });

    it.skipIf(!enabled)('refuses the author grant before any review role is held, so a dept-admin made a reviewer later has no second account to approve', async () => {
      const x = await operator(h, [{ role: 'dept-admin', departmentId: dept.p1.id }], '先授权后审核');
      const second = await h.citizen({ name: '小号' });
      const tried = await x.api('POST', '/role-assignments', { sub: second.sub, role: 'dept-admin', department_id: dept.p1.id });
      expect(tried.status).toBe(403);
      expect((await h.yihao.services.audit.query({ actor: x.sub, action: 'admin.denied', limit: 10 })).events.map((e) => e.details)).toEqual([{ operation: 'operator.assign', reason: 'elevated_role' }]);
      // The review role comes later, from a super-admin: X still authors nothing through anyone else.
      expect((await ops.superP1.api('POST', '/role-assignments', { sub: x.sub, role: 'reviewer', department_id: dept.p1.id })).status).toBe(201);
      const held = await ops.superP1.api('GET', `/operators?department_id=${dept.p1.id}&q=${second.sub}`);
      expect(held.body.items).toEqual([]);
    });

    it.skipIf(!enabled)('lets a dept-admin grant auditor, and a super-admin grant dept-admin, reviewer and counter-staff (never to themselves)', async () => {
      const someone = await h.citizen();
      expect((await ops.adminP1.api('POST', '/role-assignments', { sub: someone.sub, role: 'auditor', department_id: dept.p1.id })).status).toBe(201);
      expect((await ops.superP1.api('POST', '/role-assignments', { sub: someone.sub, role: 'dept-admin', department_id: dept.p1.id })).status).toBe(201);
      const reviewer = await ops.superP1.api('POST', '/role-assignments', { sub: someone.sub, role: 'reviewer', department_id: dept.p1.id });
      expect(reviewer.status).toBe(201);
      expect((await ops.superP1.api('POST', '/role-assignments', { sub: someone.sub, role: 'counter-staff', department_id: dept.p1.id })).status).toBe(201);
      expect((await ops.superP1.api('POST', '/role-assignments', { sub: ops.superP1.sub, role: 'reviewer', department_id: dept.p1.id })).status).toBe(403);
      // Taking a review role away is always open to the department's admins.
      expect((await ops.adminP1.api('DELETE', `/role-assignments/${reviewer.body.id}`)).status).toBe(204);
    });
  });
});
