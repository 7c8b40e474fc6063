/**
 * An operator's action and its audit event commit together: when the event cannot be written, the
 * action does not land either (before, the client was suspended first and its record written
 * after). So does a citizen's sign-in and consent: its event lands before the login or the consent
 * is recorded. The audit insert is made to fail with a trigger, on SQLite and on PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Operator } from '../../src/admin/roles.js';
import { refuseAuditEvents } from '../support/audit.js';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('business changes and their audit events ($backend)', ({ backend, enabled }) => {
  let h: Harness | undefined;
  afterEach(async () => h?.close());

  it.skipIf(!enabled)('leaves a client active, grants no role, rotates no key, creates no department and disables no account when their audit event cannot be written', async () => {
    h = await startHarness({ backend });
    const { services } = h.yihao.admin;
    const db = h.yihao.stores.db;
    const nation = await services.bootstrap.createDepartment({ name: '国家政务服务平台', level: 'national' });
    const admin = await h.citizen();
    const reviewer = await h.citizen();
    const granted = await services.bootstrap.grantRole({ identifier: admin.citizenId, role: 'super-admin', departmentId: nation.id });
    await services.bootstrap.grantRole({ identifier: reviewer.citizenId, role: 'super-admin', departmentId: nation.id });
    const operator = async (sub: string): Promise<Operator> => {
      const account = (await h!.yihao.accounts.findBySub(sub))!;
      return { accountId: account.id, sub, name: account.name, assignments: [{ id: granted.id, role: 'super-admin', departmentId: nation.id, departmentPath: nation.path }] };
    };
    const [op, rev] = [await operator(admin.sub), await operator(reviewer.sub)];
    const { client, change } = await services.clients.create(op, {
      department_id: nation.id,
      settings: { client_name: '办事App', redirect_uris: ['https://app.example.gov.cn/cb'] },
    });
    const submitted = await services.clients.submit(op, change.id);
    await services.clients.approve(rev, change.id, { revision: submitted.revision });

    let allow = async () => undefined as void;
    const refuse = async (action: string) => {
      allow = await refuseAuditEvents(db, action);
    };

    await refuse('admin.client.suspended');
    await expect(services.clients.suspend(op, client.clientId, { reason: '检查' })).rejects.toThrow();
    expect((await services.clients.get(op, client.clientId)).client.status).toBe('active');
    await allow();
    expect((await services.clients.suspend(op, client.clientId, { reason: '检查' })).status).toBe('suspended');

    const newcomer = await h.citizen();
    await refuse('admin.role.assigned');
    await expect(services.operators.assign(op, { sub: newcomer.sub, role: 'auditor', department_id: nation.id })).rejects.toThrow();
    expect(await db('role_assignments').where({ account_id: (await h.yihao.accounts.findBySub(newcomer.sub))!.id })).toEqual([]);
    await allow();

    const activeKeys = async () => (await h!.yihao.signingKeys.list()).filter((k) => k.status === 'active').map((k) => k.kid);
    const keysBefore = await activeKeys();
    await refuse('admin.keys.rotated');
    await expect(services.keys.rotate(op)).rejects.toThrow();
    expect(await activeKeys()).toEqual(keysBefore);
    await allow();

    // The CLI's bootstrap (no operator behind it) keeps the same promise.
    await refuse('admin.department.created');
    await expect(services.bootstrap.createDepartment({ name: '无记录的部门', level: 'province', parentId: nation.id })).rejects.toThrow();
    expect(await db('departments').where({ name: '无记录的部门' })).toEqual([]);
    await allow();

    // An account disabled without its record would be an operator acting unseen: it stays active.
    const citizen = await h.citizen();
    const citizenId = (await h.yihao.accounts.findBySub(citizen.sub))!.id;
    await refuse('account.disabled');
    await expect(h.yihao.signOut.disableAccount(citizenId, { actorType: 'operator', actorId: op.sub })).rejects.toThrow();
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.status).toBe('active');
    await allow();
    await h.yihao.signOut.disableAccount(citizenId, { actorType: 'operator', actorId: op.sub });
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.status).toBe('disabled');

    // Everything that did land is in the log, and the log seals intact.
    await h.yihao.auditSealer.sealNow();
    const actions = (await services.audit.query(op, { actor: op.sub, limit: 50 })).events.map((e) => e.action);
    expect(actions.filter((a) => a === 'admin.client.suspended')).toHaveLength(1);
    expect(actions).not.toContain('admin.role.assigned');
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action)).toEqual(['session.ended', 'account.disabled']);
    expect(await h.yihao.services.audit.check()).toMatchObject({ intact: true, unsealed: { count: 0 } });
  });

  it.skipIf(!enabled)('lands no sign-in and no consent whose audit event cannot be written', async () => {
    h = await startHarness({ backend });
    const rp = await relyingParty(h, await h.client({ redirectUris: [REDIRECT], scope: 'openid profile' }));
    const citizen = await h.citizen();
    const db = h.yihao.stores.db;
    const browser = new ScriptedBrowser();
    const request = async (extra: Record<string, string> = {}) => authorizationUrl(rp, oidc.randomPKCECodeVerifier(), extra);
    const creds = { identifier: citizen.citizenId, password: citizen.password };
    /** Where a `prompt=none` request in this browser ends: what the provider knows of it. */
    const silently = async () => (await browser.follow(await request({ prompt: 'none' }), {}, h!.issuer)).url.searchParams.get('error');

    // The right password, but its login.succeeded cannot be written: the browser is not signed in,
    // not even if it goes on to the resume URL itself rather than stopping at the error.
    let allow = await refuseAuditEvents(db, 'login.succeeded');
    const { res, url } = await browser.follow(await request(), {}, h.issuer);
    const page = await res.text();
    const posted = await browser.follow(new URL(formAction(page, '/login')!, url), { form: { csrf: formField(page, 'csrf')!, ...creds } }, h.issuer);
    expect(posted.res.status).toBeGreaterThanOrEqual(500);
    const uid = url.pathname.split('/').at(-1)!;
    const resumed = await browser.follow(new URL(`/auth/${uid}`, h.issuer), {}, h.issuer);
    expect(resumed.url.origin, 'no code for a login without its record').toBe(new URL(h.issuer).origin);
    expect(await silently()).toBe('login_required');
    await allow();

    // Signed in, but the consent's event cannot be written: no grant, so the app would still ask.
    allow = await refuseAuditEvents(db, 'consent.granted');
    await expect(scriptedSignIn(browser, await request(), creds)).rejects.toThrow(/unexpected 5\d\d/);
    expect(await silently()).toBe('consent_required');
    await allow();

    const back = await scriptedSignIn(browser, await request(), creds);
    expect(back.searchParams.get('code')).toBeTruthy();
    const actions = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(actions.filter((a) => a === 'login.succeeded')).toHaveLength(1);
    expect(actions.filter((a) => a === 'consent.granted')).toHaveLength(1);
  });
});
