/**
 * Bad input at the edge gets a clear 4xx and never a 500 or a lost record (found by fuzzing the HTTP
 * edges; each failed before its fix): a certificate push whose dates reach past year 9999 was stored
 * and answered 500 (and the department's list answered 500 from then on); an `X-Request-Id` longer
 * than the audit column (64) was written raw, so on PostgreSQL a counter's token exchange answered
 * 500 and a refresh token's revocation lost its `grant.revoked` record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { adminResource, type Department } from '../../src/admin/index.js';
import { callApi, operator } from '../support/admin-operators.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { registerMobileApp, phoneWithDeviceKey } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.each(backends)('review fuzz defects ($name)', ({ name, enabled }) => {
  let h: Harness;
  let police: Department;
  let systemToken: string;
  let counter: { client_id: string; client_secret?: string };
  let strangerToken: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家', level: 'national' });
    police = await boot.createDepartment({ name: '公安', level: 'province', parentId: nation.id });
    const author = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], 'a');
    const reviewer = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], 'b');
    expect((await author.api('POST', '/certificate-types', { id: 'lic', department_id: police.id, names: { 'zh-CN': 'x', en: 'x' }, claims: { n: { type: 'string', required: true } } })).status).toBe(201);
    expect((await reviewer.api('POST', '/certificate-types/lic/approve', { version: 1 })).status).toBe(200);
    const sys = await h.client({ kind: 'service', name: 'sys' });
    await counterClientOf(h, sys, 'sys', police.id);
    systemToken = (await oidc.clientCredentialsGrant(await relyingParty(h, sys), { scope: 'certificates:push', resource: adminResource(h.issuer) })).access_token;
    counter = await h.client({ name: '柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    await counterClientOf(h, counter as never, '柜台部门');
    const stranger = await h.citizen({ name: '路人' });
    strangerToken = (await staffSignIn(h, await relyingParty(h, counter), stranger)).access_token;
    citizen = await h.citizen({ name: '王五' });
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('a push whose validity ends after year 9999 is refused with 400, not stored and answered 500', async () => {
    const body = { type: 'lic', department_id: police.id, citizen_id: citizen.citizenId, claims: { n: 'x' }, valid_until: '9999-12-31T23:59:59-23:59' };
    const res = await callApi(h, systemToken, 'POST', '/certificates', body);
    // A start the default validity carries past 9999, and one an offset puts before year 1000, too.
    const late = await callApi(h, systemToken, 'POST', '/certificates', { ...body, valid_until: undefined, valid_from: '9999-06-01T00:00:00Z' });
    const early = await callApi(h, systemToken, 'POST', '/certificates', { ...body, valid_until: undefined, valid_from: '0000-01-01T00:00:00+23:59' });
    expect([late.status, late.body.fields, early.status, early.body.fields]).toEqual([400, { valid_until: expect.any(String) }, 400, { valid_from: expect.any(String) }]);
    const stored = await h.yihao.stores.db('certificates').count<{ n: number }[]>({ n: '*' });
    const list = await callApi(h, systemToken, 'GET', '/certificates');
    expect({ push: res.status, stored: Number(stored[0]!.n), list: list.status }).toEqual({ push: 400, stored: 0, list: 200 });
  });

  it.runIf(enabled)('token exchange with an over-long X-Request-Id answers invalid_grant, not 500', async () => {
    const basic = Buffer.from(`${encodeURIComponent(counter.client_id)}:${encodeURIComponent(counter.client_secret ?? '')}`).toString('base64');
    const res = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'r'.repeat(65) },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: citizen.citizenId, subject_token_type: 'urn:yihao:token-type:citizen-id', actor_token: strangerToken, actor_token_type: 'urn:ietf:params:oauth:token-type:access_token', document_check: 'in_person', scope: 'openid' }),
    });
    expect([res.status, await res.text()]).toEqual([400, expect.stringContaining('invalid_grant')]);
  });
  it.runIf(enabled)('a refresh token revoked with an over-long X-Request-Id is still on record (grant.revoked)', async () => {
    const { phone } = await phoneWithDeviceKey(h, await registerMobileApp(h));
    const res = await fetch(`${h.issuer}/token/revocation`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'k'.repeat(80) }, body: new URLSearchParams({ token: phone.refreshToken!, token_type_hint: 'refresh_token', client_id: phone.rp.clientMetadata().client_id }) });
    expect(res.status).toBe(200);
    // The event is appended after the answer: wait for it (up to 10 s on a loaded machine).
    const recorded = () => h.yihao.stores.db('audit_events').where({ action: 'grant.revoked' }).count<{ n: number }[]>({ n: '*' }).then((r) => Number(r[0]!.n));
    for (let waited = 0; waited < 10_000 && (await recorded()) === 0; waited += 100) await new Promise((r) => setTimeout(r, 100));
    expect(await recorded()).toBe(1);
    const [event] = (await h.yihao.stores.db('audit_events').where({ action: 'grant.revoked' }).select('request_id')) as { request_id: string | null }[];
    expect(event!.request_id).not.toBe('k'.repeat(80));
  });
});
