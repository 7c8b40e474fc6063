/**
 * TOTP in a real browser (the system Chromium, driven by playwright-core): a relying party asks for
 * urn:yihao:loa:2, the citizen sets an authenticator app up from the QR code in the middle of the
 * sign-in, saves the recovery codes, and later signs in with password + code; a session signed in
 * at loa:1 is stepped up in place when another app demands loa:2. openid-client redeems every code
 * and checks the ID token's acr and amr.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { maskCitizenId, parseCitizenId } from '../../src/identity/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizeInBrowser, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';

/** What people see, in each language. */
const UI = {
  'zh-CN': {
    identifier: '身份证号或手机号',
    password: '密码',
    signIn: '登录',
    enrolTitle: '设置身份验证器',
    qrAlt: '用于在身份验证器应用中添加一号账号的二维码',
    enrolCode: '应用显示的 6 位验证码',
    confirm: '确认',
    recoveryTitle: '保存恢复码',
    continue: '继续',
    totpTitle: '两步验证',
    code: '验证码',
    verify: '验证',
  },
  en: {
    identifier: 'ID number or mobile number',
    password: 'Password',
    signIn: 'Sign in',
    enrolTitle: 'Set up an authenticator app',
    qrAlt: 'QR code that adds your Yihao account to an authenticator app',
    enrolCode: '6-digit code from the app',
    confirm: 'Confirm',
    recoveryTitle: 'Save your recovery codes',
    continue: 'Continue',
    totpTitle: 'Two-step verification',
    code: 'Verification code',
    verify: 'Verify',
  },
} as const;
type Lang = keyof typeof UI;

/** The code an authenticator app shows `steps` periods from now. */
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

