/**
 * Step-up in place in a real browser (the system Chromium) driven by a client's registered minimum:
 * the citizen signs in at loa:1 for one app, then another app registered with `min_acr` loa:2 asks
 * without any acr_values, and only the TOTP step appears. (totp.test.ts covers the same in-place
 * step-up when the app asks with acr_values.) openid-client redeems every code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizeInBrowser, startLandingPage, type LandingPage } from '../support/landing-page.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

describe.skipIf(!chromiumAvailable)("step-up in place for a client's registered minimum (Chromium)", () => {
  let h: Harness;
  let browser: Browser;
  let landing: LandingPage;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    landing = await startLandingPage();
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
  });

  async function app(name: string, extra: { minAcr?: typeof LOA2 } = {}) {
    const client = await h.client({ name, redirectUris: [landing.redirectUri], scope: 'openid profile', firstParty: true, ...extra });
    return oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  }

  it('signed in at loa:1 for one app; an app registered with min_acr loa:2 gets only the TOTP step, then loa:2', async () => {
    const citizen = await h.citizen();
    const mfa = h.yihao.services.secondFactors;
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const record = await mfa.begin('e2e-min-acr', { accountId: account.id, sub: citizen.sub, stage: 'enrol', amr: ['pwd'], stepUp: false }, 60);
    const secret = (await mfa.enrolmentDisplay('e2e-min-acr', record, 'e2e')).secret.replace(/\s/g, '');
    expect((await mfa.confirmEnrolment('e2e-min-acr', record, await codeAt(secret, -1))).ok).toBe(true);
    await mfa.settle('e2e-min-acr');

    const [socialSecurity, landRegistry] = [await app('社保查询'), await app('不动产登记', { minAcr: LOA2 })];
    const page = await pages.next();
    // No acr_values in either request: only the second app's registration asks for more.
    const first = await authorizeInBrowser(page, socialSecurity, landing.redirectUri, { ui_locales: 'en' });
    const loa1 = await first.land(async () => {
      await page.getByLabel('ID number or mobile number', { exact: true }).fill(citizen.citizenId);
      await page.getByLabel('Password', { exact: true }).fill(citizen.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    });
    expect(loa1).toMatchObject({ sub: citizen.sub, acr: LOA1, amr: ['pwd'], channel: 'web' });

    const second = await authorizeInBrowser(page, landRegistry, landing.redirectUri, { ui_locales: 'en' });
    await page.getByRole('heading', { name: 'Two-step verification', exact: true }).waitFor();
    expect(await page.getByText('不动产登记 needs a higher level of assurance.', { exact: false }).isVisible()).toBe(true);
    expect(await page.getByLabel('Password', { exact: true }).count()).toBe(0);
    await page.getByLabel('Verification code', { exact: true }).fill(await codeAt(secret));
    const loa2 = await second.land(() => page.getByRole('button', { name: 'Verify', exact: true }).click());
    expect(loa2).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
  });
});
