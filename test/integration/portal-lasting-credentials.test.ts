/**
 * What lasts beyond the portal sign-in that made it: a passkey, the identity credential or a
 * department certificate in a wallet. Tried the way an attacker would: with the citizen's SMS codes
 * alone, with a browser the citizen left signed in, with a QR code relayed to the citizen for their
 * phone to approve. Each needs what a passkey needs (src/portal/lasting-credential-gate.ts): a
 * sign-in made just now, that used the password where the account has no second factor, and after
 * a phone's approval the account's SMS code too. Driven over HTTP as a browser without JavaScript
 * would, as portal.test.ts does; the form ids of every portal form refuse control characters.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Department } from '../../src/admin/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { walkSignIn } from '../support/admin-operators.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { continueQr, JWT_BEARER, MobileApp, registerMobileApp } from '../support/mobile-app.js';
import { formAction, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const LOA2 = 'urn:yihao:loa:2';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';

let phoneCounter = 0;
const freshPhone = () => `137${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

describe.each(backends)('credentials that outlast the portal sign-in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let origin: string;
  let mobileApp: { client_id: string };
  let police: Department;
  const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);
  const submit = (browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(browser, from, contains, fields, origin);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    origin = new URL(h.issuer).origin;
    mobileApp = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] });
    police = await h.yihao.admin.services.bootstrap.createDepartment({ name: '浙江省公安厅', level: 'national' });
    await h.yihao.credentials.certificates.store.insertType({
      id: 'driving_licence',
      departmentId: police.id,
      vct: `${h.issuer}/credentials/types/driving_licence`,
      names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
      claims: { licence_number: { type: 'string', required: true }, licence_class: { type: 'string', required: true } },
      validityDays: 2190,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
  });
  afterAll(async () => h?.close());

  const outbox = () => outboxPath(h.config.dataDir);
  const accountOf = async (who: Citizen) => (await h.yihao.accounts.findBySub(who.sub))!;
  /** Posts one of the portal's forms with the page's CSRF token; the answer, not followed. */
  const action = (browser: ScriptedBrowser, html: string | undefined, path: string, fields: Record<string, string> = {}) =>
    browser.request(`${h.issuer}${path}`, { form: { csrf: formField(html!, 'csrf')!, ...fields } });
  const offersMade = async (who: Citizen) => (await h.yihao.services.audit.forAccount(who.sub)).filter((e) => e.action === 'vc.offer_created').length;

  async function pushLicence(owner: Citizen): Promise<string> {
    const account = await accountOf(owner);
    const { certificate } = await h.yihao.stores.db.transaction((trx) =>
      h.yihao.credentials.certificates.store.insert(
        { typeId: 'driving_licence', departmentId: police.id, accountId: account.id, claims: { licence_number: `L-${Date.now()}`, licence_class: 'C1' }, validFrom: Date.now() - 86_400_000, validUntil: Date.now() + 365 * 86_400_000, pushedBy: 'police-system', createdAt: Date.now(), idempotencyKey: undefined },
        trx,
      ),
    );
    return certificate.id;
  }

  /** The government app's key for the account, as the mobile channel enrols it. */
  async function enrolDeviceKey(accountId: string, jwk?: JWK): Promise<string> {
    const key = jwk ?? (await exportJWK((await generateKeyPair('ES256')).publicKey));
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId, clientId: mobileApp.client_id, jwk: key, amr: 'swk', name: '我的手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    return made.key.id;
  }

  /** An answer that sends the browser to sign in at Yihao afresh (`prompt=login`), at `acr` if given. */
  function expectFreshSignIn(res: Response, acr?: string): URL {
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location')!, h.issuer);
    expect(to.pathname).toBe('/auth');
    expect(to.searchParams.get('prompt')).toBe('login');
    expect(to.searchParams.get('acr_values')).toBe(acr ?? null);
    return to;
  }

  /** Reads the offer an offer page shows; undefined when the answer shows none. */
  async function offerIn(res: Response): Promise<{ txCode: string } | undefined> {
    if (res.status !== 200) return undefined;
    const txCode = /data-tx-code>(\d+)</.exec(await res.text())?.[1];
    return txCode ? { txCode } : undefined;
  }

  it.skipIf(!enabled)("binds no passkey for someone holding only the citizen's SMS codes: an SMS sign-in is sent to sign in again with the password, and the citizen who does binds one", async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);

    // Into the portal with an SMS code alone: loa:1, amr sms.
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, `${h.issuer}/account/credentials?ui_locales=en`));
    const smsPage = page(await go(browser, new URL(/<a href="([^"]+\/sms)">/.exec(login.html)![1]!, login.url)));
    const codePage = page(await submit(browser, smsPage, '/sms', { phone }));
    const bySms = page(await submit(browser, codePage, '/sms/verify', { code: (await latestOutboxCode(outbox(), `+86${phone}`, 'login'))! }));
    expect(bySms.url.pathname).toBe('/account/credentials');

    // A second SMS code (the attacker has those too) does not open the binding.
    expect((await action(browser, bySms.html, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials');
    expect(await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor')).toBeUndefined();
    expect((await action(browser, bySms.html, '/account/passkeys/prove-phone', { code: '123456' })).headers.get('location')).toBe('/account/credentials');
    expect((await action(browser, bySms.html, '/account/passkeys/options')).status).toBe(403);
    expect((await action(browser, bySms.html, '/account/passkeys', { credential: '{}' })).headers.get('location')).toBe('/account/credentials');
    expect(bySms.html).toContain('To protect your account, sign in again with your password before adding a passkey.');
    expect(bySms.html).not.toContain('data-passkey="register"');
    expect(formAction(bySms.html, '/account/passkeys/send-code')).toBeUndefined();

    // Signing in again by SMS changes nothing; the password does, and then the SMS proof as before.
    const again = expectFreshSignIn(await action(browser, bySms.html, '/account/passkeys/sign-in'));
    const passwordLogin = page(await go(browser, again));
    const byPassword = page(await submit(browser, passwordLogin, '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(`${byPassword.url.pathname}${byPassword.url.search}`).toBe('/account/credentials?notice=signed_in_for_passkey');
    expect(byPassword.html).not.toContain('data-passkey="register"');
    expect((await action(browser, byPassword.html, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials?notice=code_sent');
    const proof = (await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor'))!;
    expect((await action(browser, byPassword.html, '/account/passkeys/prove-phone', { code: proof })).headers.get('location')).toBe('/account/credentials?notice=phone_proven');
    expect((await action(browser, byPassword.html, '/account/passkeys/options')).status).toBe(200);
    expect(await h.yihao.stores.db('passkeys').where({ account_id: account.id })).toHaveLength(0);
  });

  it.skipIf(!enabled)("takes a phone-proof code only in the portal session that asked for it, not in another of the citizen's", async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const signedIn = async () => {
      const browser = new ScriptedBrowser();
      const login = page(await go(browser, `${h.issuer}/account/credentials?ui_locales=en`));
      const credentials = page(await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }));
      expect(credentials.url.pathname).toBe('/account/credentials');
      return { browser, html: credentials.html };
    };
    const asking = await signedIn();
    const other = await signedIn();
    expect((await action(asking.browser, asking.html, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials?notice=code_sent');
    const code = (await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor'))!;
    // Another browser signed in with the password (whoever else holds it) cannot spend it.
    expect((await action(other.browser, other.html, '/account/passkeys/prove-phone', { code })).headers.get('location')).toBe('/account/credentials?notice=code_wrong');
    expect((await action(other.browser, other.html, '/account/passkeys/options')).status).toBe(403);
    expect((await action(asking.browser, asking.html, '/account/passkeys/prove-phone', { code })).headers.get('location')).toBe('/account/credentials?notice=phone_proven');
  });

  it.skipIf(!enabled)('binds nothing lasting after a password reset by SMS, for a day: no first passkey, no authenticator app, no wallet credential, no device key', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);

    // Someone holding the phone for a moment resets the password with its SMS code.
    const reset = new ScriptedBrowser();
    const form = await reset.request(`${h.issuer}/password-reset?ui_locales=en`);
    const asked = await reset.request(`${h.issuer}/password-reset?ui_locales=en`, { form: { csrf: formField(await form.text(), 'csrf')!, identifier: citizen.citizenId } });
    expect(asked.status).toBe(303);
    const codePage = await reset.request(new URL(asked.headers.get('location')!, h.issuer).href);
    const password = 'their-own-Password-1';
    const done = await reset.request(`${h.issuer}/password-reset/code?ui_locales=en`, {
      form: { csrf: formField(await codePage.text(), 'csrf')!, code: (await latestOutboxCode(outbox(), `+86${phone}`, 'reset_password'))!, password, password_confirm: password },
    });
    expect(done.status).toBe(200);
    const them = { citizenId: citizen.citizenId, password };

    // A first passkey: the portal, signed in just now with that password, offers no step towards one.
    const browser = new ScriptedBrowser();
    const portal = await walkSignIn(browser, new URL(`${h.issuer}/account/credentials?ui_locales=en`), them, () => false);
    expect(portal.url.pathname).toBe('/account/credentials');
    expect(portal.html).toContain('data-recovery-hold');
    expect(portal.html).toContain('If you did not reset your password, reset it again now.');
    expect(formAction(portal.html!, '/account/passkeys/send-code')).toBeUndefined();
    expect((await action(browser, portal.html, '/account/passkeys/send-code')).headers.get('location')).toBe('/account/credentials');
    expect(await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor')).toBeUndefined();
    const options = await action(browser, portal.html, '/account/passkeys/options');
    expect(options.status).toBe(403);

    // An authenticator app, which a sign-in at loa:2 would set up after the phone's SMS code.
    const app = await h.client({ name: '不动产登记', firstParty: true, minAcr: LOA2 });
    const rp = await relyingParty(h, app);
    const loa2 = await walkSignIn(new ScriptedBrowser(), await authorizationUrl(rp, 'v'.repeat(43), { ui_locales: 'en' }), them, () => false);
    expect(loa2.status).toBe(403);
    expect(loa2.html).toContain('no new two-step method can be set up for a while');
    expect(await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor')).toBeUndefined();
    expect(await h.yihao.stores.db('credentials').where({ account_id: account.id }).whereIn('type', ['totp', 'passkey'])).toEqual([]);

    // The wallet page offers nothing either.
    const wallet = page(await go(browser, `${h.issuer}/account/wallet?ui_locales=en`));
    expect(wallet.html).toContain('data-recovery-hold');
    expect(wallet.html).not.toContain('action="/account/wallet/sign-in"');
    expect(await offersMade(citizen)).toBe(0);

    // A day later the hold is over (its start moved back, as a clock would move on).
    await h.yihao.stores.db('accounts').where({ id: account.id }).update({ recovered_at: Date.now() - 86_400_000 - 1000 });
    const later = page(await go(browser, `${h.issuer}/account/credentials?ui_locales=en`));
    expect(later.html).not.toContain('data-recovery-hold');
    expect(formAction(later.html, '/account/passkeys/send-code')).toBeDefined();
  });

  it.skipIf(!enabled)('enrols no device key while the recovery hold runs, even from a loa:2 sign-in on the phone', async () => {
    const citizen = await h.citizen();
    const app = await MobileApp.create(h, mobileApp);
    await app.signInWithBrowser(citizen);
    const account = await accountOf(citizen);
    await h.yihao.stores.db('accounts').where({ id: account.id }).update({ recovered_at: Date.now() });
    const refused = await app.enrolDeviceKey();
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: 'recovery_hold' });
    expect(await h.yihao.stores.db('device_keys').where({ account_id: account.id })).toEqual([]);
  });

  it.skipIf(!enabled)('makes no identity-credential or certificate offer from a loa:2 sign-in older than a passkey allows: a fresh two-factor sign-in first', async () => {
    const citizen = await h.citizen();
    const licence = await pushLicence(citizen);
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${h.issuer}/account/wallet?ui_locales=en`), citizen, () => false);
    const stepUp = await action(browser, first.html, '/account/wallet/sign-in');
    const signedIn = await walkSignIn(browser, new URL(stepUp.headers.get('location')!, h.issuer), citizen, () => false);
    expect(signedIn.url.pathname).toBe('/account/wallet');
    expect(signedIn.html).toContain('action="/account/wallet/offer"');
    const totpSecret = signedIn.totpSecret!;

    // The browser is left signed in at loa:2; a quarter of an hour later someone else uses it.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 15 * 60_000);
      const stale = await walkSignIn(browser, new URL(`${h.issuer}/account/wallet`), citizen, () => false);
      expectFreshSignIn(await action(browser, stale.html, '/account/wallet/offer'), LOA2);
      expectFreshSignIn(await action(browser, stale.html, '/account/certificates/offer', { certificate: licence }), LOA2);
      expect(await offersMade(citizen)).toBe(0);
      expect(stale.html).not.toContain('action="/account/wallet/offer"');
      expect(stale.html).toContain('To protect your account, adding your identity credential needs a sign-in made just now.');

      // The citizen presses the page's "sign in" and signs in again with both factors: the offers are made.
      const again = expectFreshSignIn(await action(browser, stale.html, '/account/wallet/sign-in'), LOA2);
      const back = await walkSignIn(browser, again, { ...citizen, totpSecret }, () => false);
      expect(back.url.pathname).toBe('/account/wallet');
      expect(await offerIn(await action(browser, back.html, '/account/wallet/offer'))).toBeDefined();
      expect(await offerIn(await action(browser, back.html, '/account/certificates/offer', { certificate: licence }))).toBeDefined();
      expect(await offersMade(citizen)).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it.skipIf(!enabled)("makes no identity-credential or certificate offer on a phone's approval of a QR code alone: the account's SMS code first", async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = await accountOf(citizen);
    const licence = await pushLicence(citizen);
    const app = await MobileApp.create(h, mobileApp);
    app.deviceKeyId = await enrolDeviceKey(account.id, app.deviceJwk);
    await app.loginWithDeviceKey();

    // The attacker opens the portal's wallet page, chooses the mobile app, and relays the QR code to the citizen, who approves it.
    const attacker = new ScriptedBrowser();
    const login = page(await go(attacker, `${h.issuer}/account/wallet?ui_locales=en`));
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!;
    const qr = page(await go(attacker, new URL(qrLink, origin)));
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(/\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!)) as { ref: string };
    const scanned = await app.scan(handoff.ref);
    expect((await app.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const wallet = page(await continueQr(attacker, qr, origin));
    expect(wallet.url.pathname).toBe('/account/wallet');

    // Signed in at loa:2, but by a relayable approval: no offer, and the page asks for the SMS code.
    const refused = await action(attacker, wallet.html, '/account/wallet/offer');
    expect(await offerIn(refused)).toBeUndefined();
    expect(refused.headers.get('location')).toBe('/account/wallet');
    expect((await action(attacker, wallet.html, '/account/certificates/offer', { certificate: licence })).headers.get('location')).toBe('/account/certificates');
    expect(await offersMade(citizen)).toBe(0);
    expect(wallet.html).not.toContain('action="/account/wallet/offer"');
    expect(wallet.html).toContain(`You signed in by approving on your phone. Before a credential goes to a wallet, confirm your mobile number ${phone.slice(0, 3)} **** ${phone.slice(7)} with a text message code.`);

    // The citizen, who has the phone, proves the number; then the offers are made.
    expect((await action(attacker, wallet.html, '/account/wallet/send-code')).headers.get('location')).toBe('/account/wallet?notice=code_sent');
    const code = (await latestOutboxCode(outbox(), `+86${phone}`, 'bind_factor'))!;
    expect((await action(attacker, wallet.html, '/account/wallet/prove-phone', { code })).headers.get('location')).toBe('/account/wallet?notice=phone_proven_for_wallet');
    expect(page(await go(attacker, `${h.issuer}/account/wallet`)).html).toContain('action="/account/wallet/offer"');
    expect(await offerIn(await action(attacker, wallet.html, '/account/wallet/offer'))).toBeDefined();
    expect(await offerIn(await action(attacker, wallet.html, '/account/certificates/offer', { certificate: licence }))).toBeDefined();
    expect(await offersMade(citizen)).toBe(2);
  });

  it.skipIf(!enabled)('answers a portal form id holding a control character as an unknown id, on every form, never with a server error', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const signedIn = await walkSignIn(browser, new URL(`${h.issuer}/account/credentials?ui_locales=en`), citizen, () => false);
    expect(signedIn.url.pathname).toBe('/account/credentials');
    const forms = [
      ['/account/credentials/remove', 'credential'],
      ['/account/devices/remove', 'device'],
      ['/account/proofing/confirm', 'evidence'],
      ['/account/sessions/end', 'session'],
      ['/account/apps/revoke', 'client_id'],
      ['/account/certificates/offer', 'certificate'],
    ] as const;
    for (const [path, field] of forms) {
      for (const id of ['a\u0000b', 'a\u001fb', 'a\u007fb', 'a\u0085b']) {
        const res = await action(browser, signedIn.html, path, { [field]: id });
        expect(res.status, `${path} ${JSON.stringify(id)}`).toBe(400);
        expect(await res.text()).toContain('That item was not found, or it does not belong to your account.');
      }
    }
    // Still signed in, and nothing changed: an unknown id is not found either.
    expect((await action(browser, signedIn.html, '/account/credentials/remove', { credential: 'ab' })).status).toBe(404);
  });
});
