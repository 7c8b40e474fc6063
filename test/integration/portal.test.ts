/**
 * The citizen portal at /account, driven the way a browser without JavaScript would: it signs in
 * through Yihao's real login page (the portal is a relying party of Yihao), reads the pages and
 * posts their forms. Relying parties are openid-client instances.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { MobileApp, registerMobileApp, totpCode } from '../support/mobile-app.js';
import { addTotp } from '../support/second-factors.js';
import { openPortal, submitPortalForm as submit } from '../support/portal-browser.js';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

let phoneCounter = 0;
const freshPhone = () => `136${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/**
 * Follows the portal's answer to a removal that wanted a fresh sign-in at loa:2: the password, then
 * the code from the authenticator app; back at the sign-in methods page.
 */
async function signInAtLoa2(browser: ScriptedBrowser, answer: Response, who: Citizen, totpSecret: string, totpStep = 0): Promise<{ url: URL; page: string }> {
  expect(answer.status).toBe(303);
  const reauth = new URL(answer.headers.get('location')!);
  expect(reauth.pathname).toBe('/auth');
  expect(reauth.searchParams.get('prompt')).toBe('login');
  expect(reauth.searchParams.get('acr_values')).toBe('urn:yihao:loa:2');
  const login = await browser.follow(reauth);
  const loginPage = await login.res.text();
  const second = await browser.follow(new URL(formAction(loginPage, '/login')!, login.url), { form: { csrf: formField(loginPage, 'csrf')!, identifier: who.citizenId, password: who.password } });
  const secondPage = await second.res.text();
  const back = await browser.follow(new URL(formAction(secondPage, '/second-factor')!, second.url), { form: { csrf: formField(secondPage, 'csrf')!, code: await totpCode(totpSecret, totpStep) } });
  return { url: back.url, page: await back.res.text() };
}

/** The `<section>` of a page that holds `marker` (a name, a data attribute). */
function sectionWith(page: string, marker: string): string | undefined {
  return page.split('<section').find((s) => s.includes(marker));
}

async function signInAtApp(h: Harness, client: { client_id: string; client_secret?: string }, who: Citizen, browser = new ScriptedBrowser()) {
  const rp = await relyingParty(h, client);
  const verifier = oidc.randomPKCECodeVerifier();
  const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: who.citizenId, password: who.password });
  const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
  return { rp, browser, tokens };
}

