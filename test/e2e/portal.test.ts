/**
 * The citizen portal in a real browser (the system Chromium): signing in through Yihao's login
 * page, moving between the portal's pages by their links, acting through their buttons, and
 * axe-core on every page in both languages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';


describe.skipIf(!chromiumAvailable)('the citizen portal in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  const newPage = () => pages.next();
  let app: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    app = await h.client({ name: '公积金查询', grantTypes: ['authorization_code', 'refresh_token'] });
  });
  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });


  /** The citizen also uses an app from another device: a session and a consent to show. */
  async function signInAtAppElsewhere(citizen: Awaited<ReturnType<Harness['citizen']>>) {
    const rp = await relyingParty(h, app);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    return { rp, tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }) };
  }


  it('signs in by labels, walks every page by its links in both languages, axe-clean', async () => {
    const citizen = await h.citizen({ name: '王五' });
    await signInAtAppElsewhere(citizen);
    const page = await newPage();
    await page.goto(`${h.url}/account`);
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    await page.getByLabel('身份证号或手机号', { exact: true }).fill(citizen.citizenId);
    await page.getByLabel('密码', { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: '登录', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/account');
    await page.getByRole('heading', { level: 1, name: '个人资料' }).waitFor();
    expect(await page.content()).not.toContain(citizen.citizenId);
    await expectNoSeriousAxeViolations(page, 'the zh-CN profile page');

    for (const [link, heading] of [['登录方式', '登录方式'], ['登录会话', '登录会话'], ['授权应用', '授权应用'], ['访问记录', '访问记录']] as const) {
      await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      expect(await page.getByRole('link', { name: link, exact: true }).getAttribute('aria-current')).toBe('page');
      await expectNoSeriousAxeViolations(page, `the zh-CN ${link} page`);
    }

    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Access history' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await expectNoSeriousAxeViolations(page, 'the en access history page');
    for (const [link, heading] of [['Profile', 'Profile'], ['Sign-in methods', 'Sign-in methods'], ['Sessions', 'Sessions'], ['Connected apps', 'Connected apps']] as const) {
      await page.getByRole('navigation').getByRole('link', { name: link, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await expectNoSeriousAxeViolations(page, `the en ${link} page`);
    }
  });

  it('revokes an app, ends the other session and signs out, all with buttons and no JavaScript', async () => {
    const citizen = await h.citizen();
    const elsewhere = await signInAtAppElsewhere(citizen);
    const page = await newPage();
    await page.goto(`${h.url}/account/apps?ui_locales=en`);
    await page.getByLabel('ID number or mobile number', { exact: true }).fill(citizen.citizenId);
    await page.getByLabel('Password', { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Connected apps' }).waitFor();

    await page.getByRole('button', { name: 'Revoke access for 公积金查询', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Access revoked' }).waitFor();
    expect(await page.getByRole('heading', { name: '公积金查询' }).count()).toBe(0);
    await expectNoSeriousAxeViolations(page, 'the en apps page with a notice');
    await expect(oidc.refreshTokenGrant(elsewhere.rp, elsewhere.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await page.getByRole('navigation').getByRole('link', { name: 'Sessions', exact: true }).click();
    const other = page.locator('section[data-session]').filter({ hasNotText: 'This browser' });
    expect(await other.count()).toBe(1);
    await other.getByRole('button', { name: 'End this session', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Session ended' }).waitFor();
    expect(await page.locator('section[data-session]').count()).toBe(1);

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Signed out' }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the en signed-out page');
    await page.getByRole('link', { name: 'Sign in again', exact: true }).click();
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
  });
});
