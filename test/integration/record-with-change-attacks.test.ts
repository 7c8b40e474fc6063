/**
 * "No action lands without its record" (docs/audit.md "Shape"), for the actions a helper's review
 * found outside their change's transaction. For each, its audit event is refused (a trigger on
 * audit_events, as a failing audit store would) and the action is attempted through its real
 * interface: the change must not land. Once allowed, the retry lands it with exactly one record.
 * Four failed before their fix: a passkey added in the portal, an authenticator app bound at
 * sign-in, a device key enrolled through the app, and a QR sign-in approved on the phone each
 * landed without their record; so did a raised identity proofing level (the raise followed the
 * evidence's transaction). The admin API's department and role changes held.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { refuseAuditEvents } from '../support/audit.js';
import { operator, walkSignIn, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { continueQr, MobileApp, phoneWithDeviceKey, registerMobileApp, startQrSignIn } from '../support/mobile-app.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

const LOA2 = 'urn:yihao:loa:2';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a business change and its record land together ($backend)', ({ backend, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let mobile: { client_id: string };
  let admin: SignedInOperator;
  let nationId: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, host: 'localhost' });
    rp = await relyingParty(h, await h.client({ name: '复审记录应用', redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true }));
    mobile = await registerMobileApp(h);
    const nation = await h.yihao.admin.services.bootstrap.createDepartment({ name: '国家复审中心', level: 'national' });
    nationId = nation.id;
    admin = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '复审管理员');
  }, 180_000);
  afterAll(async () => h?.close());

  const db = () => h.yihao.stores.db;
  const accountIdOf = async (sub: string) => (await h.yihao.accounts.findBySub(sub))!.id;
  const records = async (sub: string, action: string) => (await h.yihao.services.audit.forAccount(sub, 500)).filter((e) => e.action === action).length;
  /** Runs `attempt` while `action`'s events are refused, always lifting the refusal after. */
  async function refused<T>(action: string, attempt: () => Promise<T>): Promise<T> {
    const allow = await refuseAuditEvents(db(), action);
    try {
      return await attempt();
    } finally {
      await allow();
    }
  }

  it.skipIf(!enabled)('admin API: a department created without its admin.department.created does not exist', async () => {
    const res = await refused('admin.department.created', () => admin.api('POST', '/departments', { name: '复审无记录省', level: 'province', parent_id: nationId }));
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await db()('departments').where({ name: '复审无记录省' })).toEqual([]);
    const again = await admin.api('POST', '/departments', { name: '复审无记录省', level: 'province', parent_id: nationId });
    expect(again.status).toBe(201);
    expect(await db()('audit_events').where({ action: 'admin.department.created', department_id: again.body.id })).toHaveLength(1);
  });

  it.skipIf(!enabled)('admin API: a role granted or taken away without its record does not change', async () => {
    const newcomer = await h.citizen({ name: '复审新人' });
    const assign = { sub: newcomer.sub, role: 'auditor', department_id: nationId };
    const res = await refused('admin.role.assigned', () => admin.api('POST', '/role-assignments', assign));
    expect(res.status).toBeGreaterThanOrEqual(500);
    const accountId = await accountIdOf(newcomer.sub);
    expect(await db()('role_assignments').where({ account_id: accountId })).toEqual([]);
    const granted = await admin.api('POST', '/role-assignments', assign);
    expect(granted.status).toBe(201);
    const revoked = await refused('admin.role.revoked', () => admin.api('DELETE', `/role-assignments/${granted.body.id as string}`));
    expect(revoked.status).toBeGreaterThanOrEqual(500);
    expect(await db()('role_assignments').where({ account_id: accountId }), 'the role went without its record').toHaveLength(1);
    expect((await admin.api('DELETE', `/role-assignments/${granted.body.id as string}`)).status).toBe(204);
    expect(await db()('role_assignments').where({ account_id: accountId })).toEqual([]);
    expect(await records(newcomer.sub, 'admin.role.assigned')).toBe(1);
    expect(await records(newcomer.sub, 'admin.role.revoked')).toBe(1);
  });

  it.skipIf(!enabled)('portal: a passkey whose credential.added cannot be written is not added', async () => {
    const who = await h.citizen();
    const accountId = await accountIdOf(who.sub);
    const origin = new URL(h.issuer).origin;
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${h.issuer}/account/credentials?ui_locales=en`), who, () => false);
    const csrf = formField(first.html!, 'csrf')!;
    const auth = new SoftAuthenticator(origin, new URL(h.issuer).hostname);
    const addOne = async () => {
      const options = await browser.request(`${h.issuer}/account/passkeys/options`, { form: { csrf } });
      expect(options.status).toBe(200);
      const { json } = auth.create((await options.json()) as never, {});
      const res = await browser.request(`${h.issuer}/account/passkeys`, { form: { csrf, credential: json } });
      await res.arrayBuffer();
      return res;
    };
    const res = await refused('credential.added', addOne);
    expect(res.status === 303 && /passkey_added/.test(res.headers.get('location') ?? ''), 'the portal answered "passkey added" without its record').toBe(false);
    expect(await db()('passkeys').where({ account_id: accountId }), 'a passkey was bound with no record of it').toHaveLength(0);
    const again = await addOne();
    expect(again.headers.get('location')).toContain('passkey_added');
    expect(await db()('passkeys').where({ account_id: accountId })).toHaveLength(1);
    expect(await records(who.sub, 'credential.added')).toBe(1);
  });

  it.skipIf(!enabled)('sign-in: an authenticator app (TOTP) whose credential.added cannot be written is not enrolled', async () => {
    const who = await h.citizen();
    const accountId = await accountIdOf(who.sub);
    const start = async () => authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { acr_values: LOA2, prompt: 'login' });
    const walk = await refused('credential.added', async () => walkSignIn(new ScriptedBrowser(), await start(), who, (u) => u.href.startsWith(REDIRECT)));
    expect(walk.html, 'the sign-in went through without its enrolment record').toBeDefined();
    expect(await db()('credentials').where({ account_id: accountId, type: 'totp' }), 'an authenticator app was bound with no record of it').toHaveLength(0);
    const done = await walkSignIn(new ScriptedBrowser(), await start(), who, (u) => u.href.startsWith(REDIRECT));
    expect(done.url.searchParams.get('code')).toBeTruthy();
    expect(await db()('credentials').where({ account_id: accountId, type: 'totp' })).toHaveLength(1);
    expect(await records(who.sub, 'credential.added')).toBe(1);
  });

  it.skipIf(!enabled)('mobile app: a device key whose credential.added cannot be written is not enrolled', async () => {
    const who = await h.citizen();
    const accountId = await accountIdOf(who.sub);
    const phone = await MobileApp.create(h, mobile);
    await phone.signInWithBrowser(who);
    const res = await refused('credential.added', () => phone.enrolDeviceKey());
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(await db()('device_keys').where({ account_id: accountId }).whereNull('revoked_at'), 'a device key was enrolled with no record of it').toHaveLength(0);
    const before = await records(who.sub, 'credential.added');
    await phone.newDeviceKey();
    expect((await phone.enrolDeviceKey()).status).toBe(201);
    expect(await db()('device_keys').where({ account_id: accountId }).whereNull('revoked_at')).toHaveLength(1);
    expect(await records(who.sub, 'credential.added')).toBe(before + 1);
  });

  it.skipIf(!enabled)("mobile app: a QR approval whose approval.approved cannot be written does not sign the browser in", async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, mobile);
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    const id = scanned.json.id as string;
    const decided = await refused('approval.approved', () => phone.decide(id, 'approve'));
    expect(decided.status).toBeGreaterThanOrEqual(500);
    const row = (await db()('approval_requests').where({ id }).first()) as { status: string };
    expect(row.status, 'the approval landed with no record of it').toBe('pending');
    const back = await continueQr(qr.browser, qr.qr, qr.origin);
    expect(back.kind, 'the browser was signed in by an unrecorded approval').not.toBe('rp');
    expect(await records(citizen.sub, 'approval.approved')).toBe(0);
  });

  it.skipIf(!enabled)('identity proofing: a raised level whose identity.proofing_raised cannot be written is not raised, and its evidence is not kept', async () => {
    const proofing = h.yihao.services.proofing;
    const clientId = rp.clientMetadata().client_id;
    // A chip read raises at once: the evidence, its record and the raise commit together or not at all.
    const chip = await h.citizen();
    const chipAccount = (await h.yihao.accounts.findBySub(chip.sub))!;
    const read = () => proofing.record({ account: chipAccount, method: 'id_chip', channel: 'kiosk', clientId, actor: { type: 'kiosk', id: clientId }, documentType: 'idcard' });
    await expect(refused('identity.proofing_raised', read)).rejects.toThrow();
    expect((await h.yihao.accounts.findBySub(chip.sub))!.assurance, 'the level stood without its record').toBe('self_asserted');
    expect(await db()('identity_proofing_evidence').where({ account_id: chipAccount.id })).toHaveLength(0);
    expect(await read()).toMatchObject({ raised: true });
    expect(await records(chip.sub, 'identity.proofing_raised')).toBe(1);

    // A check confirmed later: the confirmation, its record and the raise, together.
    const checked = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(checked.sub))!;
    const { evidenceId } = await proofing.record({ account, method: 'in_person', channel: 'counter', clientId, actor: { type: 'staff', id: 'some-staff-sub' }, documentType: 'idcard' });
    const confirm = () => proofing.confirm(evidenceId, { type: 'citizen', sub: checked.sub, accountId: account.id });
    await expect(refused('identity.proofing_raised', confirm)).rejects.toThrow();
    expect((await h.yihao.accounts.findBySub(checked.sub))!.assurance, 'the level stood without its record').toBe('self_asserted');
    expect(await db()('identity_proofing_evidence').where({ id: evidenceId }).first()).toMatchObject({ status: 'pending' });
    expect(await confirm()).toEqual({ ok: true, raised: true });
    expect(await records(checked.sub, 'identity.proofing_raised')).toBe(1);
  });
});
