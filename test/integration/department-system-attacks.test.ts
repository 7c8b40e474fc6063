/**
 * The department system's machine path (src/admin/department-system-auth.ts and the
 * `caller: 'department-system'` routes), played as an attacker who holds a department system's key
 * (stolen, or its operator malicious). Each test states an attack and what a secure server does.
 * Found by a review (both failed before): tries at another department's types left no record, and
 * another department's unpublished type answered 403 where a missing one answered 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { adminResource, type Department } from '../../src/admin/index.js';
import { callApi, operator, type SignedInOperator, certificateDepartments } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a hostile department system ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept: Record<'nation' | 'police' | 'social', Department> = {} as never;
  let policeAdmin: SignedInOperator;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let police: { clientId: string; rp: oidc.Configuration; token: string };
  let social: { clientId: string; token: string };

  async function systemOf(d: Department, clientName: string) {
    const client = await h.client({ kind: 'service', name: clientName });
    await counterClientOf(h, client, clientName, d.id);
    const rp = await relyingParty(h, client);
    const token = (await oidc.clientCredentialsGrant(rp, { scope: 'certificates:push', resource: adminResource(h.issuer) })).access_token;
    return { clientId: client.client_id, rp, token };
  }

  async function type(id: string, departmentId: string, claims: Record<string, { type: 'string' | 'number' | 'date' | 'boolean'; required: boolean }>, approved = true) {
    await h.yihao.credentials.certificates.store.insertType({
      id,
      departmentId,
      vct: `${h.issuer}/credentials/types/${id}`,
      names: { 'zh-CN': id, en: id },
      claims,
      validityDays: 365,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: approved ? Date.now() : undefined,
      approvedBy: approved ? 'cli' : undefined,
    } as never);
  }

  const licence = (extra: Record<string, unknown> = {}) => ({ type: 'driving_licence', department_id: dept.police.id, citizen_id: citizen.citizenId, claims: { licence_class: 'C1' }, ...extra });
  const push = (body: unknown, token = police.token) => callApi(h, token, 'POST', '/certificates', body);
  const certificatesOf = async (d: Department) => (await h.yihao.credentials.certificates.store.listByDepartment([d.id], { offset: 0, limit: 100 })).items;
  const deniedFor = async (clientId: string) => (await h.yihao.services.audit.query({ action: 'admin.denied', limit: 100 })).events.filter((e) => e.actorId === clientId || e.clientId === clientId);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    Object.assign(dept, await certificateDepartments(h));
    await type('driving_licence', dept.police.id, { licence_class: { type: 'string', required: true }, points: { type: 'number', required: false }, first_issued: { type: 'date', required: false } });
    await type('social_card', dept.social.id, { card_number: { type: 'string', required: true } });
    // Another department's type still awaiting national approval: in no metadata, bundle or type document.
    await type('secret_permit', dept.social.id, { permit_number: { type: 'string', required: true } }, false);
    policeAdmin = await operator(h, [{ role: 'dept-admin', departmentId: dept.police.id }], '交管管理员');
    police = await systemOf(dept.police, '交管业务系统');
    social = await systemOf(dept.social, '社保业务系统');
    citizen = await h.citizen({ name: '王五' });
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)("pushes nothing of another department: its type, its department id, or a claim naming it as issuer", async () => {
    const before = (await certificatesOf(dept.social)).length;
    expect((await push({ ...licence(), type: 'social_card', claims: { card_number: 'X1' } })).status).toBe(404);
    expect((await push({ ...licence(), type: 'social_card', department_id: dept.social.id, claims: { card_number: 'X1' } })).status).toBe(403);
    expect((await push(licence({ department_id: dept.social.id }))).status).toBe(403);
    // The issuing department is the server's to say: no claim of that name gets in.
    const impersonating = await push(licence({ claims: { licence_class: 'C1', issuing_department: '浙江省人力社保厅' } }));
    expect(impersonating.status).toBe(400);
    expect(await certificatesOf(dept.social)).toHaveLength(before);
  });

  it.runIf(enabled)("leaves a trace of each try at another department's certificates (admin.denied, as the client)", async () => {
    const before = (await deniedFor(police.clientId)).length;
    expect((await push({ ...licence(), type: 'social_card', claims: { card_number: 'X1' } })).status).toBe(404);
    expect((await push(licence({ department_id: dept.social.id }))).status).toBe(403);
    // docs/admin.md: "A role that does not allow the action answers 403 ... recorded as admin.denied";
    // a 401 with no token at all is recorded; a stolen system key probing other departments' types is not.
    expect((await deniedFor(police.clientId)).length - before).toBe(2);
  });

  it.runIf(enabled)("cannot tell another department's unpublished (pending) type from a type that does not exist", async () => {
    const pending = await push({ ...licence(), type: 'secret_permit', claims: { permit_number: 'P1' } });
    const missing = await push({ ...licence(), type: 'no_such_type', claims: { permit_number: 'P1' } });
    // A pending type is announced nowhere (docs/security.md); its id must not leak to another department's system.
    expect({ status: pending.status, error: pending.body.error }).toEqual({ status: missing.status, error: missing.body.error });
  });

  it.runIf(enabled)('a system token opens no operator route (revoke, suspend, lists, types, clients), and an operator token opens no system route', async () => {
    const pushed = await push(licence({ idempotency_key: 'hostile-op-routes-1' }));
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    const id = pushed.body.id as string;
    for (const [method, path, body] of [
      ['POST', `/certificates/${id}/revoke`, { reason: 'x' }],
      ['POST', `/certificates/${id}/suspend`, {}],
      ['GET', `/departments/${dept.police.id}/certificates`, undefined],
      ['GET', '/certificate-types', undefined],
      ['POST', '/certificate-types/driving_licence/retire', {}],
      ['GET', '/clients', undefined],
      ['GET', '/audit/events', undefined],
    ] as const) {
      const res = await callApi(h, police.token, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect((await h.yihao.credentials.certificates.store.find(id))?.status).toBe('valid');
    // The operator's token at the system's routes.
    expect((await callApi(h, policeAdmin.token, 'POST', '/certificates', licence())).status).toBe(401);
    expect((await callApi(h, policeAdmin.token, 'GET', '/certificates')).status).toBe(401);
  });

  it.runIf(enabled)("lists only its own department's certificates, whatever type it names", async () => {
    expect((await push({ type: 'social_card', department_id: dept.social.id, citizen_id: citizen.citizenId, claims: { card_number: 'S-1' } }, social.token)).status).toBe(201);
    const mine = await callApi(h, police.token, 'GET', '/certificates?per_page=100');
    expect(mine.status).toBe(200);
    expect(mine.body.items.every((c: { department_id: string }) => c.department_id === dept.police.id)).toBe(true);
    const theirs = await callApi(h, police.token, 'GET', '/certificates?type=social_card');
    expect(theirs.status).toBe(200);
    expect(theirs.body.items).toEqual([]);
  });

  it.runIf(enabled)("an idempotency key another system used neither returns nor blocks that system's certificate", async () => {
    const key = 'shared-key-0001';
    const theirs = await push({ type: 'social_card', department_id: dept.social.id, citizen_id: citizen.citizenId, claims: { card_number: 'S-2' }, idempotency_key: key }, social.token);
    expect(theirs.status).toBe(201);
    const mine = await push(licence({ idempotency_key: key }));
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect(mine.body.id).not.toBe(theirs.body.id);
    expect(mine.body.department_id).toBe(dept.police.id);
    // A second system of the same department with the same key gets its own certificate too.
    const sibling = await systemOf(dept.police, '交管第二系统');
    const again = await push(licence({ idempotency_key: key }), sibling.token);
    expect(again.status).toBe(201);
    expect(new Set([theirs.body.id, mine.body.id, again.body.id]).size).toBe(3);
    const replay = await push({ type: 'social_card', department_id: dept.social.id, citizen_id: citizen.citizenId, claims: { card_number: 'S-2' }, idempotency_key: key }, social.token);
    expect(replay.body.id).toBe(theirs.body.id);
  });

  it.runIf(enabled)('a DPoP-bound token: a proof for another method, URL or time, or from another key, is refused; so is the token as Bearer', async () => {
    const keys = await generateKeyPair('ES256', { extractable: true });
    const tokens = await oidc.clientCredentialsGrant(police.rp, { scope: 'certificates:push', resource: adminResource(h.issuer) }, { DPoP: oidc.getDPoPHandle(police.rp, keys) });
    const url = `${h.issuer}/admin/api/v1/certificates`;
    const proof = async (claims: Record<string, unknown>, key = keys) =>
      new SignJWT({ htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash('sha256').update(tokens.access_token).digest('base64url'), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
        .sign(key.privateKey);
    const send = async (dpop: string | undefined, scheme = 'DPoP') =>
      (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `${scheme} ${tokens.access_token}`, ...(dpop ? { dpop } : {}) }, body: JSON.stringify(licence()) })).status;
    const before = (await certificatesOf(dept.police)).length;
    expect(await send(await proof({ htm: 'GET' }))).toBe(401);
    expect(await send(await proof({ htu: `${h.issuer}/admin/api/v1/certificates/x/revoke` }))).toBe(401);
    expect(await send(await proof({ htu: url.replace('127.0.0.1', 'localhost') }))).toBe(401);
    expect(await send(await proof({ iat: Math.floor(Date.now() / 1000) + 3600 }))).toBe(401);
    expect(await send(await proof({ iat: Math.floor(Date.now() / 1000) - 3600 }))).toBe(401);
    expect(await send(await proof({ ath: createHash('sha256').update('another').digest('base64url') }))).toBe(401);
    expect(await send(await proof({}, await generateKeyPair('ES256', { extractable: true })))).toBe(401);
    expect(await send(await proof({}), 'Bearer')).toBe(401);
    expect(await send(undefined, 'Bearer')).toBe(401);
    expect(await certificatesOf(dept.police)).toHaveLength(before);
    // The real thing still works once.
    const good = await proof({});
    expect(await send(good)).toBe(201);
    expect(await send(good)).toBe(401);
  });

  it.runIf(enabled)('a suspended system is refused at once with the token it holds, and the try is on record', async () => {
    const victim = await systemOf(dept.police, '交管被停系统');
    expect((await push(licence(), victim.token)).status).toBe(201);
    await h.yihao.admin.services.clients.system.suspend(victim.clientId, { reason: '密钥泄露' });
    const before = (await certificatesOf(dept.police)).length;
    const anonymousBefore = (await h.yihao.services.audit.query({ action: 'admin.denied', limit: 100 })).events.length;
    const refused = await push(licence(), victim.token);
    expect([401, 403]).toContain(refused.status);
    expect([401, 403]).toContain((await callApi(h, victim.token, 'GET', '/certificates')).status);
    expect(await certificatesOf(dept.police)).toHaveLength(before);
    // A stolen token of a suspended system still in use is what an incident response needs to see.
    expect((await h.yihao.services.audit.query({ action: 'admin.denied', limit: 100 })).events.length - anonymousBefore).toBe(2);
  });

  it.runIf(enabled)('hostile bodies answer 4xx, never 500, and store nothing', async () => {
    const before = (await certificatesOf(dept.police)).length;
    const big = 'x'.repeat(10 * 1024 * 1024);
    const answers: [string, number][] = [];
    const tryIt = async (label: string, body: unknown) => answers.push([label, (await push(body)).status]);
    await tryIt('10 MB date', licence({ valid_until: `2030-01-01T00:00:00${big}Z` }));
    await tryIt('NUL in claim value', licence({ claims: { licence_class: 'C\u00001' } }));
    await tryIt('NUL in claim name', licence({ claims: { licence_class: 'C1', 'a\u0000': 'x' } }));
    await tryIt('NUL in type', licence({ type: 'driving\u0000licence' }));
    await tryIt('control in type', licence({ type: 'driving\u0001licence' }));
    await tryIt('lone surrogate in type', licence({ type: '\ud800driving' }));
    await tryIt('control in department', licence({ department_id: '\u0001' }));
    await tryIt('bidi in claim', licence({ claims: { licence_class: '\u202eC1' } }));
    await tryIt('__proto__ claims', { ...licence(), claims: JSON.parse('{"__proto__":{"licence_class":"C1"}}') as unknown });
    await tryIt('constructor claim', licence({ claims: { licence_class: 'C1', constructor: 'x' } }));
    await tryIt('nested claim', licence({ claims: { licence_class: { toString: 'C1' } } }));
    await tryIt('year 0 valid_from', licence({ valid_from: '0000-01-01T00:00:00Z' }));
    await tryIt('past year 9999 by offset', licence({ valid_until: '9999-12-31T23:59:00-23:59' }));
    await tryIt('default validity past 9999', licence({ valid_from: '9999-12-01T00:00:00Z' }));
    await tryIt('citizen id with NUL', licence({ citizen_id: `${citizen.citizenId}\u0000` }));
    await tryIt('citizen id fullwidth', licence({ citizen_id: citizen.citizenId.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d))) }));
    await tryIt('idempotency key unicode', licence({ idempotency_key: 'ключ-ключ-ключ' }));
    await tryIt('array body', [licence()]);
    for (const [label, status] of answers) expect(status, label).toBeGreaterThanOrEqual(400);
    for (const [label, status] of answers) expect(status, label).toBeLessThan(500);
    const raw = await fetch(`${adminResource(h.issuer)}/certificates`, { method: 'POST', headers: { authorization: `Bearer ${police.token}`, 'content-type': 'application/json' }, body: '{"type":"driving_licence","claims":{"licence_class":"C1"' });
    expect(raw.status).toBe(400);
    const query = await callApi(h, police.token, 'GET', '/certificates?type=%00&page=99999999999999999999');
    expect(query.status).toBe(400);
    expect(await certificatesOf(dept.police)).toHaveLength(before - 0 + answers.filter(([, s]) => s === 201).length);
  });

  it.runIf(enabled)('edge dates and numbers that are accepted are listed and read back without a 500; HTML in a claim stays text', async () => {
    const pushed = await push(licence({ valid_from: '9999-12-31T23:59:59.000Z', valid_until: '9999-12-31T23:59:59.999Z', claims: { licence_class: '<img src=x onerror=alert(1)>', points: 1e308 } }));
    expect(pushed.status, JSON.stringify(pushed.body)).toBe(201);
    const old = await push(licence({ valid_from: '1000-01-01T00:00:00.000Z', valid_until: '9000-01-01T00:00:00Z', claims: { licence_class: 'C1', points: -0, first_issued: '1000-01-01' } }));
    expect(old.status, JSON.stringify(old.body)).toBe(201);
    const listed = await callApi(h, police.token, 'GET', '/certificates?per_page=100');
    expect(listed.status).toBe(200);
    const page = await policeAdmin.api('GET', `/departments/${dept.police.id}/certificates?per_page=100`);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    // No claim in any listing (the answer to a push or list never echoes claims).
    expect(JSON.stringify(listed.body)).not.toContain('onerror');
    expect(JSON.stringify(page.body)).not.toContain('onerror');
    const portal = await fetch(`${h.issuer}/credentials/types/driving_licence`);
    expect(await portal.text()).not.toContain('onerror');
  });

  it.runIf(enabled)('a number with no account answers 404 like any other, audited; a known one with a used key for another citizen 409, audited', async () => {
    const stranger = syntheticCitizenId({ seq: 424 });
    const before = (await deniedFor(police.clientId)).map((e) => (e.details as { reason?: string }).reason);
    const miss = await push(licence({ citizen_id: stranger }));
    expect(miss.status).toBe(404);
    expect(JSON.stringify(miss.body)).not.toContain(stranger);
    const other = await h.citizen({ name: '赵六' });
    expect((await push(licence({ idempotency_key: 'hostile-key-citizen' }))).status).toBe(201);
    expect((await push(licence({ idempotency_key: 'hostile-key-citizen', citizen_id: other.citizenId }))).status).toBe(409);
    const after = (await deniedFor(police.clientId)).map((e) => (e.details as { reason?: string }).reason);
    expect(after.filter((r) => r === 'no_account').length - before.filter((r) => r === 'no_account').length).toBe(1);
    expect(after.filter((r) => r === 'idempotency_conflict').length - before.filter((r) => r === 'idempotency_conflict').length).toBe(1);
    const events = await h.yihao.services.audit.query({ action: 'admin.denied', limit: 100 });
    expect(JSON.stringify(events)).not.toContain(stranger);
  });
});