describe.skipIf(!chromiumAvailable)('TOTP enrolment, sign-in and step-up in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let landing: LandingPage;
  let redirectUri: string;
  /** Two government apps: one content with a password, one that demands loa:2. */
  let socialSecurity: oidc.Configuration;
  let landRegistry: oidc.Configuration;
  const pages = freshPages(() => browser);
  const newPage = () => pages.next();

  beforeAll(async () => {
    landing = await startLandingPage();
    redirectUri = landing.redirectUri;
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const rp = async (name: string) => {
      const client = await h.client({ name, redirectUris: [redirectUri], scope: 'openid profile', firstParty: true });
      return oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    };
    socialSecurity = await rp('社保查询');
    landRegistry = await rp('不动产登记');
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
  });


  /** Opens an authorization request in the page; `land` clicks the button that ends at the RP and redeems the code there. */
  const authorize = (page: Page, rp: oidc.Configuration, extra: Record<string, string> = {}) => authorizeInBrowser(page, rp, redirectUri, extra);

  async function signInWithPassword(page: Page, lang: Lang, citizen: { citizenId: string; password: string }) {
    await page.getByLabel(UI[lang].identifier, { exact: true }).fill(citizen.citizenId);
    await page.getByLabel(UI[lang].password, { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: UI[lang].signIn, exact: true }).click();
  }


  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let secret: string;

  it('zh-CN: an app asks for loa:2, the citizen has no TOTP: password, QR code, code from the app, recovery codes, back at the app with acr loa:2 and amr pwd+otp+mfa', async () => {
    citizen = await h.citizen();
    const ui = UI['zh-CN'];
    const page = await newPage();
    const flow = await authorize(page, landRegistry, { acr_values: LOA2 });
    await signInWithPassword(page, 'zh-CN', citizen);

    await page.getByRole('heading', { name: ui.enrolTitle, exact: true }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    // The QR code is an inline PNG the page really renders (the CSP allows data: images), and it
    // carries the otpauth:// URI for the secret printed beside it.
    const qr = page.getByRole('img', { name: ui.qrAlt, exact: true });
    expect(await qr.isVisible()).toBe(true);
    const drawn = await qr.evaluate((img) => {
      const { complete, naturalWidth } = img as unknown as { complete: boolean; naturalWidth: number };
      return complete ? naturalWidth : 0;
    });
    expect(drawn).toBeGreaterThan(100);
    secret = (await page.locator('#manual-key').textContent())!.replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const { qrCodeDataUrl, totpUri } = await import('../../src/mfa/totp.js');
    const label = maskCitizenId(parseCitizenId(citizen.citizenId));
    expect(await qr.getAttribute('src')).toBe(await qrCodeDataUrl(totpUri(secret, { issuer: 'Yihao', label })));
    await expectNoSeriousAxeViolations(page, 'the zh-CN TOTP enrolment page', ['html-has-lang', 'document-title']);

    await page.getByLabel(ui.enrolCode, { exact: true }).fill(await codeAt(secret));
    await page.getByRole('button', { name: ui.confirm, exact: true }).click();
    await page.getByRole('heading', { name: ui.recoveryTitle, exact: true }).waitFor();
    const codes = await page.locator('#recovery-codes li').allTextContents();
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c.trim()).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    await expectNoSeriousAxeViolations(page, 'the zh-CN recovery codes page', ['html-has-lang', 'document-title']);

    const claims = await flow.land(() => page.getByRole('button', { name: ui.continue, exact: true }).click());
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
  });

  it('English, another browser later: password, then the code from the app, and loa:2', async () => {
    expect(secret, 'the enrolment test ran first').toBeDefined();
    const ui = UI.en;
    const page = await newPage();
    const flow = await authorize(page, landRegistry, { acr_values: LOA2, ui_locales: 'en' });
    await signInWithPassword(page, 'en', citizen);
    await page.getByRole('heading', { name: ui.totpTitle, exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the en TOTP page', ['html-has-lang', 'document-title']);

    // A wrong code first: an error tied to the field, and the page stays accessible.
    const field = page.getByLabel(ui.code, { exact: true });
    await field.fill('000000' === (await codeAt(secret, 1)) ? '111111' : '000000');
    await page.getByRole('button', { name: ui.verify, exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('The code is not correct.');
    expect(await field.getAttribute('aria-describedby')).toContain('form-error');
    await expectNoSeriousAxeViolations(page, 'the en TOTP page showing an error', ['html-has-lang', 'document-title']);

    // The enrolment used this period's code; the app's next one is accepted (one period of drift is allowed).
    await page.getByLabel(ui.code, { exact: true }).fill(await codeAt(secret, 1));
    const claims = await flow.land(() => page.getByRole('button', { name: ui.verify, exact: true }).click());
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
  });

  it('steps up in place: signed in at loa:1 for one app, another app demands loa:2, and only the TOTP step appears', async () => {
    // A citizen whose authenticator was set up earlier (with last period's code, so this period's is fresh).
    const other = await h.citizen();
    const services = h.yihao.services.secondFactors;
    const account = (await h.yihao.accounts.findBySub(other.sub))!;
    const record = await services.begin('e2e-setup', { accountId: account.id, sub: other.sub, stage: 'enrol', amr: ['pwd'], stepUp: false }, 60);
    const otherSecret = (await services.enrolmentDisplay('e2e-setup', record, 'e2e')).secret.replace(/\s/g, '');
    expect((await services.confirmEnrolment('e2e-setup', record, await codeAt(otherSecret, -1))).ok).toBe(true);
    await services.settle('e2e-setup');

    const ui = UI.en;
    const page = await newPage();
    const first = await authorize(page, socialSecurity, { ui_locales: 'en' });
    const loa1 = await first.land(() => signInWithPassword(page, 'en', other));
    expect(loa1).toMatchObject({ sub: other.sub, acr: LOA1, amr: ['pwd'] });

    const second = await authorize(page, landRegistry, { acr_values: LOA2, ui_locales: 'en' });
    await page.getByRole('heading', { name: ui.totpTitle, exact: true }).waitFor();
    expect(await page.getByText('不动产登记 needs a higher level of assurance.', { exact: false }).isVisible()).toBe(true);
    // The password is already proven in this session: it is not asked again.
    expect(await page.getByLabel(ui.password, { exact: true }).count()).toBe(0);
    await page.getByLabel(ui.code, { exact: true }).fill(await codeAt(otherSecret));
    const loa2 = await second.land(() => page.getByRole('button', { name: ui.verify, exact: true }).click());
    expect(loa2).toMatchObject({ sub: other.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
    expect(loa2.auth_time).toBeGreaterThanOrEqual(loa1.auth_time!);

    // The first app, asked again, gets the stepped-up session straight away, without any page.
    const again = await authorize(page, socialSecurity, { ui_locales: 'en' });
    expect(await again.redeem()).toMatchObject({ sub: other.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'] });
  });
});
