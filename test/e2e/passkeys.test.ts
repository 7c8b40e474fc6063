/**
 * Passkeys in a real browser (the system Chromium) with its virtual WebAuthn authenticator (CDP
 * `WebAuthn.addVirtualAuthenticator`): enrolment in the portal right after a sign-in, sign-in with
 * the passkey alone at urn:yihao:loa:2 (amr `swk`; `hwk` for a device-bound passkey only where the
 * deployment trusts authenticators' word, `passkeys.trustClaimedHardwareKeys`), the step-up of a loa:1 session, and the refusals: a removed passkey, a cancelled ceremony,
 * a signature counter that went backwards (a cloned authenticator), and a
 * response replayed into another sign-in. openid-client redeems every code and reads acr and amr.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizationRequest, authorizeInBrowser, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { JWT_BEARER, registerMobileApp, totpCode } from '../support/mobile-app.js';
import { addTotp } from '../support/second-factors.js';
import { present, readResult, startAsKiosk, type Started } from '../support/presentations.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';
import { PresentingWallet, Wallet } from '../support/wallet.js';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

const LOA2 = 'urn:yihao:loa:2';

interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId: string;
  privateKey: string;
  userHandle: string;
  signCount: number;
}

/** A virtual platform authenticator with user verification, in this page's tab. */
async function virtualAuthenticator(page: Page, opts: { synced?: boolean } = {}) {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      // A synced passkey (iCloud Keychain, Google Password Manager) is backup eligible.
      ...(opts.synced ? { defaultBackupEligibility: true, defaultBackupState: true } : {}),
    },
  });
  return {
    async credentials(): Promise<VirtualCredential[]> {
      return ((await cdp.send('WebAuthn.getCredentials', { authenticatorId })) as { credentials: VirtualCredential[] }).credentials;
    },
    /** The same passkey on another device (a roaming key moved over, or a synced one arriving). */
    async add(credential: VirtualCredential) {
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
    },
    /** The passkey gone from this device. */
    async remove(credentialId: string) {
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId });
    },
    /** The passkey as another device left it (its signature counter moved on there). */
    async replace(credential: VirtualCredential) {
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: credential.credentialId });
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
    },
    async userVerifies(yes: boolean) {
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: yes });
    },
  };
}