/** What a `prompt=none` request in this browser gets back: a code (still signed in) or an error. */
async function silentSignIn(h: Harness, app: Awaited<ReturnType<typeof signInAtApp>>): Promise<{ code: string | null; error: string | null }> {
  const { url } = await app.browser.follow(await authorizationUrl(app.rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
  return { code: url.searchParams.get('code'), error: url.searchParams.get('error') };
}

describe.each(backends)('the citizen portal ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string; client_secret?: string };
  /** An app that may hold a grant beyond the browser session (offline_access). */
  let offlineApp: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    app = await h.client({ name: '社保查询 Social Security', grantTypes: ['authorization_code', 'refresh_token'] });
    offlineApp = await h.client({ name: '公积金 Housing Fund', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
  });
  afterAll(async () => {
    await h?.close();
  });

  it.skipIf(!enabled)('signs the citizen in through Yihao and shows the profile with the ID number masked, never in full', async () => {
    const citizen = await h.citizen({ phone: '13800138000', name: '李四' });
    const browser = new ScriptedBrowser();
    const profile = await openPortal(h, browser, citizen);
    expect(profile.status).toBe(200);
    expect(profile.url.pathname).toBe('/account');
    expect(profile.page).toContain('<html lang="zh-CN">');
    expect(profile.page).toContain('李四');
    const masked = `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`;
    expect(profile.page).toContain(masked);
    expect(profile.page).toContain('138 **** 8000');
    expect(profile.page).toContain(`${citizen.citizenId.slice(6, 10)}-${citizen.citizenId.slice(10, 12)}-${citizen.citizenId.slice(12, 14)}`);
    expect(profile.page).toContain('data-value="self_asserted"');

    // Every page, in both languages: the full number appears nowhere.
    for (const path of ['/account', '/account/credentials', '/account/sessions', '/account/apps', '/account/history']) {
      for (const query of ['', '?ui_locales=en']) {
        const { status, page } = await openPortal(h, browser, citizen, `${path}${query}`);
        expect(status, path).toBe(200);
        expect(page, path).not.toContain(citizen.citizenId);
        expect(page, path).not.toContain(citizen.citizenId.slice(6, 14));
        expect(page, path).not.toContain('13800138000');
      }
    }
    // The language chosen with ui_locales sticks (a cookie) until changed.
    const english = await openPortal(h, browser, citizen, '/account/sessions');
    expect(english.page).toContain('<html lang="en">');
    expect(english.page).toContain('End this session');
  });

  it.skipIf(!enabled)("lists an app's consent, and revoking it makes that app's refresh token fail", async () => {
    const citizen = await h.citizen();
    const atApp = await signInAtApp(h, app, citizen);
    // A working refresh token (rotated on use: keep the newest).
    const refreshed = await oidc.refreshTokenGrant(atApp.rp, atApp.tokens.refresh_token!);

    const browser = new ScriptedBrowser();
    const apps = await openPortal(h, browser, citizen, '/account/apps');
    const card = sectionWith(apps.page, `data-client="${app.client_id}"`);
    expect(card).toContain('社保查询 Social Security');
    expect(card).toContain('姓名、出生日期和性别');
    expect(apps.page).not.toContain('data-client="yihao-portal"');

    const res = await submit(h, browser, apps.page, '/account/apps/revoke', { client_id: app.client_id });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/apps?notice=consent_revoked');
    const after = await openPortal(h, browser, citizen, '/account/apps?notice=consent_revoked');
    expect(after.page).toContain('role="status"');
    expect(after.page).not.toContain(`data-client="${app.client_id}"`);

    // The app's newest refresh token and its access token are dead; it must ask for consent again.
    await expect(oidc.refreshTokenGrant(atApp.rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(atApp.rp, refreshed.access_token)).active).toBe(false);
    expect(await silentSignIn(h, atApp)).toEqual({ code: null, error: 'consent_required' });

    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'consent.revoked')).toMatchObject({ actorType: 'citizen', actorId: citizen.sub, clientId: app.client_id, channel: 'web' });
  });

  it.skipIf(!enabled)('ending a session from the portal logs that browser out', async () => {
    const citizen = await h.citizen();
    const browserA = await signInAtApp(h, app, citizen);
    expect((await silentSignIn(h, browserA)).code).toBeTruthy();

    const browserB = new ScriptedBrowser();
    const sessions = await openPortal(h, browserB, citizen, '/account/sessions');
    expect(sessions.page.match(/data-session="/g)).toHaveLength(2);
    const cardA = sectionWith(sessions.page, '社保查询 Social Security')!;
    expect(cardA).not.toContain('当前浏览器');
    expect(cardA).toContain('data-channel="web"');
    expect(cardA).toContain('data-amr="pwd"');
    expect(sectionWith(sessions.page, '当前浏览器')).toContain('一号个人中心');
    const uidA = /data-session="([^"]+)"/.exec(cardA)![1]!;

    const res = await submit(h, browserB, sessions.page, '/account/sessions/end', { session: uidA });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/sessions?notice=session_ended');

    // Browser A is signed out; its session-bound refresh token went with the session.
    expect(await silentSignIn(h, browserA)).toEqual({ code: null, error: 'login_required' });
    await expect(oidc.refreshTokenGrant(browserA.rp, browserA.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Browser B is still in the portal, with one session left.
    const left = await openPortal(h, browserB, citizen, '/account/sessions');
    expect(left.url.pathname).toBe('/account/sessions');
    expect(left.page.match(/data-session="/g)).toHaveLength(1);

    const ended = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended');
    expect(ended).toMatchObject({ actorType: 'citizen', actorId: citizen.sub });
  });

  it.skipIf(!enabled)("ending this browser's own session signs it out of the portal too", async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const sessions = await openPortal(h, browser, citizen, '/account/sessions');
    const own = /data-session="([^"]+)"/.exec(sectionWith(sessions.page, '当前浏览器')!)![1]!;
    const res = await submit(h, browser, sessions.page, '/account/sessions/end', { session: own });
    expect(res.headers.get('location')).toBe('/account/signed-out');
    // Back at /account, the citizen meets the login page: the Yihao session is gone, not just the portal's.
    const { url } = await browser.follow(`${h.issuer}/account`);
    expect(url.pathname).toMatch(/^\/interaction\//);
  });

  it.skipIf(!enabled)('access history lists the sign-in at the app with its channel and method', async () => {
    const citizen = await h.citizen();
    await signInAtApp(h, app, citizen);
    const history = await openPortal(h, new ScriptedBrowser(), citizen, '/account/history?ui_locales=en');
    const row = history.page.split('<tr').find((r) => r.includes('data-action="authorization.granted"') && r.includes(`data-client="${app.client_id}"`));
    expect(row).toBeDefined();
    expect(row).toContain('社保查询 Social Security');
    expect(row).toContain('data-channel="web"');
    expect(row).toContain('>Web<');
    expect(row).toContain('data-amr="pwd"');
    expect(row).toContain('>Password<');
    expect(row).toMatch(/<time datetime="\d{4}-\d\d-\d\dT/);
  });

  it.skipIf(!enabled)("refuses ids of another citizen's grants, sessions and credentials, and changes nothing", async () => {
    const citizen = await h.citizen();
    const other = await h.citizen();
    const otherApp = await h.client({ name: 'Other app', grantTypes: ['authorization_code', 'refresh_token'] });
    const victim = await signInAtApp(h, otherApp, other);
    const entries = await h.yihao.services.accountIndex.list(other.sub);
    const otherGrant = entries.find((e) => e.model === 'Grant')!.id;
    const otherSession = entries.find((e) => e.model === 'Session')!.id;
    const db = h.yihao.stores.db;
    const otherAccount = await h.yihao.accounts.findBySub(other.sub);
    const otherDevice = `c_other_device_${name.length}_${Date.now()}`;
    await db('credentials').insert({ id: otherDevice, account_id: otherAccount!.id, type: 'device', secret: 'sealed-key', created_at: Date.now(), last_used_at: null });

    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/sessions');
    const forged: [string, Record<string, string>][] = [
      ['/account/apps/revoke', { client_id: otherApp.client_id }],
      ['/account/apps/revoke', { client_id: otherGrant }],
      ['/account/apps/revoke', { client_id: 'yihao-portal' }],
      ['/account/sessions/end', { session: otherSession }],
      ['/account/credentials/remove', { credential: otherDevice }],
    ];
    for (const [action, fields] of forged) {
      const res = await submit(h, browser, page, action, fields);
      expect(res.status, `${action} ${JSON.stringify(fields)}`).toBe(404);
    }
    // The other citizen still has everything.
    expect((await oidc.refreshTokenGrant(victim.rp, victim.tokens.refresh_token!)).access_token).toBeTruthy();
    expect((await silentSignIn(h, victim)).code).toBeTruthy();
    expect(await db('credentials').where({ account_id: otherAccount!.id })).toHaveLength(2);
    expect((await h.yihao.services.audit.forAccount(other.sub)).filter((e) => ['consent.revoked', 'session.ended', 'credential.removed'].includes(e.action))).toEqual([]);
  });

  it.skipIf(!enabled)('lists credentials with when they were used; removes one only after a fresh sign-in, and never the password', async () => {
    const citizen = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const db = h.yihao.stores.db;
    const browser = new ScriptedBrowser();
    await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    // A mobile-app device key, as the mobile channel will enrol it.
    const deviceId = `c_device_${name.length}_${Date.now()}`;
    await db('credentials').insert({ id: deviceId, account_id: account.id, type: 'device', secret: 'sealed-key', created_at: Date.now() - 86_400_000, last_used_at: null });

    let { page } = await openPortal(h, browser, citizen, '/account/credentials');
    const password = sectionWith(page, 'data-credential-type="password"')!;
    expect(password).not.toContain('<form');
    expect(password).toContain('Last used');
    expect(password).not.toContain('Never');
    expect(page).not.toContain('sealed-key');
    const device = sectionWith(page, 'data-credential-type="device"')!;
    expect(device).toContain('Never');
    expect(device).toContain('aria-label="Remove Mobile app device key"');

    const passwordId = (await db('credentials').where({ account_id: account.id, type: 'password' }).first()).id as string;
    expect((await submit(h, browser, page, '/account/credentials/remove', { credential: passwordId })).status).toBe(404);

    // An hour later the portal sign-in is too old for this: the citizen signs in again first.
    const portalSessions = new h.yihao.services.Adapter('PortalSession');
    const portalId = /yihao_portal=([^;]+)/.exec(browser.cookieHeader(new URL(`${h.issuer}/account`)))![1]!;
    const stored = (await portalSessions.find(portalId))!;
    await portalSessions.upsert(portalId, { ...stored, authTime: Number(stored.authTime) - 3600 }, 600);
    const stale = await submit(h, browser, page, '/account/credentials/remove', { credential: deviceId });
    expect(stale.status).toBe(303);
    const reauth = new URL(stale.headers.get('location')!);
    expect(reauth.pathname).toBe('/auth');
    expect(reauth.searchParams.get('prompt')).toBe('login');
    expect(await db('credentials').where({ id: deviceId })).toHaveLength(1);
    const login = await browser.follow(reauth);
    expect(login.url.pathname).toMatch(/^\/interaction\//);
    const loginPage = await login.res.text();
    const back = await browser.follow(new URL(formAction(loginPage, '/login')!, login.url), {
      form: { csrf: formField(loginPage, 'csrf')!, identifier: citizen.citizenId, password: citizen.password },
    });
    expect(`${back.url.pathname}${back.url.search}`).toBe('/account/credentials?notice=signed_in_again');
    page = await back.res.text();

    const res = await submit(h, browser, page, '/account/credentials/remove', { credential: deviceId });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect((await db('credentials').where({ account_id: account.id })).map((c: { type: string }) => c.type)).toEqual(['password']);
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'credential.removed')).toMatchObject({ actorType: 'citizen', details: { type: 'device' } });
  });

  it.skipIf(!enabled)('removes the authenticator app (and its recovery codes) only after a sign-in with it at loa:2, never on a password alone; then adding a passkey needs a fresh sign-in', async () => {
    const citizen = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const db = h.yihao.stores.db;
    const { id: totpId, secret } = await addTotp(h, account.id);
    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');

    // The portal sign-in was a password alone (loa:1): it may not take the second factor away.
    const refused = await submit(h, browser, page, '/account/credentials/remove', { credential: totpId });
    expect(await db('credentials').where({ id: totpId })).toHaveLength(1);
    expect(await db('recovery_codes').where({ account_id: account.id })).toHaveLength(3);
    const back = await signInAtLoa2(browser, refused, citizen, secret);
    expect(`${back.url.pathname}${back.url.search}`).toBe('/account/credentials?notice=signed_in_again');

    const res = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await db('credentials').where({ id: totpId })).toHaveLength(0);
    expect(await db('recovery_codes').where({ account_id: account.id })).toHaveLength(0);
    // No second factor and no mobile number left: a fresh sign-in is all that adding a passkey needs.
    expect((await openPortal(h, browser, citizen, '/account/credentials')).page).toContain('data-passkey="register"');

    // An hour later the page offers a fresh sign-in instead, and the options endpoint refuses.
    const portalSessions = new h.yihao.services.Adapter('PortalSession');
    const portalId = /yihao_portal=([^;]+)/.exec(browser.cookieHeader(new URL(`${h.issuer}/account`)))![1]!;
    const stored = (await portalSessions.find(portalId))!;
    await portalSessions.upsert(portalId, { ...stored, authTime: Number(stored.authTime) - 3600 }, 600);
    const stale = (await openPortal(h, browser, citizen, '/account/credentials')).page;
    expect(stale).not.toContain('data-passkey="register"');
    expect(stale).toContain('Sign in again to add one');
    expect((await submit(h, browser, stale, '/account/passkeys/options', {})).status).toBe(403);
    const add = await submit(h, browser, stale, '/account/passkeys', { credential: '{}' });
    expect(add.headers.get('location')).toBe('/account/credentials');
    expect(await db('passkeys').where({ account_id: account.id })).toHaveLength(0);
  });

  /**
   * Someone who has the password and a copy of the authenticator app's secret signs in to the app at
   * loa:2 (with the code of the current time step; the citizen's own code is the next one's, or it
   * would be a replay); then the citizen signs in with the app too and removes it.
   */
  async function signInWithCopiedTotp(citizen: Citizen, secret: string, { offline = false } = {}) {
    const rp = await relyingParty(h, offline ? offlineApp : app);
    const verifier = oidc.randomPKCECodeVerifier();
    const browser = new ScriptedBrowser();
    const url = await authorizationUrl(rp, verifier, { acr_values: 'urn:yihao:loa:2', ...(offline ? { scope: 'openid offline_access', prompt: 'consent' } : {}) });
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password, otp: () => totpCode(secret) });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect(tokens.claims()?.acr).toBe('urn:yihao:loa:2');
    expect(tokens.refresh_token).toBeTruthy();
    return { rp, browser, tokens };
  }
  async function removeTotpInPortal(citizen: Citizen, totpId: string, secret: string): Promise<ScriptedBrowser> {
    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    const back = await signInAtLoa2(browser, await submit(h, browser, page, '/account/credentials/remove', { credential: totpId }), citizen, secret, 1);
    const res = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    return browser;
  }

  it.skipIf(!enabled)("removing the authenticator app ends what a sign-in with it let in elsewhere: the other browser's session and its app's tokens; the citizen's own session goes on", async () => {
    const citizen = await h.citizen();
    const { id: totpId, secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
    const stolen = await signInWithCopiedTotp(citizen, secret);
    const browser = await removeTotpInPortal(citizen, totpId, secret);

    // The other browser is signed out, and the app's tokens from that sign-in are dead.
    expect((await silentSignIn(h, stolen)).error).toBe('login_required');
    await expect(oidc.refreshTokenGrant(stolen.rp, stolen.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(stolen.rp, stolen.tokens.access_token, citizen.sub)).rejects.toThrow();
    // The session the citizen removed it from goes on.
    expect((await openPortal(h, browser, citizen, '/account/credentials')).url.pathname).toBe('/account/credentials');
    const ended = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended');
    expect(ended).toMatchObject({ details: { reason: 'totp_removed', sessions: 1 } });
  });

  it.skipIf(!enabled)('removing the authenticator app also ends an app grant from a sign-in with it whose browser session has already ended', async () => {
    const citizen = await h.citizen();
    const { id: totpId, secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
    const stolen = await signInWithCopiedTotp(citizen, secret, { offline: true });
    // The browser session ends (it expired) while the app keeps its refresh token: only the link
    // from the grant's refresh token to the authenticator app finds it now.
    const Session = new h.yihao.services.Adapter('Session');
    for (const { model, id } of await h.yihao.services.accountIndex.list(citizen.sub)) {
      const session = model === 'Session' ? await Session.findByUid(id) : undefined;
      if (session?.jti) await Session.destroy(session.jti);
    }
    const refreshed = await oidc.refreshTokenGrant(stolen.rp, stolen.tokens.refresh_token!);
    await removeTotpInPortal(citizen, totpId, secret);
    await expect(oidc.refreshTokenGrant(stolen.rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const ended = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended');
    expect(ended).toMatchObject({ details: { reason: 'totp_removed', sessions: 0, grants: 1 } });
  });

  /**
   * Someone with the password and a copy of the authenticator app's secret signs the government app
   * in with them (the code of the current time step) and enrols the phone's device key: a sign-in
   * method of their own, which outlives the copied app.
   */
  async function phoneFromCopiedTotp(citizen: Citizen, secret: string) {
    const client = await registerMobileApp(h);
    const phone = await MobileApp.create(h, client);
    const browser = new ScriptedBrowser();
    await phone.signInWithBrowser(citizen, { secret, step: 0 }, browser);
    const enrolled = await phone.enrolDeviceKey({ name: 'attacker phone' });
    expect(enrolled.status).toBe(201);
    return { client, browser, phone, deviceKeyId: String(enrolled.json.id) };
  }
  /** A citizen with an authenticator app, and the app's secret. */
  async function citizenWithApp() {
    const citizen = await h.citizen();
    const { id: totpId, secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
    return { citizen, totpId, secret };
  }
  /** The citizen signs in to the portal again with the app (the next time step) and asks to remove it. */
  async function askToRemoveTotp(citizen: Citizen, totpId: string, secret: string) {
    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    const back = await signInAtLoa2(browser, await submit(h, browser, page, '/account/credentials/remove', { credential: totpId }), citizen, secret, 1);
    const asked = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId });
    return { browser, back, asked };
  }

  it.skipIf(!enabled)('removing the authenticator app asks about a device key enrolled from a sign-in with it, and removes that too when the citizen says so', async () => {
    const { citizen, totpId, secret } = await citizenWithApp();
    const { phone, deviceKeyId } = await phoneFromCopiedTotp(citizen, secret);

    const { browser, back, asked } = await askToRemoveTotp(citizen, totpId, secret);
    // Nothing is removed yet: the citizen is shown what was added from the app's sign-ins.
    expect(asked.status).toBe(200);
    const question = await asked.text();
    expect(question).toContain(`data-bound="${deviceKeyId}"`);
    expect(question).toContain('attacker phone');
    expect(await h.yihao.stores.db('credentials').where({ id: totpId }).first()).toBeDefined();

    const res = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId, bound: 'remove', listed: formField(question, 'listed')! });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await h.yihao.channels.deviceKeys.find(deviceKeyId)).toBeUndefined();
    // The phone can no longer sign in with its key.
    await expect(phone.loginWithDeviceKey()).rejects.toMatchObject({ error: 'invalid_grant' });
    const removed = (await h.yihao.services.audit.forAccount(citizen.sub)).filter((e) => e.action === 'credential.removed');
    expect(removed.map((e) => e.details)).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'totp' }), expect.objectContaining({ type: 'device', deviceKeyId, reason: 'bound_from_removed' })]));
  });

  it.skipIf(!enabled)('removes only what the question listed: a device key enrolled after it was shown is asked about first, and an answer without the list is asked again', async () => {
    const { citizen, totpId, secret } = await citizenWithApp();
    const first = await phoneFromCopiedTotp(citizen, secret);
    const { browser, back, asked } = await askToRemoveTotp(citizen, totpId, secret);
    const question = await asked.text();
    expect(formField(question, 'listed')).toBe(first.deviceKeyId);

    // Another phone is enrolled from the copied app while the question is on the citizen's screen.
    const phone = await MobileApp.create(h, first.client);
    await phone.signInWithSession(first.browser);
    const later = await phone.enrolDeviceKey({ name: 'second phone' });
    expect(later.status).toBe(201);
    const laterId = String(later.json.id);

    // "Remove these as well" for the list shown: asked again, with the new one listed too.
    const again = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId, bound: 'remove', listed: formField(question, 'listed')! });
    expect(again.status).toBe(200);
    const second = await again.text();
    expect(second).toContain(`data-bound="${laterId}"`);
    expect(await h.yihao.stores.db('credentials').where({ id: totpId }).first()).toBeDefined();
    // A posted answer with no list (not from the question page) is asked again as well.
    expect((await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId, bound: 'remove' })).status).toBe(200);

    const res = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId, bound: 'remove', listed: formField(second, 'listed')! });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await h.yihao.channels.deviceKeys.find(first.deviceKeyId)).toBeUndefined();
    expect(await h.yihao.channels.deviceKeys.find(laterId)).toBeUndefined();
  });

  it.skipIf(!enabled)('removing the authenticator app keeps a device key enrolled from a sign-in with it when the citizen says so (moving to the government app)', async () => {
    const { citizen, totpId, secret } = await citizenWithApp();
    const { phone, deviceKeyId } = await phoneFromCopiedTotp(citizen, secret);
    const { browser, back, asked } = await askToRemoveTotp(citizen, totpId, secret);
    expect(asked.status).toBe(200);
    const res = await submit(h, browser, back.page, '/account/credentials/remove', { credential: totpId, bound: 'keep' });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await h.yihao.channels.deviceKeys.find(deviceKeyId)).toBeDefined();
    expect((await phone.loginWithDeviceKey()).access_token).toBeTruthy();
  });

  it.skipIf(!enabled)("a portal sign-in whose callback is held past another sign-in in the same browser vouches for no level: removing the copied app leaves its holder nothing", async () => {
    const { citizen, totpId, secret } = await citizenWithApp();
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const { client_id: mobile } = await registerMobileApp(h);
    const { kty, crv, x, y } = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    const own = await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: mobile, jwk: { kty, crv, x, y }, amr: 'swk', name: 'own phone' });
    if (!own.ok) throw new Error('enrolment failed');

    // The thief (password, copied app) signs in to the portal again at loa:2 and holds the callback.
    const thief = new ScriptedBrowser();
    const { page } = await openPortal(h, thief, citizen, '/account/credentials?ui_locales=en');
    const reauth = new URL((await submit(h, thief, page, '/account/passkeys/sign-in')).headers.get('location')!);
    const login = await thief.follow(reauth);
    const loginPage = await login.res.text();
    const second = await thief.follow(new URL(formAction(loginPage, '/login')!, login.url), { form: { csrf: formField(loginPage, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    const secondPage = await second.res.text();
    let res = await thief.request(new URL(formAction(secondPage, '/second-factor')!, second.url), { form: { csrf: formField(secondPage, 'csrf')!, code: await totpCode(secret) } });
    let at = second.url;
    let callback: URL | undefined;
    while (!callback && res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location')!, at);
      if (next.pathname === '/account/callback') callback = next;
      else [at, res] = [next, await thief.request(next)];
    }
    // A sign-in with the password alone at an app in the same browser, then the held callback.
    const rp = await relyingParty(h, app);
    await scriptedSignIn(thief, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'login' }), { identifier: citizen.citizenId, password: citizen.password });
    expect((await thief.follow(callback!)).url.pathname).toBe('/account/credentials');

    await removeTotpInPortal(citizen, totpId, secret);
    // Its portal sign-in counts for no level: no passkey, and no removing the citizen's phone.
    const { page: after } = await openPortal(h, thief, citizen, '/account/credentials?ui_locales=en');
    expect((await submit(h, thief, after, '/account/passkeys/options')).status).toBe(403);
    expect((await submit(h, thief, after, '/account/devices/remove', { device: own.key.id })).headers.get('location')).toMatch(/^http.*\/auth\?/);
    expect(await h.yihao.channels.deviceKeys.find(own.key.id)).toBeDefined();
  });

  it.skipIf(!enabled)('binds a first passkey only after an SMS code to the account\'s mobile number', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const browser = new ScriptedBrowser();
    let { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    expect(page).toContain(`${phone.slice(0, 3)} **** ${phone.slice(7)} with a text message code`);
    expect(page).not.toContain(phone);
    expect(page).not.toContain('data-passkey="register"');
    expect((await submit(h, browser, page, '/account/passkeys/options', {})).status).toBe(403);

    expect((await submit(h, browser, page, '/account/passkeys/send-code', {})).headers.get('location')).toBe('/account/credentials?notice=code_sent');
    const code = (await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'bind_factor'))!;
    const wrong = await submit(h, browser, page, '/account/passkeys/prove-phone', { code: code === '000000' ? '111111' : '000000' });
    expect(wrong.headers.get('location')).toBe('/account/credentials?notice=code_wrong');
    page = (await openPortal(h, browser, citizen, '/account/credentials?notice=code_wrong')).page;
    expect(page).toContain('<p class="error" role="alert">The code is not correct, or it has expired.</p>');
    expect(page).not.toContain('data-passkey="register"');

    const right = await submit(h, browser, page, '/account/passkeys/prove-phone', { code });
    expect(right.headers.get('location')).toBe('/account/credentials?notice=phone_proven');
    page = (await openPortal(h, browser, citizen, '/account/credentials')).page;
    expect(page).toContain('data-passkey="register"');
    const options = await submit(h, browser, page, '/account/passkeys/options', {});
    expect(options.status).toBe(200);
    const json = (await options.json()) as { challenge: string; rp: { id: string }; authenticatorSelection: { userVerification: string } };
    expect(json.rp.id).toBe(new URL(h.issuer).hostname);
    expect(json.authenticatorSelection.userVerification).toBe('required');
    expect(JSON.stringify(json)).not.toContain(citizen.citizenId);
  });

  it.skipIf(!enabled)('binds another passkey only after a sign-in at loa:2 when the account already has a second factor', async () => {
    const citizen = await h.citizen({ phone: freshPhone() });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    await h.yihao.stores.db('credentials').insert({ id: `c_totp2_${name.length}_${Date.now()}`, account_id: account.id, type: 'totp', secret: 'sealed', created_at: Date.now(), last_used_at: null });
    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    expect(page).toContain('Your account has two-step verification. To protect it, sign in again using it before adding a passkey.');
    expect(page).not.toContain('data-passkey="register"');
    expect((await submit(h, browser, page, '/account/passkeys/options', {})).status).toBe(403);
    const again = new URL((await submit(h, browser, page, '/account/passkeys/sign-in', {})).headers.get('location')!);
    expect(again.pathname).toBe('/auth');
    expect(again.searchParams.get('prompt')).toBe('login');
    expect(again.searchParams.get('acr_values')).toBe('urn:yihao:loa:2');
  });

  it.skipIf(!enabled)("lists the government app's device keys among the sign-in methods; removing one revokes it, and only one's own", async () => {
    const citizen = await h.citizen();
    const other = await h.citizen();
    const [account, otherAccount] = [(await h.yihao.accounts.findBySub(citizen.sub))!, (await h.yihao.accounts.findBySub(other.sub))!];
    const enrol = async (accountId: string, name: string) => {
      const { publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const made = await h.yihao.channels.deviceKeys.enrol({ accountId, clientId: 'gov-app', jwk, amr: 'swk', name });
      if (!made.ok) throw new Error('enrolment failed');
      return made.key.id;
    };
    const mine = await enrol(account.id, '我的手机');
    const theirs = await enrol(otherAccount.id, '别人的手机');
    const { secret } = await addTotp(h, account.id);
    const browser = new ScriptedBrowser();
    let { page } = await openPortal(h, browser, citizen, '/account/credentials?ui_locales=en');
    const card = sectionWith(page, `data-device="${mine}"`)!;
    expect(card).toContain('我的手机');
    expect(card).toContain('Never');
    expect(page).not.toContain('别人的手机');

    // A phone key is a second factor: removing it needs a sign-in at loa:2 first.
    const refused = await submit(h, browser, page, '/account/devices/remove', { device: mine });
    expect(await h.yihao.channels.deviceKeys.find(mine)).toBeDefined();
    ({ page } = await signInAtLoa2(browser, refused, citizen, secret));
    expect((await submit(h, browser, page, '/account/devices/remove', { device: theirs })).status).toBe(404);
    expect(await h.yihao.channels.deviceKeys.find(theirs)).toBeDefined();
    const res = await submit(h, browser, page, '/account/devices/remove', { device: mine });
    expect(res.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await h.yihao.channels.deviceKeys.find(mine)).toBeUndefined();
    expect((await openPortal(h, browser, citizen, '/account/credentials')).page).not.toContain(`data-device="${mine}"`);
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'credential.removed')).toMatchObject({ details: { type: 'device' } });
  });

  it.skipIf(!enabled)('refuses a form without its CSRF token, or with the token of another portal session', async () => {
    const citizen = await h.citizen();
    await signInAtApp(h, app, citizen);
    const browser = new ScriptedBrowser();
    const { page } = await openPortal(h, browser, citizen, '/account/apps');
    const other = await openPortal(h, new ScriptedBrowser(), citizen, '/account/apps');

    const missing = await browser.request(`${h.issuer}/account/apps/revoke`, { form: { client_id: app.client_id } });
    expect(missing.status).toBe(403);
    const foreign = await browser.request(`${h.issuer}/account/apps/revoke`, { form: { client_id: app.client_id, csrf: formField(other.page, 'csrf')! } });
    expect(foreign.status).toBe(403);
    const noSession = await new ScriptedBrowser().request(`${h.issuer}/account/apps/revoke`, { form: { client_id: app.client_id, csrf: formField(page, 'csrf')! } });
    expect(noSession.status).toBe(403);
    expect((await openPortal(h, browser, citizen, '/account/apps')).page).toContain(`data-client="${app.client_id}"`);
  });

  it.skipIf(!enabled)('signing out of the portal signs this browser out of Yihao; ending all sessions ends every one', async () => {
    const citizen = await h.citizen();
    const atApp = await signInAtApp(h, app, citizen);
    const browser = new ScriptedBrowser();
    let { page } = await openPortal(h, browser, citizen);
    const out = await submit(h, browser, page, '/account/logout');
    expect(out.headers.get('location')).toBe('/account/signed-out');
    expect((await browser.follow(`${h.issuer}/account`)).url.pathname).toMatch(/^\/interaction\//);
    expect((await silentSignIn(h, atApp)).code, 'the other browser is untouched').toBeTruthy();

    ({ page } = await openPortal(h, browser, citizen, '/account/sessions'));
    const all = await submit(h, browser, page, '/account/sessions/end-all');
    expect(all.headers.get('location')).toBe('/account/signed-out');
    expect(await silentSignIn(h, atApp)).toEqual({ code: null, error: 'login_required' });
    expect((await browser.follow(`${h.issuer}/account`)).url.pathname).toMatch(/^\/interaction\//);
    expect(await h.yihao.services.accountIndex.list(citizen.sub)).toEqual([]);
  });

  it.skipIf(!enabled)("refuses a code injected from another sign-in (PKCE binds it to the browser's own transaction), and does not sign the victim in", async () => {
    /** Signs in at Yihao's login page and stops at the portal's callback, without letting the portal redeem the code. */
    async function callbackOf(browser: ScriptedBrowser, who: Citizen): Promise<URL> {
      const start = await browser.request(`${h.issuer}/account`);
      const { res, url } = await browser.follow(new URL(start.headers.get('location')!, h.issuer));
      const login = await res.text();
      let next = await browser.request(new URL(formAction(login, '/login')!, url), { form: { csrf: formField(login, 'csrf')!, identifier: who.citizenId, password: who.password } });
      let at = new URL(next.headers.get('location')!, url);
      for (let hops = 0; at.pathname !== '/account/callback' && hops < 10; hops++) {
        next = await browser.request(at);
        at = new URL(next.headers.get('location')!, at);
      }
      expect(at.pathname).toBe('/account/callback');
      return at;
    }
    const attacker = await h.citizen();
    const stolen = await callbackOf(new ScriptedBrowser(), attacker);
    const victim = new ScriptedBrowser();
    const started = new URL((await victim.request(`${h.issuer}/account`)).headers.get('location')!, h.issuer);
    const injected = new URL(stolen);
    injected.searchParams.set('state', started.searchParams.get('state')!);
    const res = await victim.request(injected);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('token_exchange_failed');
    // The victim's browser holds no portal session, and the attacker's code is spent for nothing.
    expect((await victim.request(`${h.issuer}/account/sessions`)).status).toBe(303);
  });

  it.skipIf(!enabled)('refuses a callback that this browser did not start, or whose state does not match', async () => {
    const browser = new ScriptedBrowser();
    const stray = await browser.request(`${h.issuer}/account/callback?code=x&state=y`);
    expect(stray.status).toBe(400);
    // Start a real sign-in, then come back with another state.
    const start = await browser.request(`${h.issuer}/account`);
    expect(start.status).toBe(303);
    const auth = new URL(start.headers.get('location')!);
    expect(auth.pathname).toBe('/auth');
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    const forged = await browser.request(`${h.issuer}/account/callback?code=x&state=not-${auth.searchParams.get('state')}`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('state_mismatch');
    expect((await browser.request(`${h.issuer}/account/sessions`)).status).toBe(303);
  });

  // Last in the file: it rotates the signing keys under the other tests.
  it.skipIf(!enabled)('signs citizens in right after a key rotation: the portal checks the ID token with the new key at once, not once its cached keys have aged', async () => {
    const before = await h.citizen();
    expect((await openPortal(h, new ScriptedBrowser(), before)).status).toBe(200);
    await h.yihao.signingKeys.rotate(); // what `yihao keys rotate` does
    expect(await h.yihao.holder.refresh()).toBe(true);
    const after = await h.citizen();
    const profile = await openPortal(h, new ScriptedBrowser(), after);
    expect(profile.status).toBe(200);
    expect(profile.url.pathname).toBe('/account');
  });
});
