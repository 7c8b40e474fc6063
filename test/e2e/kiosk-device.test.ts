/**
 * A kiosk sign-in with the citizen's phone in a real browser (the system Chromium as the phone): the
 * kiosk (openid-client, private_key_jwt) starts the device authorization grant, the phone opens
 * `verification_uri_complete` from the QR code, the form_post page submits itself, the citizen
 * compares the code, confirms, signs in, and sees the success page; the kiosk's polling gets the
 * tokens. Every page is checked with axe, in Simplified Chinese and in English.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { ID_CARD_GRANT, simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const UI = {
  'zh-CN': { confirmTitle: '确认终端登录', confirm: '确认登录', identifier: '身份证号或手机号', password: '密码', signIn: '登录', doneTitle: '已登录' },
  en: { confirmTitle: 'Confirm the kiosk sign-in', confirm: 'Sign in', identifier: 'ID number or mobile number', password: 'Password', signIn: 'Sign in', doneTitle: 'Signed in' },
} as const;

describe.skipIf(!chromiumAvailable)('kiosk sign-in with the phone (device flow) in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let kiosk: SimulatedKiosk;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    kiosk = await simulatedKiosk(h, { grantTypes: [DEVICE_CODE as never, ID_CARD_GRANT as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
  });
  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  for (const lang of ['zh-CN', 'en'] as const) {
    it(`${lang}: the phone opens the QR link, compares the code, confirms and signs in; the kiosk gets the tokens`, async () => {
      const ui = UI[lang];
      const citizen = await h.citizen();
      // The citizen chose the language on the kiosk screen; the phone (an en-US Chromium) follows it.
      const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile', ui_locales: lang });

      const page = await pages.next();
      await page.goto(started.verification_uri_complete!);
      await page.getByRole('heading', { name: ui.confirmTitle, exact: true }).waitFor();
      expect(await page.locator('html').getAttribute('lang')).toBe(lang);
      expect(await page.locator('.user-code [aria-hidden=true]').textContent()).toBe(started.user_code);
      await expectNoSeriousAxeViolations(page, `the ${lang} device confirmation page`, ['html-has-lang', 'document-title']);

      await page.getByRole('button', { name: ui.confirm, exact: true }).click();
      await page.getByLabel(ui.identifier, { exact: true }).fill(citizen.citizenId);
      await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
      await page.getByRole('button', { name: ui.signIn, exact: true }).click();
      await page.getByRole('heading', { name: ui.doneTitle, exact: true }).waitFor();
      await expectNoSeriousAxeViolations(page, `the ${lang} device success page`, ['html-has-lang', 'document-title']);

      const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, started);
      expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:1', channel: 'web' });
    });
  }

  it('the code input page (opened without a code) is accessible and labelled', async () => {
    const page = await pages.next();
    await page.goto(`${h.issuer}/device?ui_locales=en`);
    expect(await page.getByLabel('Kiosk code', { exact: true }).isVisible()).toBe(true);
    await expectNoSeriousAxeViolations(page, 'the en device code input page', ['html-has-lang', 'document-title', 'label']);
  });
});
