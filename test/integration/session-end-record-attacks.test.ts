/**
 * A sign-out lands with its record, or not at all (docs/audit.md, "Shape"), on both backends. The
 * audit store refuses the record while a citizen signs out everywhere or ends a session in the
 * portal, or an operator disables the account, as a failing store (or an attacker who can make it
 * fail) would. Before, the browser sessions went first and their apps were told by back-channel
 * logout, with the record written after (or, for a single session and a disable's sign-out,
 * written after every change): a failure left the citizen signed out with no trace of it. Now the
 * request fails and nothing changed: the sessions still sign in silently, the apps keep their
 * grants and were told nothing; the same request made again does it all, recorded once.
 *
 * A removed key is the exception: its removal commits with its own record first (a login that
 * races the removal must find the key revoked), and what it let in must end even when the
 * sign-out's record then fails; before, the held sign-out left the thief's logins alive, and the
 * retry found no key to remove.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { refuseAuditEvents } from '../support/audit.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { openPortal, submitPortalForm } from '../support/portal-browser.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { consentedSignIn, logOutThroughApp } from '../support/grant-revocations.js';
import { operator, type SignedInOperator } from '../support/admin-operators.js';
import { MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a sign-out and its record ($backend)', ({ backend, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let receiver: Awaited<ReturnType<typeof logoutReceiver>>;
  let superAdmin: SignedInOperator;
  let mobileApp: { client_id: string };

  beforeAll(async () => {
    if (!enabled) return;
    // The apps' back-channel logout endpoints are on loopback here.
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    receiver = await logoutReceiver();
    // No offline_access: the grant ends with the browser session it was given in.
    rp = await relyingParty(h, await h.client({ name: '登出记录应用', grantTypes: ['authorization_code'], scope: 'openid profile', backchannelLogoutUri: receiver.url }));
    const dept = await h.yihao.admin.services.bootstrap.createDepartment({ name: '登出记录中心', level: 'national' });
    superAdmin = await operator(h, [{ role: 'super-admin', departmentId: dept.id }], '钱管理');
    mobileApp = await registerMobileApp(h);
  }, 120_000);
  afterAll(async () => {
    receiver?.server.close();
    await h?.close();
  });

  const db = () => h.yihao.stores.db;
  const records = async (sub: string, action: string) => (await h.yihao.services.audit.forAccount(sub, 500)).filter((e) => e.action === action).length;
  /** The app's grants (the portal has its own). */
  const grantsOf = async (sub: string) =>
    ((await db()('account_index').where({ model: 'Grant', account_id: sub, client_id: rp.clientMetadata().client_id }).select('id')) as { id: string }[]).length;

  /** Whether the browser's Yihao session still signs it in to the app without a password. */
  async function silentlySignedIn(browser: ScriptedBrowser): Promise<boolean> {
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }), {}, h.issuer);
    if (url.searchParams.get('code')) return true;
    expect(url.searchParams.get('error')).toBe('login_required');
    return false;
  }

  /** A citizen signed in to the app in one browser and to the portal in another. */
  async function citizenWithTwoBrowsers() {
    const citizen = await h.citizen();
    const app = new ScriptedBrowser();
    await consentedSignIn(app, rp, citizen, 'openid profile');
    const portal = new ScriptedBrowser();
    expect((await openPortal(h, portal, citizen, '/account/sessions')).status).toBe(200);
    expect(await silentlySignedIn(app)).toBe(true);
    return { citizen, app, portal };
  }

  /** Runs `attempt` while the audit store refuses `action`; whether it failed. */
  async function failsWhileRefused(action: string, attempt: () => Promise<void>): Promise<boolean> {
    const allow = await refuseAuditEvents(db(), action);
    try {
      return await attempt().then(
        () => false,
        () => true,
      );
    } finally {
      await allow();
    }
  }

  const noticesFor = (since: number) => receiver.tokens.length - since;

  it.skipIf(!enabled)('signing out everywhere in the portal: with session.ended refused, every session still signs in and no app was told', async () => {
    const { citizen, app, portal } = await citizenWithTwoBrowsers();
    const notices = receiver.tokens.length;
    const signOutEverywhere = async () => {
      const page = await openPortal(h, portal, citizen, '/account/sessions');
      const res = await submitPortalForm(h, portal, page.page, '/account/sessions/end-all');
      await res.arrayBuffer();
      if (res.status !== 303) throw new Error(`the portal answered ${res.status}`);
    };
    expect(await failsWhileRefused('session.ended', signOutEverywhere)).toBe(true);
    expect(await records(citizen.sub, 'session.ended')).toBe(0);
    expect(await silentlySignedIn(app), 'the app’s browser was signed out without a record').toBe(true);
    expect(noticesFor(notices), 'the app was told of a sign-out that did not happen').toBe(0);
    expect(await grantsOf(citizen.sub)).toBe(1);
    await signOutEverywhere();
    expect(await silentlySignedIn(app)).toBe(false);
    expect(noticesFor(notices)).toBe(1);
    expect(await grantsOf(citizen.sub)).toBe(0);
    expect(await records(citizen.sub, 'session.ended')).toBe(1);
  });

  it.skipIf(!enabled)('ending a session in the portal: with session.ended refused, it still signs in, and its app keeps its grant', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    await consentedSignIn(browser, rp, citizen, 'openid profile');
    const notices = receiver.tokens.length;
    // The portal's own browser session is the app's: ending it ends the app's grant (no offline_access).
    const endOwnSession = async () => {
      const page = await openPortal(h, browser, citizen, '/account/sessions');
      const uid = /name="session" value="([^"]+)"/.exec(page.page)?.[1];
      expect(uid, 'the sessions page lists this session').toBeTruthy();
      const res = await submitPortalForm(h, browser, page.page, '/account/sessions/end', { session: uid! });
      await res.arrayBuffer();
      if (res.status !== 303) throw new Error(`the portal answered ${res.status}`);
    };
    expect(await failsWhileRefused('session.ended', endOwnSession)).toBe(true);
    expect(await records(citizen.sub, 'session.ended')).toBe(0);
    expect(await silentlySignedIn(browser), 'the session ended without a record').toBe(true);
    expect(noticesFor(notices)).toBe(0);
    expect(await grantsOf(citizen.sub)).toBe(1);
    await endOwnSession();
    expect(await silentlySignedIn(browser)).toBe(false);
    expect(noticesFor(notices)).toBe(1);
    expect(await grantsOf(citizen.sub)).toBe(0);
    expect(await records(citizen.sub, 'session.ended')).toBe(1);
  });

  it.skipIf(!enabled)('an app’s logout (RP-initiated, signing out of Yihao too): with session.ended refused, the session still signs in', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const tokens = await consentedSignIn(browser, rp, citizen, 'openid profile');
    const logout = async () => {
      const status = await logOutThroughApp(h.issuer, browser, rp, tokens.id_token!);
      if (status >= 400) throw new Error(`the logout answered ${status}`);
    };
    expect(await failsWhileRefused('session.ended', logout)).toBe(true);
    expect(await records(citizen.sub, 'session.ended')).toBe(0);
    // Its grant went with its own grant.revoked record (the app asks for consent again); the session stays.
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }), {}, h.issuer);
    expect(url.searchParams.get('error'), 'the session ended without its record').toBe('consent_required');
    await logout();
    expect(await silentlySignedIn(browser)).toBe(false);
    expect(await records(citizen.sub, 'session.ended')).toBe(1);
  });

  it.skipIf(!enabled)('an operator disabling an account: with session.ended refused, the account, its sessions and its apps are as they were', async () => {
    const { citizen, app } = await citizenWithTwoBrowsers();
    const notices = receiver.tokens.length;
    const disable = async () => {
      const res = await superAdmin.api('POST', `/accounts/${citizen.sub}/disable`, { reason: 'fraud' });
      if (res.status !== 200) throw new Error(`the admin API answered ${res.status}`);
    };
    expect(await failsWhileRefused('session.ended', disable)).toBe(true);
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.status).toBe('active');
    expect(await records(citizen.sub, 'account.disabled')).toBe(0);
    expect(await silentlySignedIn(app), 'the account’s sessions ended without a record').toBe(true);
    expect(noticesFor(notices)).toBe(0);
    expect(await grantsOf(citizen.sub)).toBe(1);
    await disable();
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.status).toBe('disabled');
    expect(await silentlySignedIn(app)).toBe(false);
    expect(noticesFor(notices)).toBe(1);
    expect(await grantsOf(citizen.sub)).toBe(0);
    expect(await records(citizen.sub, 'account.disabled')).toBe(1);
    expect(await records(citizen.sub, 'session.ended')).toBe(1);
  });

  it.skipIf(!enabled)('removing a lost phone’s device key through the app: with session.ended refused, the logins the key made still end', async () => {
    const { citizen, phone: lost, totpSecret } = await phoneWithDeviceKey(h, mobileApp);
    const tokens = await lost.loginWithDeviceKey(undefined, 'openid profile offline_access');
    const fresh = await MobileApp.create(h, mobileApp);
    await fresh.signInWithBrowser(citizen, { secret: totpSecret });
    const remove = async () => {
      const res = await fresh.call('DELETE', `/mobile/device-keys/${lost.deviceKeyId!}`);
      if (res.status !== 204) throw new Error(`the app API answered ${res.status}`);
    };
    expect(await failsWhileRefused('session.ended', remove)).toBe(true);
    // The key is gone with its record; so is what it let in, although the sign-out's own record failed.
    expect(await records(citizen.sub, 'credential.removed')).toBe(1);
    await expect(oidc.refreshTokenGrant(lost.rp, tokens.refresh_token!, undefined, { DPoP: lost.dpop }), 'the removed key’s login outlived it').rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await lost.call('GET', '/mobile/device-keys')).toMatchObject({ status: 401 });
    // The new phone's own login did not come from the removed key.
    expect((await fresh.call('GET', '/mobile/device-keys')).status).toBe(200);
  });
});
