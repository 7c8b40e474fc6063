/**
 * Self-registration in a real browser (the system Chromium, driven by playwright-core): fields
 * found by their labels, the SMS code read from the development outbox, and the new account then
 * used to sign in to a relying party through openid-client. Each error the citizen can meet on
 * the way is shown with its own message: a registry mismatch, a duplicate ID number, a bad code,
 * an expired code, and too many codes.
 *
 * The registry is a file of synthetic people written for this run, so that no test collides with
 * another (or with the shipped synthetic registry): each test has its own person and phone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page, Response } from 'playwright-core';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizationRequest, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';

type Lang = 'zh-CN' | 'en';

/** What people see, by language. */
const UI = {
  'zh-CN': {
    uiLocales: undefined,
    createAccountLink: '注册账号',
    registerTitle: '注册账号',
    citizenId: '身份证号',
    name: '姓名',
    phone: '手机号',
    sendCode: '获取验证码',
    code: '短信验证码',
    password: '设置密码',
    confirm: '确认密码',
    createAccount: '注册',
    resend: '重新发送验证码',
    doneTitle: '注册成功',
    continueSignIn: '返回登录',
    identifier: '身份证号或手机号',
    loginPassword: '密码',
    signIn: '登录',
    allow: '同意',
    registryMismatch: '姓名与身份证号在人口信息库中不一致，账号未创建。请核对后重新填写。',
    duplicateCitizenId: '该身份证号已注册账号。请直接登录；如忘记密码，可通过短信验证重置。',
    wrongCode: '验证码不正确，请核对短信后重新输入。',
    expiredCode: '验证码已过期，请重新获取验证码。',
    newCodeSent: '新的验证码已发送。',
    tooManyCodes: /^该手机号获取验证码的次数过多，请在 \d+ (秒|分钟)后再试。$/,
  },
  en: {
    uiLocales: 'en',
    createAccountLink: 'Create an account',
    registerTitle: 'Create an account',
    citizenId: 'ID number',
    name: 'Full name',
    phone: 'Mobile number',
    sendCode: 'Send code',
    code: 'SMS code',
    password: 'Password',
    confirm: 'Confirm password',
    createAccount: 'Create account',
    resend: 'Send a new code',
    doneTitle: 'Account created',
    continueSignIn: 'Continue to sign in',
    identifier: 'ID number or mobile number',
    loginPassword: 'Password',
    signIn: 'Sign in',
    allow: 'Allow',
    registryMismatch: 'The name and ID number do not match the population registry. No account was created. Please check both and try again.',
    duplicateCitizenId: 'An account already exists for this ID number. Please sign in instead; if you forgot the password, you can reset it with an SMS code.',
    wrongCode: 'The code is not correct. Check the text message and try again.',
    expiredCode: 'The code has expired. Please request a new one.',
    newCodeSent: 'A new code has been sent.',
    tooManyCodes: /^Too many codes have been sent to this number\. Please try again in \d+ (seconds|minutes)\.$/,
  },
} as const;

interface Person {
  citizenId: string;
  name: string;
  /** National form, as typed (11 digits). */
  phone: string;
}

let phoneSeq = 0;
const phoneFor = () => `137${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneSeq).padStart(4, '0')}`;
const personNamed = (name: string): Person => ({ citizenId: syntheticCitizenId(), name, phone: phoneFor() });

/** One person per test, all in this run's registry file. */
const PEOPLE = {
  zh: personNamed('张伟'),
  en: personNamed('阿依古丽·买买提'),
  mismatch: personNamed('王小明'),
  duplicate: personNamed('李娜'),
  badCode: personNamed('刘洋'),
  expired: personNamed('陈静'),
  tooMany: personNamed('杨帆'),
};
/** A second number in the name of the person who registers twice. */
const SECOND_PHONE = phoneFor();

const SCOPE = 'openid profile';

