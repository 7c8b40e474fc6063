/**
 * A real browser (system Chromium) signs a citizen in through an upstream identity provider: a
 * real second OpenID Provider on 127.0.0.1 (test/support/upstream-op.ts). The relying party is the
 * shared landing page plus openid-client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { authorizeInBrowser, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const UPSTREAM = 'province';
const UI = {
  'zh-CN': { uiLocales: undefined, button: '使用「某省统一身份认证平台」登录', allow: '同意', identifier: '身份证号或手机号', password: '密码', signIn: '登录' },
  en: { uiLocales: 'en', button: 'Sign in with Province Sign-In', allow: 'Allow', identifier: 'ID number or mobile number', password: 'Password', signIn: 'Sign in' },
} as const;
type Lang = keyof typeof UI;

describe.skipIf(!chromiumAvailable)('a citizen signs in through an upstream identity provider with a real browser (Chromium)', () => {
  let h: Harness;
  let up: UpstreamOp;
  let browser: Browser;
  let rp: oidc.Configuration;
  let landing: LandingPage;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    landing = await startLandingPage();
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite', overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) }), launchChromium()]);
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: UPSTREAM });
    await h.yihao.federation.upstreams.add(
      {
        name: UPSTREAM,
        displayName: '某省统一身份认证平台',
        displayNameEn: 'Province Sign-In',
        issuer: up.issuer,
        clientId: up.clientId,
        scope: 'openid profile citizen_id',
        citizenIdClaim: 'citizen_id',
        maxAcr: 'urn:yihao:loa:2',
        acrMap: { 'urn:upstream:strong': 'urn:yihao:loa:2' },
      },
      up.clientSecret,
    );
    const client = await h.client({ name: '社保查询', redirectUris: [landing.redirectUri], scope: 'openid profile' });
    rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    citizen = await h.citizen();
    up.citizens.set('zhang.san', { claims: { citizen_id: citizen.citizenId, name: citizen.name }, acr: 'urn:upstream:strong', amr: ['pwd', 'otp'] });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await up?.close();
    await h?.close();
  });

  const openLogin = (page: Page, lang: Lang) => authorizeInBrowser(page, rp, landing.redirectUri, UI[lang].uiLocales ? { ui_locales: UI[lang].uiLocales } : {});

  /** At the upstream's own page: type the login name and continue. */
  async function atUpstream(page: Page, login: string) {
    await page.waitForURL((u) => u.origin === up.issuer);
    await page.getByLabel('Login name').fill(login);
    await page.getByRole('button', { name: 'Continue' }).click();
  }

  const land = (page: Page, lang: Lang, auth: Awaited<ReturnType<typeof openLogin>>) =>
    auth.land(() => page.getByRole('button', { name: UI[lang].allow, exact: true }).click());

  it('signs in via the upstream and reaches the relying party with the expected sub, acr, amr and channel', async () => {
    const page = await pages.next();
    const auth = await openLogin(page, 'zh-CN');
    await expectNoSeriousAxeViolations(page, 'the zh-CN login page with an upstream button');
    await page.getByRole('button', { name: UI['zh-CN'].button, exact: true }).click();
    await atUpstream(page, 'zhang.san');
    const claims = await land(page, 'zh-CN', auth);
    expect(claims.sub).toBe(citizen.sub);
    expect(claims.acr).toBe('urn:yihao:loa:2');
    // This upstream is not trusted for its amr: only `fed`.
    expect(claims.amr).toEqual(['fed']);
    expect(claims.channel).toBe('web');
  });

  it('signs in again with the local password and gets the same sub, without being asked for consent again', async () => {
    const page = await pages.next();
    const auth = await openLogin(page, 'en');
    await page.getByLabel(UI.en.identifier, { exact: true }).fill(citizen.citizenId);
    await page.getByLabel(UI.en.password, { exact: true }).fill(citizen.password);
    // The app was allowed in the first sign-in (consent is asked once per app): signing in lands.
    const claims = await auth.land(() => page.getByRole('button', { name: UI.en.signIn, exact: true }).click());
    expect(claims.sub).toBe(citizen.sub);
    expect(claims.amr).toEqual(['pwd']);
  });

  it('is refused, with a clear message in zh-CN and en, when the upstream asserts a conflicting citizen ID', async () => {
    up.citizens.set('zhang.san', { claims: { citizen_id: syntheticCitizenId(), name: citizen.name } });
    const expected = {
      'zh-CN': '「某省统一身份认证平台」此次提供的身份证号与该账号此前关联的不一致，已拒绝登录。请联系该平台核实。',
      en: 'Province Sign-In sent a different ID number than before for this account, so the sign-in was refused. Please ask Province Sign-In to check it.',
    };
    for (const lang of ['zh-CN', 'en'] as const) {
      const page = await pages.next();
      await openLogin(page, lang);
      await page.getByRole('button', { name: UI[lang].button, exact: true }).click();
      await atUpstream(page, 'zhang.san');
      await page.waitForURL((u) => u.origin === h.issuer && u.pathname.endsWith('/federation-result'));
      expect(await page.getByRole('alert').textContent()).toBe(expected[lang]);
      expect(await page.locator('html').getAttribute('lang')).toBe(lang);
      // The password form is still there, and works.
      expect(await page.getByLabel(UI[lang].password, { exact: true }).isVisible()).toBe(true);
    }
  });
});
