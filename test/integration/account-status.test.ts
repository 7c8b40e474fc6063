/**
 * Operators disable and enable citizen accounts through the admin API (docs/admin.md, "Citizen
 * accounts"). First the attacker's side: a department admin, a reviewer alone, counter staff, a
 * province's super-admin, an operator on their own account, and the same operator approving their
 * own request are all refused, audited, with nothing changed. Then what a disable does on every
 * channel (web password, SMS, mobile device key, kiosk card, counter; refresh and userinfo), with
 * a sign-in answer that tells a stranger nothing more than a wrong password does, and how enabling
 * (four-eyes) restores sign-in but nothing that was revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Department } from '../../src/admin/index.js';
import { operator, type SignedInOperator } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { REDIRECT, authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, go, page, ScriptedBrowser, scriptedSignIn, submit } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

type Persona = 'superN' | 'superN2' | 'reviewerN' | 'adminN' | 'auditorN' | 'counterN' | 'superX';

describe.each(backends)('disabling and enabling citizen accounts ($name)', ({ name, enabled }) => {
  let h: Harness;
  const dept = {} as Record<'nation' | 'x', Department>;
  const ops = {} as Record<Persona, SignedInOperator>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.x = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: dept.nation.id });
    const roles: Record<Persona, Parameters<typeof operator>[1]> = {
      superN: [{ role: 'super-admin', departmentId: dept.nation.id }],
      superN2: [{ role: 'super-admin', departmentId: dept.nation.id }],
      reviewerN: [{ role: 'reviewer', departmentId: dept.nation.id }],
      adminN: [{ role: 'dept-admin', departmentId: dept.nation.id }],
      auditorN: [{ role: 'auditor', departmentId: dept.nation.id }],
      counterN: [{ role: 'counter-staff', departmentId: dept.nation.id }],
      superX: [{ role: 'super-admin', departmentId: dept.x.id }],
    };
    for (const [who, held] of Object.entries(roles)) ops[who as Persona] = await operator(h, held, who);
  }, 120_000);
  afterAll(async () => h?.close());

  const statusOf = async (sub: string) => (await h.yihao.accounts.findBySub(sub))!.status;
  const denials = async (who: Persona) => (await h.yihao.services.audit.query({ actor: ops[who].sub, action: 'admin.denied', limit: 100 })).events.map((e) => e.details);
  /** Every audit event, as stored, must not hold the ID number. */
  const auditText = async () => JSON.stringify((await h.yihao.services.audit.query({ limit: 1000 })).events);

  it.skipIf(!enabled)('refuses to disable for anyone but a national super-admin, and an operator their own account; audited, nothing changed', async () => {
    const citizen = await h.citizen();
    for (const who of ['adminN', 'reviewerN', 'auditorN', 'counterN', 'superX'] as const) {
      const res = await ops[who].api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'fraud' });
      expect(res.status, who).toBe(403);
      expect(await denials(who)).toContainEqual({ operation: 'account.disable', reason: 'role' });
    }
    const own = await ops.superN.api('POST', `/accounts/${ops.superN.sub}/disable`, { reason: 'citizen_request' });
    expect(own.status).toBe(403);
    expect(await denials('superN')).toContainEqual({ operation: 'account.disable', reason: 'self_account' });
    expect(await statusOf(citizen.sub)).toBe('active');
    expect(await statusOf(ops.superN.sub)).toBe('active');

    // Looking an account up by its ID number is the same national power (super-admin, reviewer).
    for (const who of ['adminN', 'auditorN', 'counterN', 'superX'] as const) {
      expect((await ops[who].api('POST', '/accounts/lookup', { citizen_id: citizen.citizenId })).status, who).toBe(403);
    }
  });

  it.skipIf(!enabled)('enabling takes two operators: no one requests alone what only a super-admin may, and no one approves their own request', async () => {
    const citizen = await h.citizen();
    expect((await ops.superN.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'compromised', note: '冒用嫌疑' })).status).toBe(200);

    // A reviewer alone, a department admin, counter staff, a province super-admin: no request.
    for (const who of ['reviewerN', 'adminN', 'counterN', 'superX'] as const) {
      expect((await ops[who].api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'identity_confirmed' })).status, who).toBe(403);
    }
    const asked = await ops.superN.api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'identity_confirmed', note: '本人到柜台核验' });
    expect(asked.status).toBe(201);
    expect(asked.body).toMatchObject({ kind: 'enable', status: 'pending', reason: 'identity_confirmed', actor: ops.superN.sub });
    const requestId = asked.body.id as string;
    expect((await ops.superN2.api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'citizen_request' })).status).toBe(409);

    // The operator who asked cannot approve or reject it; neither can anyone without the review power.
    for (const verb of ['approve', 'reject']) {
      const self = await ops.superN.api('POST', `/account-enable-requests/${requestId}/${verb}`, {});
      expect(self.status, verb).toBe(403);
      expect(self.body.message).toMatch(/decided by someone who did not/);
      for (const who of ['adminN', 'auditorN', 'counterN', 'superX'] as const) {
        expect((await ops[who].api('POST', `/account-enable-requests/${requestId}/${verb}`, {})).status, `${who} ${verb}`).toBe(403);
      }
    }
    expect(await denials('superN')).toContainEqual({ operation: 'account.enable_approve', reason: 'self_approval' });
    expect(await statusOf(citizen.sub)).toBe('disabled');

    const listed = await ops.reviewerN.api('GET', '/account-enable-requests');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toContainEqual(expect.objectContaining({ id: requestId, account: { sub: citizen.sub, name: citizen.name } }));

    const approved = await ops.reviewerN.api('POST', `/account-enable-requests/${requestId}/approve`, { note: '核验无误' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ sub: citizen.sub, status: 'active', disabled: null, pending_enable: null });
    expect((await ops.superN2.api('POST', `/account-enable-requests/${requestId}/approve`, {})).status).toBe(409);

    const [enabled] = (await h.yihao.services.audit.query({ subject: citizen.sub, action: 'account.enabled', limit: 5 })).events;
    expect(enabled).toMatchObject({ actorType: 'operator', actorId: ops.reviewerN.sub, details: { request_id: requestId, requested_by: ops.superN.sub, reason: 'identity_confirmed' } });
  });

  it.skipIf(!enabled)('two operators disabling one account at the same moment: one disable lands, with one record; the other is told it is already disabled', async () => {
    const citizen = await h.citizen();
    const answers = await Promise.all([
      ops.superN.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'fraud' }),
      ops.superN2.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'compromised' }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    expect(await statusOf(citizen.sub)).toBe('disabled');
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const changes = (await h.yihao.stores.db('account_status_changes').where({ account_id: account.id, kind: 'disable' }).select('actor_id')) as { actor_id: string }[];
    const events = (await h.yihao.services.audit.query({ subject: citizen.sub, action: 'account.disabled', limit: 5 })).events;
    expect(changes).toHaveLength(1);
    expect(events).toHaveLength(1);
    expect(events[0]!.actorId).toBe(changes[0]!.actor_id);
  });

  it.skipIf(!enabled)('a rejected request leaves the account disabled; only a disabled account takes one', async () => {
    const citizen = await h.citizen();
    expect((await ops.superN.api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'citizen_request' })).status).toBe(409);
    await ops.superN.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'deceased' });
    expect((await ops.superN.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'deceased' })).status).toBe(409);
    const asked = await ops.superN2.api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'disabled_in_error' });
    const rejected = await ops.superN.api('POST', `/account-enable-requests/${asked.body.id}/reject`, { note: '死亡登记属实' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: 'rejected', reviewer: ops.superN.sub });
    expect(await statusOf(citizen.sub)).toBe('disabled');
  });

  it.skipIf(!enabled)('refuses bad input with 400 naming the field, never echoing an ID number', async () => {
    const citizen = await h.citizen();
    const bad = [
      [`/accounts/${citizen.sub}/disable`, { reason: 'bored' }, 'reason'],
      [`/accounts/${citizen.sub}/disable`, { reason: 'other' }, 'note'],
      [`/accounts/${citizen.sub}/disable`, { reason: 'fraud', note: 'x'.repeat(501) }, 'note'],
      [`/accounts/${citizen.sub}/disable`, { reason: 'fraud', note: `号码 ${citizen.citizenId}` }, 'note'],
      [`/accounts/${citizen.sub}/disable`, { reason: 'fraud', extra: 1 }, '_'],
      ['/accounts/lookup', { citizen_id: '110105194912310021' }, 'citizen_id'],
      ['/accounts/lookup', {}, 'citizen_id'],
    ] as const;
    for (const [path, body, field] of bad) {
      const res = await ops.superN.api('POST', path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      if (field !== '_') expect(Object.keys(res.body.fields ?? {})).toContain(field);
      expect(JSON.stringify(res.body)).not.toMatch(/\d{17}[\dX]/);
    }
    expect(await statusOf(citizen.sub)).toBe('active');
    expect((await ops.superN.api('GET', '/accounts/no-such-sub')).status).toBe(404);
  });

  it.skipIf(!enabled)('finds an account by the ID number in the body and shows it only masked, with its sign-in summary; the lookup is audited without the number', async () => {
    const citizen = await h.citizen({ name: '赵六' });
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await relyingParty(h, client);
    await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });

    const found = await ops.reviewerN.api('POST', '/accounts/lookup', { citizen_id: citizen.citizenId });
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({
      sub: citizen.sub,
      name: '赵六',
      status: 'active',
      citizen_id_masked: `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`,
      disabled: null,
      sign_in: { last: { channel: 'web' }, sessions: 1, methods: [expect.objectContaining({ type: 'password' })] },
    });
    expect(JSON.stringify(found.body)).not.toContain(citizen.citizenId);
    expect((await ops.superN.api('POST', '/accounts/lookup', { citizen_id: syntheticCitizenId() })).status).toBe(404);

    const looked = (await h.yihao.services.audit.query({ actor: ops.reviewerN.sub, action: 'admin.account.looked_up', limit: 5 })).events;
    expect(looked[0]).toMatchObject({ accountId: citizen.sub, details: { found: true } });
    expect(await auditText()).not.toContain(citizen.citizenId);
  });

  it.skipIf(!enabled)('a disable ends sessions, refresh and userinfo, and refuses every channel; the web answer is the wrong-password answer; enabling restores sign-in but nothing revoked', async () => {
    const citizen = await h.citizen();
    const withPhone = await h.citizen({ phone: '13800138077' });
    const bystander = await h.citizen();
    const web = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
    const rp = await relyingParty(h, web);
    const signIn = async (who: { citizenId: string; password: string }) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: who.citizenId, password: who.password });
      return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    };
    /** What the login page answers an identifier and password. */
    const loginAnswer = async (identifier: string, password: string) => {
      const browser = new ScriptedBrowser();
      const origin = new URL(h.issuer).origin;
      const login = page(await go(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), origin));
      const answer = page(await submit(browser, login, '/login', { identifier, password }, origin));
      return { status: answer.status, alert: alertOf(answer.html), form: answer.html.includes('name="password"') };
    };

    const tokens = await signIn(citizen);
    const kiosk = await simulatedKiosk(h);
    expect((await kiosk.cardLogin({ citizenId: citizen.citizenId })).access_token).toBeTruthy();
    const app = await registerMobileApp(h);
    const { phone } = await phoneWithDeviceKey(h, app, citizen);
    expect((await phone.loginWithDeviceKey()).access_token).toBeTruthy();

    // A counter system of the nation, and a national counter-staff member signed in to it.
    const counterClient = await h.client({ name: '柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', allowedChannels: ['web', 'counter'], firstParty: true });
    await counterClientOf(h, counterClient, '', dept.nation.id);
    const counter = await relyingParty(h, counterClient);
    const staff = await h.citizen({ name: '柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId: dept.nation.id });
    const staffToken = (await staffSignIn(h, counter, staff)).access_token;
    const exchange = () =>
      oidc.genericGrantRequest(counter, TOKEN_EXCHANGE, {
        subject_token: citizen.citizenId, subject_token_type: 'urn:yihao:token-type:citizen-id', actor_token: staffToken,
        actor_token_type: 'urn:ietf:params:oauth:token-type:access_token', document_check: 'in_person', scope: 'openid profile',
      });
    expect((await exchange()).access_token).toBeTruthy();

    const disabled = await ops.superN.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'fraud', note: '公安机关通报' });
    expect(disabled.status).toBe(200);
    expect(disabled.body).toMatchObject({ status: 'disabled', disabled: { reason: 'fraud', note: '公安机关通报', actor: ops.superN.sub }, sign_in: { sessions: 0 } });
    // The disable and its record commit together, by the operator, with the reason.
    const [record] = (await h.yihao.services.audit.query({ subject: citizen.sub, action: 'account.disabled', limit: 5 })).events;
    expect(record).toMatchObject({ actorType: 'operator', actorId: ops.superN.sub, details: { reason: 'fraud', note: '公安机关通报', change_id: disabled.body.disabled.id } });

    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, citizen.sub)).rejects.toThrow();
    await expect(kiosk.cardLogin({ citizenId: citizen.citizenId })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(phone.loginWithDeviceKey()).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(exchange()).rejects.toMatchObject({ error: 'invalid_grant' });

    // The right password of a disabled account gets the very answer of a wrong password, and of an ID number with no account.
    const refused = await loginAnswer(citizen.citizenId, citizen.password);
    expect(refused.form).toBe(true);
    expect(refused.alert).toBeTruthy();
    expect(await loginAnswer(bystander.citizenId, 'a wrong password 1')).toEqual(refused);
    expect(await loginAnswer(syntheticCitizenId(), 'a wrong password 1')).toEqual(refused);
    // By mobile number too.
    expect((await ops.superN.api('POST', `/accounts/${withPhone.sub}/disable`, { reason: 'citizen_request' })).status).toBe(200);
    expect(await loginAnswer('13800138077', withPhone.password)).toEqual(refused);

    // Another operator approves enabling it: sign-in works again, what the disable ended stays ended.
    const asked = await ops.superN.api('POST', `/accounts/${citizen.sub}/enable-requests`, { reason: 'identity_confirmed' });
    expect((await ops.superN2.api('POST', `/account-enable-requests/${asked.body.id}/approve`, {})).status).toBe(200);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await signIn(citizen)).access_token).toBeTruthy();
    expect((await kiosk.cardLogin({ citizenId: citizen.citizenId })).access_token).toBeTruthy();
    expect(await auditText()).not.toContain(citizen.citizenId);
  }, 120_000);
});
