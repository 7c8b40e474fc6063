/**
 * Removing a second factor in the portal, tried the way an attacker who holds only the citizen's
 * SMS codes (or only the password) would: sign in at loa:1, strip the authenticator app and the
 * phone key, then bind an own passkey or authenticator app that signs in at loa:2. While the
 * account holds a second factor (TOTP, passkey, the app's device key), every removal needs a fresh
 * sign-in at loa:2, which only that factor gives; the citizen who signs in with it still removes
 * what they want. Driven over HTTP as a browser without JavaScript would, as portal.test.ts does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { continueQr, MobileApp, registerMobileApp } from '../support/mobile-app.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep } from '../support/scripted-browser.js';
import { addTotp } from '../support/second-factors.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const LOA2 = 'urn:yihao:loa:2';

let phoneCounter = 0;
const freshPhone = () => `135${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

describe.each(backends)('removing second factors in the portal ($name)', ({ name, enabled }) => {
  let h: Harness;
  let origin: string;
  let mobileApp: { client_id: string };
  const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);
  const submit = (browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(browser, from, contains, fields, origin);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    origin = new URL(h.issuer).origin;
    mobileApp = await registerMobileApp(h);
  });
  afterAll(async () => h?.close());

  const outbox = () => outboxPath(h.config.dataDir);
  const accountOf = async (who: Citizen) => (await h.yihao.accounts.findBySub(who.sub))!;
  const credentialsPage = async (browser: ScriptedBrowser) => page(await go(browser, `${h.issuer}/account/credentials?ui_locales=en`));
  /** Posts one of the portal's forms with the page's CSRF token; the answer, not followed. */
  const action = (browser: ScriptedBrowser, from: PageStep, path: string, fields: Record<string, string> = {}) =>
    browser.request(`${h.issuer}${path}`, { form: { csrf: formField(from.html, 'csrf')!, ...fields } });

  /** Into the portal with a password alone: loa:1. */
  async function portalByPassword(browser: ScriptedBrowser, who: Citizen): Promise<PageStep> {
    const login = page(await go(browser, `${h.issuer}/account?ui_locales=en`));
    const home = page(await submit(browser, login, '/login', { identifier: who.citizenId, password: who.password }));
    expect(home.url.pathname).toBe('/account');
    return home;
  }

  /** Into the portal with an SMS code alone (what an attacker with the citizen's messages can do): loa:1, amr sms. */
  async function portalBySms(browser: ScriptedBrowser, phone: string): Promise<PageStep> {
    const login = page(await go(browser, `${h.issuer}/account?ui_locales=en`));
    const link = /<a href="([^"]+\/sms)">/.exec(login.html)![1]!;
    const smsPage = page(await go(browser, new URL(link, login.url)));
    const codePage = page(await submit(browser, smsPage, '/sms', { phone }));
    const code = (await latestOutboxCode(outbox(), `+86${phone}`, 'login'))!;
    const home = page(await submit(browser, codePage, '/sms/verify', { code }));
    expect(home.url.pathname).toBe('/account');
    return home;
  }

  /** A removal the portal answered with a sign-in: at Yihao, fresh (prompt=login), at loa:2. */
  function expectLoa2SignIn(res: Response): URL {
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location')!, h.issuer);
    expect(`${to.pathname}${to.search}`).toMatch(/^\/auth\?/);
    expect(to.searchParams.get('prompt')).toBe('login');
    expect(to.searchParams.get('acr_values')).toBe(LOA2);
    return to;
  }

  /** The government app's key for the account, as the mobile channel enrols it (`jwk`: the app's own). */
  async function enrolDeviceKey(accountId: string, jwk?: JWK): Promise<string> {
    const key = jwk ?? (await exportJWK((await generateKeyPair('ES256')).publicKey));
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId, clientId: mobileApp.client_id, jwk: key, amr: 'swk', name: '我的手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    return made.key.id;
  }

  it.skipIf(!enabled)("refuses an SMS sign-in's removal of the authenticator app and the phone key, and its way to a passkey: a loa:2 sign-in first, and nothing is removed", async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);
    const totp = await addTotp(h, account.id);
    const deviceId = await enrolDeviceKey(account.id);
    const db = h.yihao.stores.db;

    const browser = new ScriptedBrowser();
    await portalBySms(browser, phone);
    const creds = await credentialsPage(browser);
    expect(creds.html).toContain(`data-device="${deviceId}"`);

    expectLoa2SignIn(await action(browser, creds, '/account/credentials/remove', { credential: totp.id }));
    expectLoa2SignIn(await action(browser, creds, '/account/devices/remove', { device: deviceId }));
    expect(await db('credentials').where({ id: totp.id })).toHaveLength(1);
    expect(await db('recovery_codes').where({ account_id: account.id })).toHaveLength(3);
    expect(await h.yihao.channels.deviceKeys.find(deviceId)).toBeDefined();

    // Nor does a second SMS code open the passkey binding around them.
    expect((await action(browser, creds, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials');
    expect(await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor')).toBeUndefined();
    expect((await action(browser, creds, '/account/passkeys/options')).status).toBe(403);
    expectLoa2SignIn(await action(browser, creds, '/account/passkeys/sign-in'));
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).filter((e) => e.action === 'credential.removed' || e.action === 'credential.added')).toEqual([]);
  });

  it.skipIf(!enabled)('lets the citizen whose second factor is the app remove its key after signing in with the app; the password alone gets no authenticator app instead', async () => {
    const citizen = await h.citizen();
    const account = await accountOf(citizen);
    const db = h.yihao.stores.db;
    // The phone key is the account's only second factor; the app is signed in with it.
    const phone = await MobileApp.create(h, mobileApp);
    phone.deviceKeyId = await enrolDeviceKey(account.id, phone.deviceJwk);
    await phone.loginWithDeviceKey();

    const browser = new ScriptedBrowser();
    await portalByPassword(browser, citizen);
    let creds = await credentialsPage(browser);
    const again = expectLoa2SignIn(await action(browser, creds, '/account/devices/remove', { device: phone.deviceKeyId! }));
    expect(await h.yihao.channels.deviceKeys.find(phone.deviceKeyId!)).toBeDefined();

    // At that sign-in the password is not enough, and no authenticator app is offered in the phone's place.
    const login = page(await go(browser, again));
    const refused = page(await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(alertOf(refused.html)).toContain('use “Sign in with the mobile app”');
    expect(refused.html).not.toContain('id="manual-key"');
    expect(await db('credentials').where({ account_id: account.id, type: 'totp' })).toHaveLength(0);

    // The app approves the QR sign-in: loa:2, back at the page, and the removal goes through.
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(refused.html)![1]!;
    const qr = page(await go(browser, new URL(qrLink, origin)));
    const uid = /\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!;
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(uid)) as { ref: string };
    const scanned = await phone.scan(handoff.ref);
    expect((await phone.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const back = page(await continueQr(browser, qr, origin));
    expect(`${back.url.pathname}${back.url.search}`).toBe('/account/credentials?notice=signed_in_again');
    creds = back;
    const removed = await action(browser, creds, '/account/devices/remove', { device: phone.deviceKeyId! });
    expect(removed.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await h.yihao.channels.deviceKeys.find(phone.deviceKeyId!)).toBeUndefined();
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'credential.removed')).toMatchObject({ details: { type: 'device', deviceKeyId: phone.deviceKeyId } });
  });

  it.skipIf(!enabled)('binds no authenticator app and no passkey on password + SMS to an account whose only second factor is the app', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);
    await enrolDeviceKey(account.id);
    const db = h.yihao.stores.db;

    // A service that asks for loa:2: the password leads to the app, not to an SMS code and a new authenticator app.
    const rp = await relyingParty(h, await h.client({ name: '税务服务', firstParty: true }));
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', acr_values: LOA2, ui_locales: 'en' })));
    const refused = page(await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(alertOf(refused.html)).toBe('税务服务 requires two-step verification. Your account is set up in the Yihao app: use “Sign in with the mobile app”.');
    expect(formAction(refused.html, '/phone-proof')).toBeUndefined();
    expect(await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor')).toBeUndefined();
    const uid = refused.url.pathname.split('/')[2]!;
    const skipped = await browser.request(new URL(`/interaction/${uid}/phone-proof`, origin), { form: { csrf: formField(refused.html, 'csrf')!, code: '123456' } });
    expect(skipped.status).toBe(400);
    expect(await db('credentials').where({ account_id: account.id, type: 'totp' })).toHaveLength(0);

    // In the portal the password (or an SMS code) does not bind a passkey either: a loa:2 sign-in first.
    const portal = new ScriptedBrowser();
    await portalByPassword(portal, citizen);
    const creds = await credentialsPage(portal);
    expect(creds.html).toContain('Your account has two-step verification. To protect it, sign in again using it before adding a passkey.');
    expect(creds.html).not.toContain('data-passkey="register"');
    expect((await action(portal, creds, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials');
    expect((await action(portal, creds, '/account/passkeys/options')).status).toBe(403);
    expectLoa2SignIn(await action(portal, creds, '/account/passkeys/sign-in'));
    expect(await db('passkeys').where({ account_id: account.id })).toHaveLength(0);
  });

  it.skipIf(!enabled)("binds no passkey on the strength of a phone's approval alone: a phished QR code signs a browser in at loa:2, but a passkey there also needs the account's SMS code", async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);
    const app = await MobileApp.create(h, mobileApp);
    app.deviceKeyId = await enrolDeviceKey(account.id, app.deviceJwk);
    await app.loginWithDeviceKey();
    const totp = await addTotp(h, account.id);

    // The attacker opens the portal, chooses the mobile app, and sends the QR code to the citizen, who approves it.
    const attacker = new ScriptedBrowser();
    const login = page(await go(attacker, `${h.issuer}/account/credentials?ui_locales=en`));
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!;
    const qr = page(await go(attacker, new URL(qrLink, origin)));
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(/\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!)) as { ref: string };
    const scanned = await app.scan(handoff.ref);
    expect((await app.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const creds = page(await continueQr(attacker, qr, origin));
    expect(creds.url.pathname).toBe('/account/credentials');

    // Signed in at loa:2, but by the phone's approval: it removes no authenticator app, and a passkey
    // needs the SMS code to the account's number too.
    expectLoa2SignIn(await action(attacker, creds, '/account/credentials/remove', { credential: totp.id }));
    expect(await h.yihao.stores.db('credentials').where({ id: totp.id })).toHaveLength(1);
    expect(creds.html).not.toContain('data-passkey="register"');
    expect((await action(attacker, creds, '/account/passkeys/options')).status).toBe(403);
    expect(await h.yihao.stores.db('passkeys').where({ account_id: account.id })).toHaveLength(0);

    // The citizen, who has the phone, proves the number and then binds one.
    expect((await action(attacker, creds, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials?notice=code_sent');
    const code = (await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor'))!;
    expect((await action(attacker, creds, '/account/passkeys/prove-phone', { code })).headers.get('location')).toBe('/account/credentials?notice=phone_proven');
    expect((await credentialsPage(attacker)).html).toContain('data-passkey="register"');
  });
});
