/**
 * QR sign-in in a real browser (the system Chromium): the login page's "Sign in with the mobile
 * app" shows a QR code and a binding code; the simulated phone approves it with its device key; the
 * page, polling by itself, asks whose account it is about to sign into (the masked name), and once
 * the citizen confirms lands at the relying party, whose ID token says loa:2, amr swk, channel
 * mobile, for the same sub the phone's citizen has everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { authorizeInBrowser, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';

describe.skipIf(!chromiumAvailable)('QR sign-in approved on the phone, in Chromium', () => {
  let h: Harness;
  let browser: Browser;
  let rp: oidc.Configuration;
  let landing: LandingPage;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    landing = await startLandingPage();
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const client = await h.client({ name: '社保查询', redirectUris: [landing.redirectUri], scope: 'openid profile', firstParty: true });
    rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
  });

  it('goes on by itself once the phone approves, to the question whose account, then to the app', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, await registerMobileApp(h));
    const page = await pages.next();
    const scriptErrors: string[] = [];
    page.on('pageerror', (e) => scriptErrors.push(e.message));
    // (A missing favicon is a console error too; what matters here is the script and the CSP.)
    page.on('console', (m) => m.type() === 'error' && /Content Security Policy|script/i.test(m.text()) && scriptErrors.push(m.text()));
    const flow = await authorizeInBrowser(page, rp, landing.redirectUri, { ui_locales: 'en' });
    await page.getByRole('link', { name: 'Sign in with the mobile app' }).click();
    await page.getByRole('heading', { name: 'Sign in with the mobile app' }).waitFor();
    expect(await page.getByRole('img', { name: 'QR code to scan with the Yihao app' }).isVisible()).toBe(true);
    const bindingCode = await page.locator('#binding-code').textContent();
    expect(bindingCode).toMatch(/^\d{4}$/);
    await expectNoSeriousAxeViolations(page, 'the QR sign-in page');

    // The phone's camera reads the code in the QR image.
    const uid = /\/interaction\/([^/]+)\/qr/.exec(page.url())![1]!;
    const { ref } = (await new h.yihao.services.Adapter('QrHandoff').find(uid)) as { ref: string };
    const scanned = await phone.scan(ref);
    expect(scanned.json).toMatchObject({ client_name: '社保查询', binding_code: bindingCode });
    // Nobody touches the page until the phone approved: then the page asks whose account this is.
    expect((await phone.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    await page.getByRole('heading', { name: 'Confirm the account' }).waitFor();
    expect(await page.locator('#qr-account').textContent()).toMatch(new RegExp(`^${citizen.name[0]}\\*+ \\(ID number ending ${citizen.citizenId.slice(-4)}\\)$`));
    await expectNoSeriousAxeViolations(page, 'the QR sign-in question');
    const claims = await flow.land(() => page.getByRole('button', { name: /^Continue as / }).click());
    expect(claims).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:2', amr: ['swk'], channel: 'mobile' });
    // The page's one script ran under the CSP without complaint.
    expect(scriptErrors, scriptErrors.join('\n')).toEqual([]);
  });
});
