/**
 * The portal's wallet page in a real browser (the system Chromium): reached by its link, it asks
 * for a two-factor sign-in first, then shows the credential offer's QR code with the transaction
 * code apart from it; axe-core on each state, in both languages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { generate } from 'otplib';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { CHROMIUM_SIGN_IN } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';

describe.skipIf(!chromiumAvailable)('the portal wallet page in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
  });
  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  it('asks for two factors, then shows the QR code and the code apart, axe-clean in both languages', async () => {
    const citizen = await h.citizen({ name: '赵六' });
    const page = await pages.next();
    const ui = CHROMIUM_SIGN_IN.en;
    await page.goto(`${h.url}/account?ui_locales=en`);
    await page.getByLabel(ui.identifier, { exact: true }).fill(citizen.citizenId);
    await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: ui.signIn, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Profile' }).waitFor();

    await page.getByRole('navigation').getByRole('link', { name: 'Wallet', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Add to your wallet' }).waitFor();
    expect(await page.getByRole('button', { name: 'Add my identity credential to a wallet' }).count()).toBe(0);
    await expectNoSeriousAxeViolations(page, 'the en wallet page before two factors');

    await page.getByRole('button', { name: 'Sign in with two factors', exact: true }).click();
    // Raising the level signs in again: the password, then the second factor (set up now).
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const identifier = page.getByLabel(ui.identifier, { exact: true });
    if (await identifier.isEditable().catch(() => false)) await identifier.fill(citizen.citizenId);
    await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: ui.signIn, exact: true }).click();
    await page.getByRole('heading', { name: ui.enrolTitle, exact: true }).waitFor();
    const secret = (await page.locator('#manual-key').textContent())!.replace(/\s/g, '');
    await page.getByLabel(ui.enrolCode, { exact: true }).fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) }));
    await page.getByRole('button', { name: ui.confirm, exact: true }).click();
    await page.getByRole('button', { name: ui.continue, exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/account/wallet');

    await page.getByRole('button', { name: 'Add my identity credential to a wallet', exact: true }).click();
    const qr = page.getByRole('img', { name: 'QR code to receive the credential', exact: true });
    await qr.waitFor();
    expect(await qr.getAttribute('data-offer-uri')).toMatch(/^openid-credential-offer:\/\/\?credential_offer_uri=/);
    expect(await page.locator('[data-tx-code]').textContent()).toMatch(/^\d{6}$/);
    await expectNoSeriousAxeViolations(page, 'the en wallet page with an offer');

    await page.getByRole('link', { name: '中文', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: '添加到证照钱包' }).waitFor();
    // A fresh page load shows no offer again: it was shown once, on the answer to the button.
    expect(await page.locator('[data-tx-code]').count()).toBe(0);
    await page.getByRole('button', { name: '把我的居民身份电子凭证添加到钱包', exact: true }).click();
    await page.getByRole('img', { name: '凭证领取二维码', exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the zh-CN wallet page with an offer');
  });
});
