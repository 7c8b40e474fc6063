/**
 * The admin API end to end over HTTP: operators sign in as the admin console does (loa:2, admin
 * resource), and every endpoint checks role and department. Covers each role allowed and denied,
 * cross-department refusals that leak nothing, self-approval refused, denials audited, the client
 * lifecycle from draft to live (then openid-client signs a citizen in through the new client),
 * suspension, and a secret rotation with a grace period.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Department } from '../../src/admin/index.js';
import { ADMIN_CONSOLE_CLIENT_ID, adminResource, apiRoutes } from '../../src/admin/index.js';
import { callApi, consoleToken, operator, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { storedTokenId } from '../support/token-ids.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const settings = (extra: Record<string, unknown> = {}) => ({
  client_name: '社保查询',
  redirect_uris: [REDIRECT],
  scope: 'openid profile',
  ...extra,
});

describe.each(backends)('admin API ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept: Record<'nation' | 'p1' | 'c1' | 'p2', Department> = {} as never;
  const ops: Record<'superN' | 'superP1' | 'adminP1' | 'reviewerP1' | 'auditorP1' | 'counterP1' | 'adminP2' | 'reviewerP2' | 'auditorN' | 'adminReviewerP1', SignedInOperator> = {} as never;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, admin: { secretGraceSeconds: 600, maxSecretGraceSeconds: 3600 } }) });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: dept.nation.id });
    dept.c1 = await boot.createDepartment({ name: '杭州市数据资源局', level: 'city', parentId: dept.p1.id });
    dept.p2 = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: dept.nation.id });
    const at = (role: Parameters<typeof operator>[1][number]['role'], d: Department) => ({ role, departmentId: d.id });
    ops.superN = await operator(h, [at('super-admin', dept.nation)], '总管理员');
    ops.superP1 = await operator(h, [at('super-admin', dept.p1)]);
    ops.adminP1 = await operator(h, [at('dept-admin', dept.p1)]);
    ops.reviewerP1 = await operator(h, [at('reviewer', dept.p1)]);
    ops.auditorP1 = await operator(h, [at('auditor', dept.p1)]);
    ops.counterP1 = await operator(h, [at('counter-staff', dept.p1)]);
    ops.adminP2 = await operator(h, [at('dept-admin', dept.p2)]);
    ops.reviewerP2 = await operator(h, [at('reviewer', dept.p2)]);
    ops.auditorN = await operator(h, [at('auditor', dept.nation)]);
    ops.adminReviewerP1 = await operator(h, [at('dept-admin', dept.p1), at('reviewer', dept.p1)]);
  });
  afterAll(async () => h?.close());

  /** A submitted change for a new client in `d`, made by `author`, with the revision a reviewer sees. */
  async function submittedClient(author: SignedInOperator, d: Department, extra: Record<string, unknown> = {}) {
    const made = await author.api('POST', '/clients', { department_id: d.id, settings: settings(extra) });
    expect(made.status).toBe(201);
    const submitted = await author.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect(submitted.status).toBe(200);
    return { clientId: made.body.client.client_id as string, changeId: made.body.change.id as string, revision: submitted.body.revision as number, secret: made.body.client_secret as string | undefined };
  }

  async function denials(sub: string) {
    const page = await h.yihao.services.audit.query({ actor: sub, action: 'admin.denied', limit: 100 });
    return page.events.map((e) => e.details);
  }

  it.skipIf(!enabled)('refuses requests without a valid admin token, from a non-operator, and below loa:2', async () => {
    const none = await callApi(h, undefined, 'GET', '/me');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await callApi(h, 'not-a-real-token-at-all', 'GET', '/me')).status).toBe(401);
    // Denied without an identity, and still audited: where from, never the token.
    const anonymous = (await h.yihao.services.audit.query({ action: 'admin.denied', limit: 100 })).events.filter((e) => e.actorType === 'anonymous');
    expect(anonymous.length).toBeGreaterThanOrEqual(2);
    expect(anonymous[0]).toMatchObject({ ip: expect.any(String), details: { operation: 'getMe', reason: 'no_valid_token' } });
    expect(JSON.stringify(anonymous)).not.toContain('not-a-real-token-at-all');

    const citizen = await h.citizen();
    const { token } = await consoleToken(h, citizen);
    const notOperator = await callApi(h, token, 'GET', '/me');
    expect(notOperator.status).toBe(403);
    expect(await denials(citizen.sub)).toEqual([{ operation: 'admin.sign_in', reason: 'not_operator' }]);

    // Asking for less does not help: the console client's registered minimum is loa:2, so the
    // sign-in still sets up and asks for the second factor.
    const weak = await h.citizen();
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: weak.sub, role: 'super-admin', departmentId: dept.nation.id });
    const asked = await consoleToken(h, weak, { acrValues: 'urn:yihao:loa:1' });
    expect(asked.totpSecret).toBeDefined();
    expect((await callApi(h, asked.token, 'GET', '/me')).status).toBe(200);
    // And the API checks the level itself, the token's own (what it was issued with, not its session's
    // latest): a token whose sign-in is (somehow) below loa:2 is refused.
    const tokens = new h.yihao.services.Adapter('AccessToken');
    const stored = (await tokens.find(storedTokenId(h, asked.token))) as unknown as { extra: Record<string, unknown> };
    await tokens.upsert(storedTokenId(h, asked.token), { ...stored, extra: { ...stored.extra, acr: 'urn:yihao:loa:1', amr: ['pwd'] } } as never, 600);
    expect((await callApi(h, asked.token, 'GET', '/me')).status).toBe(403);
    expect(await denials(weak.sub)).toEqual([{ operation: 'admin.sign_in', reason: 'insufficient_acr' }]);
  });

  it.skipIf(!enabled)('keeps a console token issued at loa:1 at loa:1 after its session steps up to loa:2: the admin API refuses it', async () => {
    // Only a console registered (wrongly) to take a password alone could get such a token; the API must
    // still read the level the token was issued with, not its session's latest login.
    const clients = new h.yihao.services.Adapter('Client');
    const registered = (await clients.find(ADMIN_CONSOLE_CLIENT_ID))!;
    await clients.upsert(ADMIN_CONSOLE_CLIENT_ID, { ...registered, min_acr: LOA1, default_acr_values: [LOA1] } as never, undefined as never);
    const who = await h.citizen();
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: who.sub, role: 'super-admin', departmentId: dept.nation.id });
    const browser = new ScriptedBrowser();
    let weak;
    try {
      weak = await consoleToken(h, who, { acrValues: LOA1, browser });
    } finally {
      await clients.upsert(ADMIN_CONSOLE_CLIENT_ID, registered as never, undefined as never);
    }
    expect(weak.totpSecret).toBeUndefined();
    // The same browser session steps up in place (TOTP set up on the way) and gets a loa:2 token.
    const strong = await consoleToken(h, who, { acrValues: LOA2, browser });
    expect(strong.totpSecret).toBeDefined();
    expect((await callApi(h, strong.token, 'GET', '/me')).status).toBe(200);
    expect((await callApi(h, weak.token, 'GET', '/me')).status).toBe(403);
    expect(await denials(who.sub)).toEqual([{ operation: 'admin.sign_in', reason: 'insufficient_acr' }]);
  });

  it.skipIf(!enabled)('gives admin-resource tokens to the admin console only', async () => {
    const rp = await relyingParty(h, await h.client({}));
    const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { resource: adminResource(h.issuer), scope: 'openid admin' });
    const back = await new ScriptedBrowser().follow(url);
    expect(back.url.searchParams.get('error')).toBe('invalid_target');
  });

  it.skipIf(!enabled)('answers /me with the operator and their assignments', async () => {
    const me = await ops.adminReviewerP1.api('GET', '/me');
    expect(me.status).toBe(200);
    expect(me.body.sub).toBe(ops.adminReviewerP1.sub);
    expect(me.body.assignments.map((a: { role: string; department_id: string }) => [a.role, a.department_id]).sort()).toEqual([
      ['dept-admin', dept.p1.id],
      ['reviewer', dept.p1.id],
    ]);
  });

  it.skipIf(!enabled)('lets each role call what it may and refuses the rest (403) on every endpoint, auditing every refusal', async () => {
    const approve = await submittedClient(ops.adminP1, dept.p1, { client_name: '待批准' });
    const reject = await submittedClient(ops.adminP1, dept.p1, { client_name: '待驳回' });
    const live = await submittedClient(ops.adminP1, dept.p1, { client_name: '已上线' });
    await ops.reviewerP1.api('POST', `/client-changes/${live.changeId}/approve`, { revision: live.revision });
    const other = await submittedClient(ops.adminP1, dept.p1, { client_name: '已上线二' });
    await ops.reviewerP1.api('POST', `/client-changes/${other.changeId}/approve`, { revision: other.revision });
    const draft = await ops.adminP1.api('POST', `/clients/${other.clientId}/changes`, settings({ client_name: '已上线二', scope: 'openid' }));
    const someone = await h.citizen();
    const assignment = await h.yihao.admin.services.bootstrap.grantRole({ identifier: someone.sub, role: 'auditor', departmentId: dept.c1.id });
    const newcomer = await h.citizen();
    const holder = await h.yihao.accounts.findBySub(someone.sub);
    const credential = await h.yihao.credentials.store.record({ accountId: holder!.id, type: 'urn:yihao:vct:identity:1', clientId: 'yh_app', holderJkt: 'jkt', issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 });
    const certificateType = { id: 'residence_permit', department_id: dept.p1.id, names: { 'zh-CN': '居住证', en: 'Residence permit' }, claims: { permit_number: { type: 'string', required: true } } };
    const certificates = h.yihao.credentials.certificates.store;
    await certificates.insertType({ id: 'work_permit', departmentId: dept.p1.id, vct: `${h.issuer}/credentials/types/work_permit`, names: { 'zh-CN': '工作许可', en: 'Work permit' }, claims: { permit_number: { type: 'string', required: true } }, validityDays: 365, createdBy: 'test', createdAt: Date.now(), approvedAt: Date.now(), approvedBy: 'cli' });
    // Defined by another national super-admin, awaiting a second one's approval.
    await certificates.insertType({ id: 'study_permit', departmentId: dept.p1.id, vct: `${h.issuer}/credentials/types/study_permit`, names: { 'zh-CN': '学习许可', en: 'Study permit' }, claims: { permit_number: { type: 'string', required: true } }, validityDays: 365, createdBy: 'another-national-super-admin', createdAt: Date.now(), approvedAt: undefined, approvedBy: undefined });
    const certificate = await h.yihao.stores.db.transaction((trx) =>
      certificates.insert({ typeId: 'work_permit', departmentId: dept.p1.id, accountId: holder!.id, claims: { permit_number: 'W1' }, validFrom: Date.now(), validUntil: Date.now() + 86_400_000, pushedBy: 'dept-system', createdAt: Date.now(), idempotencyKey: undefined }, trx),
    );
    // Citizen accounts: one to disable here, two disabled with a request to enable waiting (from another national super-admin).
    const citizens = { target: await h.citizen(), toApprove: await h.citizen(), toReject: await h.citizen() };
    const asker = await h.citizen();
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: asker.sub, role: 'super-admin', departmentId: dept.nation.id });
    const askerOp = await h.yihao.admin.services.bootstrap.operatorFor(asker.sub);
    const enableRequest = async (sub: string) => {
      await h.yihao.admin.services.accounts.disable(askerOp, sub, { reason: 'fraud' });
      return (await h.yihao.admin.services.accounts.requestEnable(askerOp, sub, { reason: 'identity_confirmed' })).id;
    };
    const requests = { approve: await enableRequest(citizens.toApprove.sub), reject: await enableRequest(citizens.toReject.sub) };

    type Who = keyof typeof ops;
    // [operationId, who, method, path, body, status]: refusals first, then the calls that change state.
    const calls: [string, Who, string, string, unknown, number][] = [
      ['listDepartments', 'counterP1', 'GET', '/departments', undefined, 403],
      ['createDepartment', 'adminP1', 'POST', '/departments', { name: '宁波', level: 'city', parent_id: dept.p1.id }, 403],
      ['getDepartment', 'counterP1', 'GET', `/departments/${dept.p1.id}`, undefined, 403],
      ['listOperators', 'reviewerP1', 'GET', '/operators', undefined, 403],
      ['assignRole', 'reviewerP1', 'POST', '/role-assignments', { sub: newcomer.sub, role: 'reviewer', department_id: dept.c1.id }, 403],
      ['revokeRole', 'auditorP1', 'DELETE', `/role-assignments/${assignment.id}`, undefined, 403],
      ['listClients', 'auditorP1', 'GET', '/clients', undefined, 403],
      ['createClient', 'reviewerP1', 'POST', '/clients', { department_id: dept.p1.id, settings: settings() }, 403],
      ['getClient', 'auditorP1', 'GET', `/clients/${live.clientId}`, undefined, 403],
      ['proposeClientChange', 'reviewerP1', 'POST', `/clients/${live.clientId}/changes`, settings(), 403],
      ['suspendClient', 'reviewerP1', 'POST', `/clients/${live.clientId}/suspend`, { reason: '检查' }, 403],
      ['resumeClient', 'reviewerP1', 'POST', `/clients/${live.clientId}/resume`, undefined, 403],
      ['rotateClientSecret', 'reviewerP1', 'POST', `/clients/${live.clientId}/secret`, {}, 403],
      ['listClientChanges', 'auditorP1', 'GET', '/client-changes', undefined, 403],
      ['getClientChange', 'counterP1', 'GET', `/client-changes/${approve.changeId}`, undefined, 403],
      ['editClientChange', 'reviewerP1', 'PUT', `/client-changes/${draft.body.id}`, settings({ client_name: '改名' }), 403],
      ['submitClientChange', 'reviewerP1', 'POST', `/client-changes/${draft.body.id}/submit`, undefined, 403],
      ['approveClientChange', 'adminP1', 'POST', `/client-changes/${approve.changeId}/approve`, { revision: approve.revision }, 403],
      ['rejectClientChange', 'auditorP1', 'POST', `/client-changes/${reject.changeId}/reject`, { revision: reject.revision }, 403],
      ['listSigningKeys', 'superP1', 'GET', '/keys', undefined, 403],
      ['rotateSigningKeys', 'adminP1', 'POST', '/keys/rotate', undefined, 403],
      ['revokeCredential', 'superP1', 'POST', `/credentials/${credential.id}/revoke`, {}, 403],
      ['queryAuditEvents', 'adminP1', 'GET', '/audit/events', undefined, 403],
      ['verifyAuditChain', 'reviewerP1', 'GET', '/audit/verify', undefined, 403],
      ['createCertificateType', 'reviewerP1', 'POST', '/certificate-types', certificateType, 403],
      // A department's own admin does not name certificate types: the national department does.
      ['createCertificateType', 'adminP1', 'POST', '/certificate-types', certificateType, 403],
      ['listCertificateTypes', 'auditorP1', 'GET', '/certificate-types', undefined, 403],
      ['revokeCertificate', 'reviewerP1', 'POST', `/certificates/${certificate.certificate.id}/revoke`, {}, 403],
      ['suspendCertificate', 'auditorP1', 'POST', `/certificates/${certificate.certificate.id}/suspend`, {}, 403],
      ['resumeCertificate', 'reviewerP1', 'POST', `/certificates/${certificate.certificate.id}/resume`, {}, 403],
      ['getCertificateType', 'reviewerP1', 'GET', '/certificate-types/work_permit', undefined, 403],
      ['changeCertificateType', 'auditorP1', 'POST', '/certificate-types/work_permit/versions', { validity_days: 30 }, 403],
      ['retireCertificateType', 'reviewerP1', 'POST', '/certificate-types/work_permit/retire', {}, 403],
      // Nor does a department's admin approve one: a second national super-admin does.
      ['approveCertificateType', 'adminP1', 'POST', '/certificate-types/study_permit/approve', { version: 1 }, 403],
      ['listDepartmentCertificates', 'auditorP1', 'GET', `/departments/${dept.p1.id}/certificates`, undefined, 403],
      ['lookUpAccount', 'adminP1', 'POST', '/accounts/lookup', { citizen_id: citizens.target.citizenId }, 403],
      ['getAccount', 'reviewerP1', 'GET', `/accounts/${citizens.target.sub}`, undefined, 403],
      ['disableAccount', 'superP1', 'POST', `/accounts/${citizens.target.sub}/disable`, { reason: 'fraud' }, 403],
      ['requestAccountEnable', 'auditorN', 'POST', `/accounts/${citizens.toReject.sub}/enable-requests`, { reason: 'citizen_request' }, 403],
      ['listAccountEnableRequests', 'auditorP1', 'GET', '/account-enable-requests', undefined, 403],
      ['approveAccountEnable', 'adminP1', 'POST', `/account-enable-requests/${requests.approve}/approve`, {}, 403],
      ['rejectAccountEnable', 'counterP1', 'POST', `/account-enable-requests/${requests.reject}/reject`, {}, 403],

      ['getMe', 'counterP1', 'GET', '/me', undefined, 200],
      ['listDepartments', 'auditorP1', 'GET', '/departments', undefined, 200],
      ['createDepartment', 'superP1', 'POST', '/departments', { name: '宁波市大数据局', level: 'city', parent_id: dept.p1.id }, 201],
      ['getDepartment', 'reviewerP1', 'GET', `/departments/${dept.p1.id}`, undefined, 200],
      ['listOperators', 'adminP1', 'GET', '/operators', undefined, 200],
      ['assignRole', 'adminP1', 'POST', '/role-assignments', { sub: newcomer.sub, role: 'auditor', department_id: dept.c1.id }, 201],
      ['revokeRole', 'adminP1', 'DELETE', `/role-assignments/${assignment.id}`, undefined, 204],
      ['listClients', 'reviewerP1', 'GET', '/clients', undefined, 200],
      ['createClient', 'adminP1', 'POST', '/clients', { department_id: dept.p1.id, settings: settings() }, 201],
      ['getClient', 'reviewerP1', 'GET', `/clients/${live.clientId}`, undefined, 200],
      ['suspendClient', 'adminP1', 'POST', `/clients/${live.clientId}/suspend`, { reason: '检查' }, 200],
      ['resumeClient', 'adminP1', 'POST', `/clients/${live.clientId}/resume`, undefined, 200],
      ['rotateClientSecret', 'adminP1', 'POST', `/clients/${live.clientId}/secret`, {}, 200],
      ['proposeClientChange', 'adminP1', 'POST', `/clients/${live.clientId}/changes`, settings({ client_name: '已上线' }), 201],
      ['listClientChanges', 'reviewerP1', 'GET', '/client-changes', undefined, 200],
      ['getClientChange', 'reviewerP1', 'GET', `/client-changes/${approve.changeId}`, undefined, 200],
      ['editClientChange', 'adminP1', 'PUT', `/client-changes/${draft.body.id}`, settings({ client_name: '改名' }), 200],
      ['submitClientChange', 'adminP1', 'POST', `/client-changes/${draft.body.id}/submit`, undefined, 200],
      ['approveClientChange', 'reviewerP1', 'POST', `/client-changes/${approve.changeId}/approve`, { revision: approve.revision }, 200],
      ['rejectClientChange', 'reviewerP1', 'POST', `/client-changes/${reject.changeId}/reject`, { note: '不符合要求', revision: reject.revision }, 200],
      ['listSigningKeys', 'superN', 'GET', '/keys', undefined, 200],
      ['queryAuditEvents', 'auditorP1', 'GET', '/audit/events', undefined, 200],
      ['verifyAuditChain', 'auditorP1', 'GET', '/audit/verify', undefined, 200],
      ['rotateSigningKeys', 'superN', 'POST', '/keys/rotate', undefined, 200],
      ['revokeCredential', 'superN', 'POST', `/credentials/${credential.id}/revoke`, { reason: '测试' }, 200],
      ['createCertificateType', 'superN', 'POST', '/certificate-types', certificateType, 201],
      ['listCertificateTypes', 'superP1', 'GET', '/certificate-types', undefined, 200],
      ['suspendCertificate', 'adminP1', 'POST', `/certificates/${certificate.certificate.id}/suspend`, {}, 200],
      ['resumeCertificate', 'superP1', 'POST', `/certificates/${certificate.certificate.id}/resume`, {}, 200],
      ['revokeCertificate', 'adminP1', 'POST', `/certificates/${certificate.certificate.id}/revoke`, {}, 200],
      ['getCertificateType', 'adminP1', 'GET', '/certificate-types/work_permit', undefined, 200],
      ['listDepartmentCertificates', 'adminP1', 'GET', `/departments/${dept.p1.id}/certificates`, undefined, 200],
      ['changeCertificateType', 'adminP1', 'POST', '/certificate-types/work_permit/versions', { base_version: 1, validity_days: 30 }, 201],
      ['retireCertificateType', 'superP1', 'POST', '/certificate-types/work_permit/retire', { reason: '停用' }, 200],
      ['approveCertificateType', 'superN', 'POST', '/certificate-types/study_permit/approve', { version: 1 }, 200],
      ['lookUpAccount', 'superN', 'POST', '/accounts/lookup', { citizen_id: citizens.target.citizenId }, 200],
      ['getAccount', 'superN', 'GET', `/accounts/${citizens.target.sub}`, undefined, 200],
      ['disableAccount', 'superN', 'POST', `/accounts/${citizens.target.sub}/disable`, { reason: 'citizen_request' }, 200],
      ['requestAccountEnable', 'superN', 'POST', `/accounts/${citizens.target.sub}/enable-requests`, { reason: 'citizen_request' }, 201],
      ['listAccountEnableRequests', 'superN', 'GET', '/account-enable-requests', undefined, 200],
      ['approveAccountEnable', 'superN', 'POST', `/account-enable-requests/${requests.approve}/approve`, {}, 200],
      ['rejectAccountEnable', 'superN', 'POST', `/account-enable-requests/${requests.reject}/reject`, {}, 200],
    ];
    for (const [operation, who, method, path, body, status] of calls) {
      const res = await ops[who].api(method, path, body);
      expect({ operation, who, status: res.status }).toEqual({ operation, who, status });
      if (status === 403) expect(res.body).toMatchObject({ error: 'forbidden' });
    }

    // Every endpoint has been both allowed and refused here (getMe is refused only to non-operators, above);
    // department systems' endpoints take no operator at all (test/integration/certificates.test.ts).
    for (const route of apiRoutes.filter((r) => !r.public && r.caller !== 'department-system')) {
      const tried = calls.filter(([operation]) => operation === route.operationId).map(([, , , , , status]) => status);
      expect({ operation: route.operationId, allowed: tried.some((st) => st < 300) }).toEqual({ operation: route.operationId, allowed: true });
      if (route.operationId !== 'getMe') expect({ operation: route.operationId, refused: tried.includes(403) }).toEqual({ operation: route.operationId, refused: true });
    }
    const refused = await denials(ops.reviewerP1.sub);
    expect(refused).toEqual(expect.arrayContaining([{ operation: 'client.create', reason: 'role' }, { operation: 'audit.verify', reason: 'role' }, { operation: 'client.rotate_secret', reason: 'role' }]));
  });

  it.skipIf(!enabled)('refuses cross-department reads and writes with a 404 that names nothing', async () => {
    const theirs = await submittedClient(ops.adminP2, dept.p2, { client_name: '江苏不动产' });
    const attempts: [string, string, unknown][] = [
      ['GET', `/departments/${dept.p2.id}`, undefined],
      ['GET', `/clients/${theirs.clientId}`, undefined],
      ['POST', `/clients/${theirs.clientId}/suspend`, { reason: 'x' }],
      ['POST', `/clients/${theirs.clientId}/secret`, {}],
      ['POST', `/clients/${theirs.clientId}/changes`, settings()],
      ['GET', `/client-changes/${theirs.changeId}`, undefined],
      ['POST', '/clients', { department_id: dept.p2.id, settings: settings() }],
      ['POST', '/role-assignments', { sub: ops.reviewerP2.sub, role: 'reviewer', department_id: dept.p2.id }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await ops.adminP1.api(method, path, body);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(JSON.stringify(res.body)).not.toMatch(/江苏|dp_|yh_/);
    }
    // A department's reviewer cannot approve another department's change either.
    const approve = await ops.reviewerP1.api('POST', `/client-changes/${theirs.changeId}/approve`, { revision: theirs.revision });
    expect(approve.status).toBe(404);
    // Lists show only their own subtree.
    const listed = await ops.adminP1.api('GET', '/departments?per_page=100');
    expect(listed.body.items.map((d: { id: string }) => d.id)).toEqual(expect.arrayContaining([dept.p1.id, dept.c1.id]));
    expect(listed.body.items.map((d: { id: string }) => d.id)).not.toContain(dept.p2.id);
    const clients = await ops.adminP1.api('GET', '/clients?per_page=100');
    expect(clients.body.items.map((c: { client_id: string }) => c.client_id)).not.toContain(theirs.clientId);
    // An unknown id answers the same as someone else's.
    expect(await ops.adminP1.api('GET', '/clients/yh_doesnotexist')).toMatchObject({ status: 404, body: { error: 'not_found', message: 'client not found' } });
    const scopeDenials = (await denials(ops.adminP1.sub)).filter((d) => (d as { reason: string }).reason === 'scope');
    expect(scopeDenials.length).toBeGreaterThanOrEqual(attempts.length);
  });

  it.skipIf(!enabled)('refuses self-approval, even to an operator who holds both roles, and audits it', async () => {
    const mine = await submittedClient(ops.adminReviewerP1, dept.p1, { client_name: '自审应用' });
    const self = await ops.adminReviewerP1.api('POST', `/client-changes/${mine.changeId}/approve`, { revision: mine.revision });
    expect(self).toMatchObject({ status: 403, body: { error: 'forbidden', message: 'a change or request must be decided by someone who did not draft, edit, submit or ask for it' } });
    expect(await denials(ops.adminReviewerP1.sub)).toEqual(expect.arrayContaining([{ operation: 'client_change.approve', reason: 'self_approval' }]));
    expect((await ops.adminReviewerP1.api('GET', `/clients/${mine.clientId}`)).body.client.status).toBe('draft');
    // Another reviewer may.
    expect((await ops.reviewerP1.api('POST', `/client-changes/${mine.changeId}/approve`, { revision: mine.revision })).status).toBe(200);
  });

  it.skipIf(!enabled)('takes a client from draft to live through review; then openid-client signs a citizen in through it', async () => {
    const made = await ops.adminP1.api('POST', '/clients', { department_id: dept.c1.id, settings: settings({ citizen_id_release: 'masked', allowed_channels: ['web'] }) });
    expect(made.status).toBe(201);
    expect(made.body.client).toMatchObject({ status: 'draft', department_id: dept.c1.id, settings: null });
    const clientId = made.body.client.client_id as string;
    const secret = made.body.client_secret as string;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const citizen = await h.citizen();
    const signIn = async () => {
      const rp = await relyingParty(h, { client_id: clientId, client_secret: secret });
      const verifier = oidc.randomPKCECodeVerifier();
      const back = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
      return (await oidc.authorizationCodeGrant(rp, back, { pkceCodeVerifier: verifier })).claims()!;
    };
    // A draft does not exist for the provider.
    await expect(signIn()).rejects.toThrow();

    const change = `/client-changes/${made.body.change.id}`;
    expect((await ops.reviewerP1.api('POST', `${change}/approve`, { revision: made.body.change.revision })).status).toBe(409); // not submitted yet
    const submitted = await ops.adminP1.api('POST', `${change}/submit`);
    expect(submitted.body.status).toBe('submitted');
    const pending = await ops.reviewerP1.api('GET', `/clients/${clientId}`);
    expect(pending.body.pending.diff).toEqual(expect.arrayContaining([{ field: 'redirect_uris', before: null, after: [REDIRECT] }]));
    const approved = await ops.reviewerP1.api('POST', `${change}/approve`, { note: '材料齐全', revision: submitted.body.revision });
    expect(approved.status).toBe(200);
    expect(approved.body.client).toMatchObject({ status: 'active', version: 2 });
    expect(approved.body.change).toMatchObject({ status: 'approved', reviewer: ops.reviewerP1.sub, author: ops.adminP1.sub });

    const claims = await signIn();
    expect(claims).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:1', channel: 'web' });

    // The approval is in the log with before and after, and without the secret.
    const events = await ops.auditorP1.api('GET', `/audit/events?client_id=${clientId}&action=admin.client_change.approved`);
    expect(events.body.events).toHaveLength(1);
    expect(events.body.events[0]).toMatchObject({ actor: ops.reviewerP1.sub, department_id: dept.c1.id, details: { before: null, after: { client_name: '社保查询', citizen_id_release: 'masked' } } });
  });

  it.skipIf(!enabled)('approves a change once when two reviewers race, and refuses a change drafted before the client moved on', async () => {
    const made = await submittedClient(ops.adminP1, dept.p1, { client_name: '竞争审批' });
    const results = await Promise.all([ops.reviewerP1, ops.superP1].map((r) => r.api('POST', `/client-changes/${made.changeId}/approve`, { revision: made.revision })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const detail = await ops.adminP1.api('GET', `/clients/${made.clientId}`);
    expect(detail.body.client).toMatchObject({ status: 'active', version: 2 });
    const approvals = await h.yihao.services.audit.query({ clientId: made.clientId, action: 'admin.client_change.approved', limit: 5 });
    expect(approvals.events).toHaveLength(1);

    const stale = await ops.adminP1.api('POST', `/clients/${made.clientId}/changes`, settings({ client_name: '竞争审批', scope: 'openid' }));
    const staleSubmitted = await ops.adminP1.api('POST', `/client-changes/${stale.body.id}/submit`);
    await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, {});
    const refused = await ops.reviewerP1.api('POST', `/client-changes/${stale.body.id}/approve`, { revision: staleSubmitted.body.revision });
    expect(refused.status).toBe(409);
    expect((await ops.reviewerP1.api('GET', `/client-changes/${stale.body.id}`)).body.status).toBe('submitted');
  });

  it.skipIf(!enabled)('puts every setting edit through review, with a diff, before it goes live', async () => {
    const made = await submittedClient(ops.adminP1, dept.p1, { client_name: '公积金' });
    await ops.reviewerP1.api('POST', `/client-changes/${made.changeId}/approve`, { revision: made.revision });
    const next = settings({
      client_name: '公积金',
      redirect_uris: [REDIRECT, 'http://127.0.0.1:9/cb2'],
      min_acr: 'urn:yihao:loa:2',
      allowed_channels: ['web', 'mobile'],
      scope: 'openid profile citizen_id',
      citizen_id_release: 'pseudonym',
    });
    const drafted = await ops.adminP1.api('POST', `/clients/${made.clientId}/changes`, next);
    expect(drafted.status).toBe(201);
    expect((await ops.adminP1.api('POST', `/clients/${made.clientId}/changes`, next)).status).toBe(409); // one open change at a time
    await ops.adminP1.api('POST', `/client-changes/${drafted.body.id}/submit`);
    const detail = await ops.reviewerP1.api('GET', `/client-changes/${drafted.body.id}`);
    expect(detail.body.diff.map((d: { field: string }) => d.field).sort()).toEqual(['allowed_channels', 'citizen_id_release', 'min_acr', 'redirect_uris', 'scope']);
    // Not live yet.
    const live = async () => (await h.yihao.holder.current.Client.find(made.clientId))!.metadata();
    expect((await live()).min_acr).toBeUndefined();
    await ops.reviewerP1.api('POST', `/client-changes/${drafted.body.id}/approve`, { revision: detail.body.revision });
    await expect.poll(async () => (await live()).min_acr).toBe('urn:yihao:loa:2');
    expect(await live()).toMatchObject({ redirect_uris: [REDIRECT, 'http://127.0.0.1:9/cb2'], allowed_channels: ['web', 'mobile'], citizen_id_release: 'pseudonym' });

    // A rejected change changes nothing.
    const rejected = await ops.adminP1.api('POST', `/clients/${made.clientId}/changes`, { ...next, citizen_id_release: 'full' });
    const toReject = await ops.adminP1.api('POST', `/client-changes/${rejected.body.id}/submit`);
    expect((await ops.reviewerP1.api('POST', `/client-changes/${rejected.body.id}/reject`, { note: '不需要完整身份证号', revision: toReject.body.revision })).body.status).toBe('rejected');
    expect((await live()).citizen_id_release).toBe('pseudonym');
  });

  it.skipIf(!enabled)('suspends a client (refused at /auth and /token) and resumes it', async () => {
    const made = await submittedClient(ops.adminP1, dept.p1, { client_name: '医保', grant_types: ['authorization_code', 'client_credentials'] });
    await ops.reviewerP1.api('POST', `/client-changes/${made.changeId}/approve`, { revision: made.revision });
    const token = () =>
      fetch(`${h.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${made.clientId}:${made.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
    expect((await token()).status).toBe(200);
    expect((await ops.adminP1.api('POST', `/clients/${made.clientId}/suspend`, {})).status).toBe(400); // a reason is required
    const suspended = await ops.adminP1.api('POST', `/clients/${made.clientId}/suspend`, { reason: '安全检查' });
    expect(suspended.body.status).toBe('suspended');
    await expect.poll(async () => (await token()).status).toBe(401);
    const auth = await fetch(`${h.issuer}/auth?client_id=${made.clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, { redirect: 'manual' });
    expect(auth.status).toBe(400);
    expect(await auth.text()).toMatch(/client/i);
    expect((await ops.adminP1.api('POST', `/clients/${made.clientId}/resume`)).body.status).toBe('active');
    await expect.poll(async () => (await token()).status).toBe(200);
  });

  it.skipIf(!enabled)('rotates a secret: both work during the grace period, then only the new one', async () => {
    const made = await submittedClient(ops.adminP1, dept.p1, { client_name: '税务', grant_types: ['client_credentials'], redirect_uris: [] });
    await ops.reviewerP1.api('POST', `/client-changes/${made.changeId}/approve`, { revision: made.revision });
    const token = async (secret: string) =>
      (
        await fetch(`${h.issuer}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${made.clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        })
      ).status;
    expect((await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, { grace_seconds: 7200 })).status).toBe(400); // above the configured maximum
    const rotated = await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, { grace_seconds: 2 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.client_secret as string;
    expect(fresh).not.toBe(made.secret);
    expect(Date.parse(rotated.body.previous_secret_valid_until)).toBeGreaterThan(Date.now());
    await expect.poll(() => token(fresh)).toBe(200);
    expect(await token(made.secret!)).toBe(200);
    await new Promise((r) => setTimeout(r, 2_200));
    expect(await token(made.secret!)).toBe(401);
    expect(await token(fresh)).toBe(200);

    // Without a grace period the old secret stops at once; the default comes from configuration.
    const again = await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, { grace_seconds: 0 });
    await expect.poll(() => token(again.body.client_secret)).toBe(200);
    expect(await token(fresh)).toBe(401);
    const byDefault = await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, {});
    expect(Date.parse(byDefault.body.previous_secret_valid_until) - Date.now()).toBeGreaterThan(590_000);
  });

  it.skipIf(!enabled)('manages role assignments within the subtree: review roles only from a super-admin, no self-changes', async () => {
    const newcomer = await h.citizen({ name: '李审核' });
    expect((await ops.adminP1.api('POST', '/role-assignments', { sub: newcomer.sub, role: 'reviewer', department_id: dept.c1.id })).status).toBe(403);
    const granted = await ops.superP1.api('POST', '/role-assignments', { sub: newcomer.sub, role: 'reviewer', department_id: dept.c1.id });
    expect(granted).toMatchObject({ status: 201, body: { sub: newcomer.sub, role: 'reviewer', department_id: dept.c1.id } });
    expect((await ops.superP1.api('POST', '/role-assignments', { sub: newcomer.sub, role: 'reviewer', department_id: dept.c1.id })).status).toBe(409);
    // Naming the account by ID number is a lookup: a national super-admin's, not a dept-admin's.
    expect((await ops.adminP1.api('POST', '/role-assignments', { identifier: newcomer.citizenId, role: 'auditor', department_id: dept.c1.id })).status).toBe(403);
    expect((await ops.superN.api('POST', '/role-assignments', { identifier: newcomer.citizenId, role: 'auditor', department_id: dept.c1.id })).status).toBe(201);
    expect((await ops.adminP1.api('POST', '/role-assignments', { sub: newcomer.sub, role: 'super-admin', department_id: dept.c1.id })).status).toBe(403);
    expect((await ops.adminP1.api('POST', '/role-assignments', { sub: ops.adminP1.sub, role: 'reviewer', department_id: dept.p1.id })).status).toBe(403);
    expect((await ops.superP1.api('POST', '/role-assignments', { sub: newcomer.sub, role: 'super-admin', department_id: dept.c1.id })).status).toBe(201);

    const listed = await ops.adminP1.api('GET', `/operators?department_id=${dept.c1.id}`);
    const entry = listed.body.items.find((o: { sub: string }) => o.sub === newcomer.sub);
    expect(entry.assignments.map((a: { role: string }) => a.role).sort()).toEqual(['auditor', 'reviewer', 'super-admin']);
    expect((await ops.adminP2.api('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(404);
    expect((await ops.adminP1.api('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(204);

    // The citizen ID used to find the account is not in the log.
    const rows = await h.yihao.stores.db('audit_events');
    expect(JSON.stringify(rows)).not.toContain(newcomer.citizenId);
  });

  it.skipIf(!enabled)('validates input and names the bad fields', async () => {
    const bad = await ops.adminP1.api('POST', '/clients', { department_id: dept.p1.id, settings: { client_name: '', redirect_uris: ['not a url'], extra: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_input');
    expect(Object.keys(bad.body.fields)).toEqual(expect.arrayContaining(['settings.client_name', 'settings.redirect_uris.0']));
    expect((await ops.adminP1.api('GET', '/clients?per_page=1000')).status).toBe(400);
    const res = await fetch(`${adminResource(h.issuer)}/clients`, { method: 'POST', headers: { authorization: `Bearer ${ops.adminP1.token}`, 'content-type': 'application/json' }, body: '{oops' });
    expect(res.status).toBe(400);
    expect((await ops.adminP1.api('GET', '/nothing-here')).status).toBe(404);
  });

  it.skipIf(!enabled)('rotates signing keys for a national super-admin, audited', async () => {
    const before = await ops.superN.api('GET', '/keys');
    const rotated = await ops.superN.api('POST', '/keys/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body.activated).toHaveLength(2);
    expect(rotated.body.keys.filter((k: { status: string }) => k.status === 'active').map((k: { kid: string }) => k.kid).sort()).toEqual([...rotated.body.activated].sort());
    expect(before.body.keys.length).toBeLessThan(rotated.body.keys.length);
    const events = await ops.auditorN.api('GET', `/audit/events?action=admin.keys.rotated`);
    expect(events.body.events[0]).toMatchObject({ actor: ops.superN.sub, details: { after: { active: rotated.body.activated } } });
  });

  it.skipIf(!enabled)('queries the audit log by actor, client, action and time, page by page, within the auditor’s departments', async () => {
    const theirs = await submittedClient(ops.adminP2, dept.p2, { client_name: '苏州社保' });
    const ours = await submittedClient(ops.adminP1, dept.p1, { client_name: '杭州社保' });
    const p1 = await ops.auditorP1.api('GET', '/audit/events?action=admin.client.created&limit=200');
    const clientIds = p1.body.events.map((e: { client_id: string }) => e.client_id);
    expect(clientIds).toContain(ours.clientId);
    expect(clientIds).not.toContain(theirs.clientId);
    const national = await ops.auditorN.api('GET', `/audit/events?client_id=${theirs.clientId}`);
    expect(national.body.events.map((e: { action: string }) => e.action)).toEqual(['admin.client_change.submitted', 'admin.client.created']);
    // By actor and action prefix, and time range.
    const byActor = await ops.auditorN.api('GET', `/audit/events?actor=${ops.adminP2.sub}&action=admin.client`);
    expect(byActor.body.events.every((e: { actor: string; action: string }) => e.actor === ops.adminP2.sub && e.action.startsWith('admin.client'))).toBe(true);
    const future = await ops.auditorN.api('GET', `/audit/events?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.events).toEqual([]);
    // Keyset paging: pages do not overlap and end.
    const seen: number[] = [];
    let next: number | undefined;
    for (let i = 0; i < 50; i++) {
      const page = await ops.auditorN.api('GET', `/audit/events?limit=7${next ? `&before=${next}` : ''}`);
      seen.push(...page.body.events.map((e: { id: number }) => e.id));
      next = page.body.next;
      if (next === undefined) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(seen.at(-1)).toBe(1);
    // A subject's events, as the portal shows them.
    const citizenEvents = await ops.auditorN.api('GET', `/audit/events?subject=${ops.adminP1.sub}&action=login.succeeded`);
    expect(citizenEvents.body.events.length).toBeGreaterThan(0);

    const verify = await ops.auditorP1.api('GET', '/audit/verify');
    expect(verify.body).toMatchObject({ intact: true, first_broken: null });
  });

  it.skipIf(!enabled)('runs one whole-chain check at a time however many auditors ask, and answers each with a check begun after it asked', async () => {
    // A whole-chain check reads every audit row: an auditor (or a script, or many tabs) asking in a
    // loop must not put one such scan per request on the database.
    const audit = h.yihao.services.audit;
    const check = audit.check.bind(audit);
    let checks = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    audit.check = async (...args: Parameters<typeof check>) => {
      checks++;
      await gate;
      return check(...args);
    };
    try {
      const first = ops.auditorP1.api('GET', '/audit/verify');
      // Failing here must not leave answers to reject unheard once the server closes.
      void first.catch(() => undefined);
      const deadline = Date.now() + 10_000;
      while (checks === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(checks).toBe(1);
      // Eight more while the first check runs: none starts a scan of its own.
      const more = [ops.auditorP1, ops.auditorN, ops.superN, ops.auditorP1, ops.auditorN, ops.superN, ops.auditorP1, ops.auditorN].map((o) => o.api('GET', '/audit/verify'));
      for (const answer of more) void answer.catch(() => undefined);
      const waited = Date.now() + 1_500;
      while (checks === 1 && Date.now() < waited) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(checks).toBe(1);
      open();
      const answers = await Promise.all([first, ...more]);
      for (const answer of answers) expect(answer).toMatchObject({ status: 200, body: { intact: true } });
      // Those who asked while the first ran get the one check begun after they asked, together.
      expect(checks).toBe(2);
    } finally {
      audit.check = check;
      open();
    }
  });

  it.skipIf(!enabled)('rests between whole-chain checks as long as the last one took: an auditor asking in a loop keeps the database at most half busy', async () => {
    const audit = h.yihao.services.audit;
    const check = audit.check.bind(audit);
    const runs: { start: number; end: number }[] = [];
    audit.check = async (...args: Parameters<typeof check>) => {
      const start = performance.now();
      // A long scan, as a large log would make it.
      await new Promise((resolve) => setTimeout(resolve, 400));
      const report = await check(...args);
      runs.push({ start, end: performance.now() });
      return report;
    };
    try {
      for (let i = 0; i < 3; i++) expect(await ops.auditorP1.api('GET', '/audit/verify')).toMatchObject({ status: 200, body: { intact: true } });
      expect(runs).toHaveLength(3);
      // Each check began at least as long after the one before ended as that one took (a lower
      // bound: a loaded machine only makes the rest longer).
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.start - runs[i - 1]!.end).toBeGreaterThanOrEqual(runs[i - 1]!.end - runs[i - 1]!.start - 5);
    } finally {
      audit.check = check;
    }
  });

  it.skipIf(!enabled)('never writes a citizen ID or a secret into the audit log', async () => {
    const made = await submittedClient(ops.adminP1, dept.p1, { client_name: '检查' });
    await ops.reviewerP1.api('POST', `/client-changes/${made.changeId}/approve`, { revision: made.revision });
    const rotated = await ops.adminP1.api('POST', `/clients/${made.clientId}/secret`, {});
    const all = JSON.stringify(await h.yihao.stores.db('audit_events'));
    for (const o of Object.values(ops)) expect(all).not.toContain(o.citizenId);
    expect(all).not.toContain(made.secret);
    expect(all).not.toContain(rotated.body.client_secret);
    expect(all).not.toContain('hmac1$');
  });
});