// PostgreSQL + Redis too: the passkeys table, and the single-use challenges in Redis.
const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.skipIf(!chromiumAvailable).each(backends)('passkeys in a real browser (Chromium virtual authenticator, $name)', ({ name, enabled }) => {
  if (!enabled) return it.skip(`${name} is not available`);
  // Chromium's virtual authenticator is software that says its keys are device-bound, as any
  // scripted one can: that is announced as `hwk` only where the deployment chose to believe it.
  // One backend runs with the default, the other with the trust (one harness each, not two more).
  const trustsClaims = name === 'postgres+redis';
  const deviceBound = trustsClaims ? 'hwk' : 'swk';
  let h: Harness;
  let browser: Browser;
  let landing: LandingPage;
  let redirectUri: string;
  let app: oidc.Configuration;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    landing = await startLandingPage();
    redirectUri = landing.redirectUri;
    // WebAuthn needs a host name for the relying party ID: the issuer is http://localhost:<port>.
    [h, browser] = await Promise.all([
      startHarness({ backend: name, host: 'localhost', overrides: (c) => ({ ...c, passkeys: { ...c.passkeys, trustClaimedHardwareKeys: trustsClaims } }) }),
      launchChromium(),
    ]);
    const client = await h.client({ name: '不动产登记', redirectUris: [redirectUri], scope: 'openid profile', firstParty: true });
    app = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
  });

  /** Opens an authorization request; `land` performs the last click and redeems the code at the app. */
  const authorize = (page: Page, extra: Record<string, string> = {}) => authorizeInBrowser(page, app, redirectUri, extra);

  async function signInWithPassword(page: Page, citizen: { citizenId: string; password: string }, lang: 'en' | 'zh-CN' = 'en') {
    const ui = lang === 'en' ? { identifier: 'ID number or mobile number', password: 'Password', signIn: 'Sign in' } : { identifier: '身份证号或手机号', password: '密码', signIn: '登录' };
    await page.getByLabel(ui.identifier, { exact: true }).fill(citizen.citizenId);
    await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: ui.signIn, exact: true }).click();
  }

  /** Signs in to the portal with the password and adds a passkey from its sign-in methods page. */
  async function enrolInPortal(page: Page, citizen: { citizenId: string; password: string }) {
    await page.goto(`${h.issuer}/account/credentials?ui_locales=en`);
    await signInWithPassword(page, citizen);
    await page.waitForURL((u) => u.pathname === '/account/credentials');
    await page.getByRole('button', { name: 'Add a passkey', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'passkey_added');
    expect((await page.getByRole('status').textContent())?.trim()).toBe('Passkey added. You can now sign in with it, without your password.');
    expect(await page.locator('[data-credential-type="passkey"]').count()).toBe(1);
  }

  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let devicePasskey: VirtualCredential;

  it('enrols a device-bound passkey in the portal; a loa:1 session is stepped up by it in place, and the app gets acr loa:2 (amr hwk only where claims are trusted)', async () => {
    citizen = await h.citizen();
    const page = await pages.next();
    const authenticator = await virtualAuthenticator(page);
    await enrolInPortal(page, citizen);
    await expectNoSeriousAxeViolations(page, 'the en sign-in methods page with a passkey');
    const [stored] = await authenticator.credentials();
    expect(stored).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });

    // The same browser is signed in at loa:1 (password). An app that demands loa:2 gets the login
    // page, and the passkey alone takes the session to loa:2.
    const flow = await authorize(page, { acr_values: LOA2, ui_locales: 'en' });
    const button = page.getByRole('button', { name: 'Sign in with a passkey', exact: true });
    await button.waitFor();
    await expectNoSeriousAxeViolations(page, 'the en login page with the passkey button');
    const claims = await flow.land(() => button.click());
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: [deviceBound], channel: 'web' });
    // Taken as it is now: a copy with an older signature counter would look like a clone.
    devicePasskey = (await authenticator.credentials())[0]!;
    expect(devicePasskey.signCount).toBeGreaterThan(stored!.signCount);
  });

  it('signs in with the passkey alone in another browser (zh-CN page), with no password typed; later apps ride the loa:2 session', async () => {
    expect(devicePasskey, 'the enrolment test ran first').toBeDefined();
    const page = await pages.next();
    const authenticator = await virtualAuthenticator(page);
    await authenticator.add(devicePasskey);
    const flow = await authorize(page, { acr_values: LOA2 });
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    const claims = await flow.land(() => page.getByRole('button', { name: '使用通行密钥登录', exact: true }).click());
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: [deviceBound], channel: 'web' });
    // Single sign-on: the next request (no level asked) returns at once with the session's level.
    const again = await authorize(page);
    expect(await again.land(async () => {})).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: [deviceBound] });
  });

  it('a synced passkey (backup eligible) gives amr swk', async () => {
    const other = await h.citizen();
    const page = await pages.next();
    const laptop = await virtualAuthenticator(page, { synced: true });
    await enrolInPortal(page, other);
    const [synced] = await laptop.credentials();
    // The keychain brings it to the citizen's other device.
    const next = await pages.next();
    const phone = await virtualAuthenticator(next, { synced: true });
    await phone.add({ ...synced!, backupEligibility: true, backupState: true } as VirtualCredential);
    // As if the citizen had never signed in from here: the passkey sign-in makes the address theirs.
    const account = (await h.yihao.accounts.findBySub(other.sub))!;
    const redis = h.yihao.stores.redis;
    if (redis) {
      const keys = await redis.keys(`${h.config.redisPrefix}lockout:{${account.id}}:*`);
      if (keys.length) await redis.del(...keys);
    } else await h.yihao.stores.db('sign_in_guesses').where({ subject: account.id }).delete();
    expect(await h.yihao.accounts.lockout.isFamiliar(account.id, '127.0.0.1')).toBe(false);
    const flow = await authorize(next, { acr_values: LOA2, ui_locales: 'en' });
    const claims = await flow.land(() => next.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click());
    expect(claims).toMatchObject({ sub: other.sub, acr: LOA2, amr: ['swk'], channel: 'web' });
    expect(await h.yihao.accounts.lockout.isFamiliar(account.id, '127.0.0.1')).toBe(true);
  });

  it('refuses a cloned authenticator (counter gone backwards) and an assertion replayed into another sign-in, and is not blocked by a stranger\'s password guesses', async () => {
    const someone = await h.citizen();
    const page = await pages.next();
    const authenticator = await virtualAuthenticator(page);
    await enrolInPortal(page, someone);
    const account = (await h.yihao.accounts.findBySub(someone.sub))!;
    const db = h.yihao.stores.db;
    const alert = async () => (await page.getByRole('alert').textContent())?.trim();
    const passkeyButton = () => page.getByRole('button', { name: 'Sign in with a passkey', exact: true });

    // The server has seen a higher signature counter than this authenticator now reports.
    await db('passkeys').where({ account_id: account.id }).update({ sign_count: 1_000_000 });
    await authorize(page, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    const refused = page.waitForResponse((r) => r.url().endsWith('/passkey') && r.request().method() === 'POST');
    await passkeyButton().click();
    expect((await refused).status()).toBe(401);
    expect(await alert()).toBe('This passkey could not be verified. Try again, or use another way to sign in.');
    await db('passkeys').where({ account_id: account.id }).update({ sign_count: 0 });

    // Capture a good assertion on its way, then try it again in a new sign-in.
    let captured: string | undefined;
    await page.route('**/interaction/*/passkey', async (route) => {
      captured = route.request().postData() ?? undefined;
      await route.continue();
    });
    const flow = await authorize(page, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    expect(await flow.land(() => passkeyButton().click())).toMatchObject({ sub: someone.sub, acr: LOA2 });
    await page.unroute('**/interaction/*/passkey');
    const credential = new URLSearchParams(captured!).get('credential')!;
    expect(credential).toContain('authenticatorData');
    await authorize(page, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    const uid = new URL(page.url()).pathname.split('/')[2]!;
    const csrf = await page.locator('#passkey-form input[name=csrf]').inputValue();
    const replay = await page.request.post(`${h.issuer}/interaction/${uid}/passkey`, { form: { csrf, credential }, maxRedirects: 0 });
    expect(replay.status()).toBe(401);
    expect(await replay.text()).toContain('This passkey could not be verified.');
    const garbage = await page.request.post(`${h.issuer}/interaction/${uid}/passkey`, { form: { csrf, credential: '{"id":' }, maxRedirects: 0 });
    expect(garbage.status()).toBe(401);

    // A stranger's 1,000 wrong passwords from one address and 1,000 from 50 addresses (the
    // distributed lock) do not stop the passkey: password guesses never block it.
    const guesses = (ips: string[], each: number) =>
      Promise.all(ips.map(async (ip) => { for (let i = 0; i < each; i++) await h.yihao.accounts.verifyPassword(someone.citizenId, `guess ${i}`, ip); }));
    await guesses(['198.51.100.66'], 1_000);
    await guesses(Array.from({ length: 50 }, (_, i) => `192.0.2.${i + 1}`), 20);
    expect(await h.yihao.accounts.lockout.isLocked(account.id)).toMatchObject({ locked: true });
    const after = await authorize(page, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    expect(await after.land(() => passkeyButton().click())).toMatchObject({ sub: someone.sub, acr: LOA2 });
    expect(authenticator).toBeDefined();
  });

  it('removing a passkey ends the sign-ins it made: another browser signed in with it (someone else\'s, bound while the citizen was away) is signed out', async () => {
    const victim = await h.citizen();
    const own = await pages.next();
    const ownKey = await virtualAuthenticator(own);
    await enrolInPortal(own, victim);
    const [bound] = await ownKey.credentials();
    // The other browser holds the same passkey and signs in with it alone, at loa:2.
    const otherContext = await browser.newContext();
    otherContext.setDefaultTimeout(5_000);
    otherContext.setDefaultNavigationTimeout(10_000);
    onTestFinished(() => otherContext.close());
    const other = await otherContext.newPage();
    const otherKey = await virtualAuthenticator(other);
    await otherKey.add(bound!);
    const flow = await authorize(other, { acr_values: LOA2, ui_locales: 'en' });
    expect(await flow.land(() => other.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click())).toMatchObject({ sub: victim.sub, acr: LOA2 });
    // One passkey in two places in this test: the citizen's copy takes up the counter where the other left it.
    await ownKey.replace((await otherKey.credentials())[0]!);

    // The citizen removes it in the portal (after signing in with a second factor, as removals need).
    await own.goto(`${h.issuer}/account/credentials?ui_locales=en`);
    await own.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    await own.waitForURL((u) => u.pathname.startsWith('/interaction/'));
    await own.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'signed_in_again');
    await own.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    // The session it is removed from (just signed in with it, to remove it) goes on.
    await own.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');

    // The other browser's session went with it: no silent sign-in any more.
    const silent = await authorizationRequest(app, redirectUri, { prompt: 'none' });
    await other.goto(silent.url.href);
    await other.waitForURL((u) => u.href.startsWith(redirectUri));
    expect(new URL(other.url()).searchParams.get('error')).toBe('login_required');
    const events = await h.yihao.services.audit.forAccount(victim.sub);
    expect(events.find((e) => e.action === 'session.ended' && e.details?.reason === 'passkey_removed')).toMatchObject({ details: { sessions: 1 } });
  });

  /** A page in a browser of its own (someone else's), closed when the test ends. */
  async function separatePage(): Promise<Page> {
    const context = await browser.newContext();
    context.setDefaultTimeout(5_000);
    context.setDefaultNavigationTimeout(10_000);
    onTestFinished(() => context.close());
    return context.newPage();
  }
  /** The credential ids of the passkeys a sign-in methods page lists. */
  const passkeyIds = async (page: Page) => (await page.locator('[data-credential-type="passkey"]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-labelledby') ?? ''))).map((s) => s.replace(/^cred-/, ''));
  /** Signs in to the portal's sign-in methods page with the password, presses `button`, and signs in again with the password and `code`. */
  async function pressThenSignInWithApp(page: Page, victim: { citizenId: string; password: string }, button: string, code: string): Promise<void> {
    await page.goto(`${h.issuer}/account/credentials?ui_locales=en`);
    await signInWithPassword(page, victim);
    await page.waitForURL((u) => u.pathname === '/account/credentials');
    await page.getByRole('button', { name: button, exact: true }).click();
    await signInWithPassword(page, victim);
    await page.getByLabel('Verification code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
  }
  /**
   * With the password and a copy of the authenticator app's secret: signs in to the portal, again at
   * loa:2 (the account has a second factor, so adding a passkey asks for it), and adds a passkey.
   */
  async function addPasskeyWithCopiedApp(page: Page, victim: { citizenId: string; password: string }, secret: string): Promise<string> {
    await pressThenSignInWithApp(page, victim, 'Sign in again to add one', await totpCode(secret));
    await page.waitForURL((u) => u.searchParams.get('notice') === 'signed_in_for_passkey');
    await page.getByRole('button', { name: 'Add a passkey', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'passkey_added');
    return (await passkeyIds(page))[0]!;
  }
  /** The citizen signs in to the portal, again with the app (the next code), and removes the app: the question page. */
  async function askToRemoveApp(page: Page, victim: { citizenId: string; password: string }, secret: string): Promise<void> {
    await pressThenSignInWithApp(page, victim, 'Remove Authenticator app codes', await totpCode(secret, 1));
    await page.waitForURL((u) => u.searchParams.get('notice') === 'signed_in_again');
    await page.getByRole('button', { name: 'Remove Authenticator app codes', exact: true }).click();
    await page.getByRole('button', { name: 'Remove these as well', exact: true }).waitFor();
  }

  it('removing the authenticator app asks about a passkey added from a sign-in with a copy of it, and removes that too: its holder can no longer sign in with it', async () => {
    const victim = await h.citizen();
    const { id: totpId, secret } = await addTotp(h, (await h.yihao.accounts.findBySub(victim.sub))!.id);
    const thief = await separatePage();
    const thiefKey = await virtualAuthenticator(thief);
    const passkeyId = await addPasskeyWithCopiedApp(thief, victim, secret);

    const own = await pages.next();
    await askToRemoveApp(own, victim, secret);
    expect(await own.locator(`[data-bound="${passkeyId}"]`).count()).toBe(1);
    await expectNoSeriousAxeViolations(own, 'the en question about sign-in methods added from a removed one');
    await own.getByRole('button', { name: 'Remove these as well', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');
    expect(await own.locator('[data-credential-type="passkey"], [data-credential-type="totp"]').count()).toBe(0);
    expect(await h.yihao.stores.db('credentials').where({ id: totpId }).first()).toBeUndefined();

    // The thief's passkey no longer signs anyone in.
    await authorize(thief, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    expect(await thiefKey.credentials()).toHaveLength(1);
    await thief.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    expect(await thief.getByRole('alert').first().textContent()).toContain('not linked to a Yihao account');
    const removed = (await h.yihao.services.audit.forAccount(victim.sub)).filter((e) => e.action === 'credential.removed').map((e) => e.details);
    expect(removed).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'totp' }), expect.objectContaining({ type: 'passkey', reason: 'bound_from_removed' })]));
  });

  it('asks about a passkey bound further down a chain through a passkey removed since: removing the middle one and keeping what it bound does not cut the chain', async () => {
    const victim = await h.citizen();
    const { id: totpId, secret } = await addTotp(h, (await h.yihao.accounts.findBySub(victim.sub))!.id);
    const signInWithPasskey = async (page: Page) => {
      await page.goto(`${h.issuer}/account/credentials?ui_locales=en`);
      await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
      await page.waitForURL((u) => u.pathname === '/account/credentials');
    };

    // The thief, with the password and a copy of the app: passkey A, from a sign-in with the app.
    const first = await separatePage();
    const firstKey = await virtualAuthenticator(first);
    const a = await addPasskeyWithCopiedApp(first, victim, secret);

    // Passkey B, from a sign-in with A alone (on another authenticator: the one holding A is excluded).
    const second = await separatePage();
    const secondKey = await virtualAuthenticator(second);
    await secondKey.add((await firstKey.credentials())[0]!);
    await signInWithPasskey(second);
    await secondKey.remove((await secondKey.credentials())[0]!.credentialId);
    await second.getByRole('button', { name: 'Add a passkey', exact: true }).click();
    await second.waitForURL((u) => u.searchParams.get('notice') === 'passkey_added');
    const b = (await passkeyIds(second)).find((id) => id !== a)!;

    // Signed in with B, the thief removes A and keeps what it bound: B.
    const third = await separatePage();
    const thirdKey = await virtualAuthenticator(third);
    await thirdKey.add((await secondKey.credentials())[0]!);
    await signInWithPasskey(third);
    await third.locator(`form:has(input[name=credential][value="${a}"]) button`).click();
    await third.getByRole('button', { name: 'Remove only the Passkey', exact: true }).click();
    await third.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');
    expect(await h.yihao.stores.db('credentials').where({ id: a }).first()).toBeUndefined();

    // The citizen removes the app and is still asked about B, which goes.
    const own = await pages.next();
    await askToRemoveApp(own, victim, secret);
    expect(await own.locator(`[data-bound="${b}"]`).count()).toBe(1);
    await own.getByRole('button', { name: 'Remove these as well', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');
    expect(await h.yihao.stores.db('credentials').whereIn('id', [totpId, b]).select('id')).toEqual([]);
  });

  it("a portal sign-in made with the removed app vouches for nothing afterwards, even when a later password-only sign-in in that browser kept its Yihao session alive", async () => {
    const victim = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(victim.sub))!;
    const { secret } = await addTotp(h, account.id);
    // The citizen's own phone: the account keeps a second factor the thief does not have.
    const { client_id: mobile } = await registerMobileApp(h);
    const { kty, crv, x, y } = await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey);
    expect((await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: mobile, jwk: { kty, crv, x, y }, amr: 'swk', name: 'own phone' })).ok).toBe(true);

    // The thief adds passkey A with the copied app, then signs in at an app in the same browser with
    // the password alone: the Yihao session's login no longer names the app, so removing the app
    // does not end that browser's session.
    const thief = await separatePage();
    const thiefKey = await virtualAuthenticator(thief);
    const a = await addPasskeyWithCopiedApp(thief, victim, secret);
    const relogin = await authorize(thief, { prompt: 'login', ui_locales: 'en' });
    await relogin.land(() => signInWithPassword(thief, victim));

    const own = await pages.next();
    await askToRemoveApp(own, victim, secret);
    expect(await own.locator(`[data-bound="${a}"]`).count()).toBe(1);
    await own.getByRole('button', { name: 'Remove these as well', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');

    // The thief's portal page is still open, but its sign-in no longer counts as loa:2: adding a
    // passkey, or removing the citizen's phone, asks for a sign-in at loa:2 first.
    for (const c of await thiefKey.credentials()) await thiefKey.remove(c.credentialId);
    await thief.goto(`${h.issuer}/account/credentials?ui_locales=en`);
    expect(new URL(thief.url()).pathname).toBe('/account/credentials');
    expect(await thief.getByRole('button', { name: 'Add a passkey', exact: true }).count()).toBe(0);
    expect(await thief.getByRole('button', { name: 'Sign in again to add one', exact: true }).count()).toBe(1);
    await thief.getByRole('button', { name: 'Remove Mobile app device key · own phone', exact: true }).click();
    await thief.waitForURL((u) => u.pathname.startsWith('/interaction/'));
    expect((await h.yihao.channels.deviceKeys.listForAccount(account.id)).map((k) => k.name)).toEqual(['own phone']);
    expect((await h.yihao.stores.db('credentials').where({ account_id: account.id, type: 'passkey' }).select('id'))).toEqual([]);
  });

  it('removing a passkey revokes the identity credential offered to a wallet from a portal sign-in it made: a kiosk refuses it', async () => {
    const { client_id: walletApp } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, 'urn:ietf:params:oauth:grant-type:pre-authorized_code'] });
    const victim = await h.citizen();
    const own = await pages.next();
    const ownKey = await virtualAuthenticator(own);
    await enrolInPortal(own, victim);
    const [bound] = await ownKey.credentials();
    // Someone else's browser holds the passkey (bound while the citizen was away), signs in to the
    // portal's wallet page with it alone, and puts the citizen's identity credential in their wallet.
    const otherContext = await browser.newContext();
    otherContext.setDefaultTimeout(5_000);
    otherContext.setDefaultNavigationTimeout(10_000);
    onTestFinished(() => otherContext.close());
    const other = await otherContext.newPage();
    const otherKey = await virtualAuthenticator(other);
    await otherKey.add(bound!);
    await other.goto(`${h.issuer}/account/wallet?ui_locales=en`);
    await other.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    await other.waitForURL((u) => u.pathname === '/account/wallet');
    await other.getByRole('button', { name: 'Add my identity credential to a wallet', exact: true }).click();
    const offerUri = (await other.locator('[data-offer-uri]').getAttribute('data-offer-uri'))!;
    const txCode = (await other.locator('[data-tx-code]').textContent())!.trim();
    const wallet = await Wallet.create(walletApp);
    const redeemed = await wallet.redeemOffer(offerUri, txCode);
    const key = await wallet.newKey();
    const issued = await wallet.client.retrieveCredentials({
      issuerMetadata: redeemed.metadata,
      accessToken: redeemed.accessToken,
      credentialConfigurationId: 'yihao_identity_sd_jwt',
      proofs: { jwt: [await wallet.proof(redeemed.metadata, 'yihao_identity_sd_jwt', key)] },
      dpop: redeemed.dpop!,
    });
    const held = { credential: (issued.credentialResponse.credentials as { credential: string }[])[0]!.credential, key };
    await ownKey.replace((await otherKey.credentials())[0]!);

    const kiosk = await simulatedKiosk(h);
    const verifier = (await (await fetch(`${h.issuer}/presentations/verifier`)).json()) as { client_id: string; jwks: { keys: JWK[] } };
    const presenter = new PresentingWallet({ clientId: verifier.client_id, jwks: verifier.jwks });
    const atKiosk = async () => {
      const req = (await (await startAsKiosk(h, kiosk, { type: 'identity', claims: ['name'] })).json()) as Started;
      await present(presenter, req.request_link, held);
      const { body } = await readResult(h, req.request_id, req.result_token);
      return body.status === 'verified' ? 'verified' : body.reason;
    };
    expect(await atKiosk()).toBe('verified');

    // The citizen removes the passkey in the portal (after signing in with it, as removals need).
    await own.goto(`${h.issuer}/account/credentials?ui_locales=en`);
    await own.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    await own.waitForURL((u) => u.pathname.startsWith('/interaction/'));
    await own.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'signed_in_again');
    await own.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    await own.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');
    expect(await atKiosk()).toBe('revoked');
    const events = await h.yihao.services.audit.forAccount(victim.sub);
    expect(events.find((e) => e.action === 'vc.revoked')).toMatchObject({ details: { reason: 'passkey_removed' } });
  });

  it('refuses a removed passkey with a clear message, and shows an alert when the citizen cancels', async () => {
    const someone = await h.citizen();
    const page = await pages.next();
    const authenticator = await virtualAuthenticator(page);
    await enrolInPortal(page, someone);
    // The portal sign-in was a password alone (loa:1): removing the passkey, now the account's second
    // factor, sends the citizen to sign in with it first; then the removal goes through.
    await page.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/interaction/'));
    const account = (await h.yihao.accounts.findBySub(someone.sub))!;
    expect(await h.yihao.stores.db('passkeys').where({ account_id: account.id })).toHaveLength(1);
    await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'signed_in_again');
    await page.getByRole('button', { name: 'Remove Passkey', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('notice') === 'credential_removed');
    expect(await page.locator('[data-credential-type="passkey"]').count()).toBe(0);

    // The authenticator still holds it, but Yihao no longer knows it.
    await authorize(page, { acr_values: LOA2, ui_locales: 'en', prompt: 'login' });
    await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect((await page.getByRole('alert').textContent())?.trim()).toBe(
      'This passkey is not linked to a Yihao account (it may have been removed). Use another way to sign in.',
    );

    // The citizen fails the fingerprint / PIN check: the ceremony fails in the browser, the page says so.
    await authenticator.userVerifies(false);
    const button = page.getByRole('button', { name: 'Sign in with a passkey', exact: true });
    await button.click();
    const status = page.locator('#passkey-status');
    await status.waitFor({ state: 'visible' });
    expect((await status.textContent())?.trim()).toBe('Passkey sign-in did not complete. Try again, or use another way to sign in.');
    expect(await button.isEnabled()).toBe(true);
  });
});