describe.skipIf(!chromiumAvailable)('a citizen registers with a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let rp: oidc.Configuration;
  let landing: LandingPage;
  let redirectUri: string;
  let dir: string;
  const pages = freshPages(() => browser);
  const newPage = () => pages.next();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-registry-'));
    const registryFile = join(dir, 'registry.json');
    // Each person's phone is registered in their name, as the carrier's real-name check will ask.
    writeFileSync(registryFile, JSON.stringify(Object.values(PEOPLE).map(({ citizenId, name, phone }) => ({ citizenId, name, phones: citizenId === PEOPLE.duplicate.citizenId ? [phone, SECOND_PHONE] : [phone] }))));

    landing = await startLandingPage();
    redirectUri = landing.redirectUri;

    [h, browser] = await Promise.all([
      startHarness({
        backend: 'sqlite',
        overrides: (c: Config) => ({
          ...c,
          registry: { kind: 'file', path: registryFile, phoneCheck: true },
          // No resend pause, and two codes per number per hour, so "too many codes" comes on the third.
          sms: { ...c.sms, limits: { ...c.sms.limits, resendIntervalSeconds: 0, perNumber: { max: 2, windowSeconds: 3600 }, perIp: { max: 100, windowSeconds: 3600 } } },
        }),
      }),
      launchChromium(),
    ]);
    const client = await h.client({ name: '社保查询', redirectUris: [redirectUri], scope: SCOPE });
    rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });


  const accountCount = async () => Number((await h.yihao.stores.db('accounts').count({ n: '*' }).first())?.n);
  const outboxCode = async (phone: string) => {
    const code = await latestOutboxCode(outboxPath(h.config.dataDir), phone, 'register');
    if (!code) throw new Error('no code in the outbox');
    return code;
  };

  /** Clicks something that submits a form and returns the response to that POST. */
  async function submitting(page: Page, action: () => Promise<void>): Promise<Response> {
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), action()]);
    await page.waitForLoadState();
    return res;
  }

  const alertText = async (page: Page) => (await page.getByRole('alert').textContent())?.trim();


  function authorization(lang: Lang) {
    const uiLocales = UI[lang].uiLocales;
    return authorizationRequest(rp, redirectUri, { scope: SCOPE, ...(uiLocales ? { ui_locales: uiLocales } : {}) });
  }

  /** The registration form, opened directly (as from a government portal's "register" link). */
  async function openRegistration(page: Page, lang: Lang) {
    const res = await page.goto(`${h.url}/register${lang === 'en' ? '?ui_locales=en' : ''}`);
    expect(res?.status()).toBe(200);
    expect(await page.locator('html').getAttribute('lang')).toBe(lang);
  }

  async function stepOne(page: Page, lang: Lang, who: Person): Promise<Response> {
    const ui = UI[lang];
    await page.getByLabel(ui.citizenId, { exact: true }).fill(who.citizenId);
    await page.getByLabel(ui.name, { exact: true }).fill(who.name);
    await page.getByLabel(ui.phone, { exact: true }).fill(who.phone);
    return submitting(page, () => page.getByRole('button', { name: ui.sendCode, exact: true }).click());
  }

  async function stepTwo(page: Page, lang: Lang, code: string | undefined, password: string): Promise<Response> {
    const ui = UI[lang];
    if (code !== undefined) await page.getByLabel(ui.code, { exact: true }).fill(code);
    await page.getByLabel(ui.password, { exact: true }).fill(password);
    await page.getByLabel(ui.confirm, { exact: true }).fill(password);
    return submitting(page, () => page.getByRole('button', { name: ui.createAccount, exact: true }).click());
  }

  async function expectCreated(page: Page, lang: Lang, res: Response, who: Person) {
    expect(res.status()).toBe(200);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(UI[lang].doneTitle);
    const row = await h.yihao.stores.db('accounts').where({ phone: `+86${who.phone}` }).first();
    expect(row?.assurance).toBe('registry');
    expect(Number(row?.assurance_at)).toBeGreaterThan(Date.now() - 60_000);
  }

  async function signInAndLand(page: Page, lang: Lang, auth: Awaited<ReturnType<typeof authorization>>, identifier: string, password: string) {
    const ui = UI[lang];
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    await page.getByLabel(ui.identifier, { exact: true }).fill(identifier);
    await page.getByLabel(ui.loginPassword, { exact: true }).fill(password);
    await page.getByRole('button', { name: ui.signIn, exact: true }).click();
    await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.getByRole('button', { name: ui.allow, exact: true }).click()]);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(page.url()), { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce });
    return tokens.claims()!;
  }

  it.each([
    ['zh-CN', 'ID number', PEOPLE.zh],
    ['en', 'mobile number', PEOPLE.en],
  ] as const)('%s: from a relying party\'s sign-in page, registers and signs in with the new account by %s', async (lang, by, who) => {
    const ui = UI[lang];
    const page = await newPage();
    const auth = await authorization(lang);
    await page.goto(auth.url.href);
    const loginPath = new URL(page.url()).pathname;
    expect(loginPath).toMatch(/^\/interaction\//);

    await page.getByRole('link', { name: ui.createAccountLink, exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/register');
    expect(new URL(page.url()).searchParams.get('return_to')).toBe(loginPath);
    expect(await page.locator('html').getAttribute('lang')).toBe(lang);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(ui.registerTitle);
    // One language is enough for axe: both render the same markup.
    if (lang === 'zh-CN') await expectNoSeriousAxeViolations(page, 'the registration form');

    const sent = await stepOne(page, lang, who);
    expect(sent.status()).toBe(303);
    expect(new URL(page.url()).pathname).toBe('/register/code');
    // The ID number never appears in a URL.
    expect(page.url()).not.toContain(who.citizenId);
    if (lang === 'zh-CN') await expectNoSeriousAxeViolations(page, 'the code page');

    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const done = await stepTwo(page, lang, await outboxCode(who.phone), password);
    await expectCreated(page, lang, done, who);
    if (lang === 'zh-CN') await expectNoSeriousAxeViolations(page, 'the success page');

    await page.getByRole('link', { name: ui.continueSignIn, exact: true }).click();
    await page.waitForURL((u) => u.pathname === loginPath);
    const claims = await signInAndLand(page, lang, auth, by === 'ID number' ? who.citizenId : who.phone, password);
    const check = await h.yihao.accounts.verifyPassword(who.citizenId, password, '127.0.0.1');
    expect(check.ok && check.account.sub).toBe(claims.sub);
    expect(claims.acr).toBe('urn:yihao:loa:1');
    expect(claims.amr).toEqual(['pwd']);
  });

  it('a registry mismatch (en): a clear message, no account; corrected, the registration goes through', async () => {
    const who = PEOPLE.mismatch;
    const page = await newPage();
    await openRegistration(page, 'en');
    const before = await accountCount();
    expect((await stepOne(page, 'en', { ...who, name: '王晓明' })).status()).toBe(303);
    const refused = await stepTwo(page, 'en', await outboxCode(who.phone), 'a good long password');
    expect(refused.status()).toBe(422);
    expect(await alertText(page)).toBe(UI.en.registryMismatch);
    const name = page.getByLabel(UI.en.name, { exact: true });
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await name.getAttribute('aria-describedby')).toContain('form-error');
    expect(await name.inputValue()).toBe('王晓明');
    expect(await accountCount()).toBe(before);
    await expectNoSeriousAxeViolations(page, 'the registration form showing a registry mismatch');

    await name.fill(who.name);
    expect((await submitting(page, () => page.getByRole('button', { name: UI.en.sendCode, exact: true }).click())).status()).toBe(303);
    await expectCreated(page, 'en', await stepTwo(page, 'en', await outboxCode(who.phone), 'a good long password'), who);
  });

  it('a duplicate ID number (zh-CN): told only after the SMS code, and no second account', async () => {
    const who = PEOPLE.duplicate;
    // Registered before (as the registration would have created it: checked against the registry).
    await h.yihao.accounts.create({ ...who, password: 'the first password' }, { assurance: 'registry', at: Date.now() });
    const before = await accountCount();

    const page = await newPage();
    await openRegistration(page, 'zh-CN');
    const again = { ...who, phone: SECOND_PHONE };
    // Step 1 does not tell: someone without the phone learns nothing about the number.
    expect((await stepOne(page, 'zh-CN', again)).status()).toBe(303);
    const refused = await stepTwo(page, 'zh-CN', await outboxCode(again.phone), '另一个足够长的密码');
    expect(refused.status()).toBe(409);
    expect(await alertText(page)).toBe(UI['zh-CN'].duplicateCitizenId);
    expect(await accountCount()).toBe(before);
    expect(await h.yihao.stores.db('accounts').where({ phone: `+86${again.phone}` }).first()).toBeUndefined();
  });

  it('a bad SMS code (en): "not correct" on the code field; the right code then works', async () => {
    const who = PEOPLE.badCode;
    const page = await newPage();
    await openRegistration(page, 'en');
    await stepOne(page, 'en', who);
    const code = await outboxCode(who.phone);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    const refused = await stepTwo(page, 'en', wrong, 'a good long password');
    expect(refused.status()).toBe(400);
    expect(await alertText(page)).toBe(UI.en.wrongCode);
    const codeField = page.getByLabel(UI.en.code, { exact: true });
    expect(await codeField.getAttribute('aria-invalid')).toBe('true');
    expect(await codeField.getAttribute('aria-describedby')).toContain('form-error');
    expect(await h.yihao.stores.db('accounts').where({ phone: `+86${who.phone}` }).first()).toBeUndefined();

    await expectCreated(page, 'en', await stepTwo(page, 'en', code, 'a good long password'), who);
  });

  it('an expired SMS code (zh-CN): "expired, request a new one"; a new code then works', async () => {
    const who = PEOPLE.expired;
    const page = await newPage();
    await openRegistration(page, 'zh-CN');
    await stepOne(page, 'zh-CN', who);
    const code = await outboxCode(who.phone);
    // Five minutes pass: the stored code's expiry moves into the past (codes are stored hashed, per number).
    const moved = await h.yihao.stores.db('sms_codes').whereNull('consumed_at').update({ expires_at: Date.now() - 1000 });
    expect(moved).toBeGreaterThan(0);

    const refused = await stepTwo(page, 'zh-CN', code, '一个足够长的密码');
    expect(refused.status()).toBe(400);
    expect(await alertText(page)).toBe(UI['zh-CN'].expiredCode);
    expect(await h.yihao.stores.db('accounts').where({ phone: `+86${who.phone}` }).first()).toBeUndefined();

    const resent = await submitting(page, () => page.getByRole('button', { name: UI['zh-CN'].resend, exact: true }).click());
    expect(resent.status()).toBe(303);
    expect(await page.getByRole('status').textContent()).toContain(UI['zh-CN'].newCodeSent);
    const fresh = await outboxCode(who.phone);
    expect(fresh).not.toBe(code);
    await expectCreated(page, 'zh-CN', await stepTwo(page, 'zh-CN', fresh, '一个足够长的密码'), who);
  });

  it('too many SMS codes (en): the third code in an hour is refused with the wait', async () => {
    const who = PEOPLE.tooMany;
    const page = await newPage();
    await openRegistration(page, 'en');
    expect((await stepOne(page, 'en', who)).status()).toBe(303);
    const resend = () => submitting(page, () => page.getByRole('button', { name: UI.en.resend, exact: true }).click());
    expect((await resend()).status()).toBe(303);
    const refused = await resend();
    expect(refused.status()).toBe(429);
    expect(Number(await refused.headerValue('retry-after'))).toBeGreaterThan(0);
    expect(await alertText(page)).toMatch(UI.en.tooManyCodes);

    // Starting over with the same number does not get round it.
    await openRegistration(page, 'en');
    const again = await stepOne(page, 'en', who);
    expect(again.status()).toBe(429);
    expect(await alertText(page)).toMatch(UI.en.tooManyCodes);
    expect(await page.getByLabel(UI.en.phone, { exact: true }).getAttribute('aria-invalid')).toBe('true');
  });
});
