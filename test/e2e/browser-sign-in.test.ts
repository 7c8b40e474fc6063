/**
 * A real browser (the system Chromium, driven by playwright-core) signs a citizen in through
 * Yihao's own pages, finding the fields the way people and assistive technology do: by their
 * labels and roles. The relying party is a tiny HTTP server on 127.0.0.1, so the browser really
 * lands back at the redirect_uri, and openid-client then redeems the code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page, Response } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { authorizationRequest, startLandingPage, type LandingPage } from '../support/landing-page.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';

type Lang = 'zh-CN' | 'en';

/** What people see and what the DESIGN.md promises ("Interfaces that outsiders rely on"). */
const UI = {
  'zh-CN': {
    uiLocales: undefined,
    identifier: '身份证号或手机号',
    password: '密码',
    signIn: '登录',
    allow: '同意',
  },
  en: {
    uiLocales: 'en',
    identifier: 'ID number or mobile number',
    password: 'Password',
    signIn: 'Sign in',
    allow: 'Allow',
  },
} as const;

const LANGS: Lang[] = ['zh-CN', 'en'];
const SCOPE = 'openid profile';

describe.skipIf(!chromiumAvailable)('a citizen signs in with a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  let rp: oidc.Configuration;
  let landing: LandingPage;
  let redirectUri: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  const pages = freshPages(() => browser);
  const newPage = () => pages.next();

  beforeAll(async () => {
    landing = await startLandingPage();
    redirectUri = landing.redirectUri;

    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const client = await h.client({ name: '社保查询', redirectUris: [redirectUri], scope: SCOPE });
    rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    citizen = await h.citizen();
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await landing?.close();
    await h?.close();
  });


  /** An authorization request with code + PKCE (S256), state and nonce, as openid-client builds it. */
  function authorization(lang: Lang) {
    const uiLocales = UI[lang].uiLocales;
    return authorizationRequest(rp, redirectUri, { scope: SCOPE, ...(uiLocales ? { ui_locales: uiLocales } : {}) });
  }

  async function openLogin(page: Page, lang: Lang) {
    const auth = await authorization(lang);
    const res = await page.goto(auth.url.href);
    expect(res?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    expect(await page.locator('html').getAttribute('lang')).toBe(lang);
    return auth;
  }

  /** Clicks (or presses) something that submits a form and returns the response to that POST. */
  async function submitting(page: Page, action: () => Promise<void>): Promise<Response> {
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), action()]);
    await page.waitForLoadState();
    return res;
  }

  async function consentAndLand(page: Page, lang: Lang, auth: Awaited<ReturnType<typeof authorization>>) {
    expect(await page.locator('html').getAttribute('lang')).toBe(lang);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(redirectUri)), page.getByRole('button', { name: UI[lang].allow, exact: true }).click()]);
    const landed = new URL(page.url());
    expect(landed.origin + landed.pathname).toBe(redirectUri);
    expect(landed.searchParams.get('code')).toBeTruthy();
    expect(landed.searchParams.get('state')).toBe(auth.state);
    expect(landed.searchParams.has('error')).toBe(false);
    // The browser really is at the relying party: its page rendered, and its server saw the callback.
    expect(await page.getByRole('heading', { name: 'Back at the relying party' }).isVisible()).toBe(true);
    expect(landing.hits).toContain(landed.pathname + landed.search);

    const tokens = await oidc.authorizationCodeGrant(rp, landed, { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(citizen.sub);
    expect(claims.acr).toBe('urn:yihao:loa:1');
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.channel).toBe('web');
    expect(typeof claims.auth_time).toBe('number');
    return landed;
  }

  interface Focused {
    tag: string;
    id: string;
    type: string;
    text: string;
    focusVisible: boolean;
    outlineStyle: string;
    outlineWidth: string;
    left: number;
  }
  /** The focused element and how it is drawn (strings, because tsconfig has no DOM lib). */
  const focused = (page: Page) =>
    page.evaluate<Focused>(`(() => {
      const el = document.activeElement;
      if (!el) return null;
      const cs = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(), id: el.id, type: el.getAttribute('type') || '', text: (el.textContent || '').trim(),
        focusVisible: el.matches(':focus-visible'), outlineStyle: cs.outlineStyle, outlineWidth: cs.outlineWidth,
        left: el.getBoundingClientRect().left,
      };
    })()`);

  function expectVisibleFocus(f: Focused, what: string) {
    expect(f.focusVisible, `${what} matches :focus-visible after keyboard focus`).toBe(true);
    expect(f.outlineStyle, `${what} has a focus outline`).not.toBe('none');
    expect(parseFloat(f.outlineWidth), `${what} focus outline width`).toBeGreaterThan(0);
  }

  /** Runs axe-core in the page; fails on serious or critical violations and lists them readably. */

  it('zh-CN by default: fill by labels, sign in, consent; lands at the RP with code and state; ID token acr/amr/channel; axe-clean pages', async () => {
    const page = await newPage();
    const auth = await openLogin(page, 'zh-CN');
    await expectNoSeriousAxeViolations(page, 'the zh-CN login page');
    await page.getByLabel(UI['zh-CN'].identifier, { exact: true }).fill(citizen.citizenId);
    await page.getByLabel(UI['zh-CN'].password, { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: UI['zh-CN'].signIn, exact: true }).click();
    await page.getByRole('button', { name: UI['zh-CN'].allow, exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the zh-CN consent page');
    await consentAndLand(page, 'zh-CN', auth);
  });

  it('English (ui_locales=en) by keyboard alone: Tab order, visible focus, Enter in the password field submits; axe-clean pages', async () => {
    // Someone who has not allowed this app yet, so that the consent page comes (it is asked once per app).
    citizen = await h.citizen();
    const page = await newPage();
    const auth = await openLogin(page, 'en');
    const ui = UI.en;
    await expectNoSeriousAxeViolations(page, 'the en login page');
    // The labels name the fields (the same fields the keyboard walk uses below).
    expect(await page.getByLabel(ui.identifier, { exact: true }).getAttribute('id')).toBe('identifier');
    expect(await page.getByLabel(ui.password, { exact: true }).getAttribute('id')).toBe('password');

    // autofocus puts the caret in the identifier field.
    let f = await focused(page);
    expect(f.id).toBe('identifier');
    await page.keyboard.type(citizen.citizenId);

    // Shift+Tab reaches the skip link, which then comes on screen.
    await page.keyboard.press('Shift+Tab');
    f = await focused(page);
    expect(f.tag).toBe('a');
    expect(f.left, 'skip link is on screen when focused').toBeGreaterThanOrEqual(0);
    expectVisibleFocus(f, 'skip link');

    await page.keyboard.press('Tab');
    f = await focused(page);
    expect(f.id).toBe('identifier');
    expectVisibleFocus(f, 'identifier field');

    await page.keyboard.press('Tab');
    f = await focused(page);
    expect(f.id).toBe('password');
    expectVisibleFocus(f, 'password field');
    await page.keyboard.type(citizen.password);

    await page.keyboard.press('Tab');
    f = await focused(page);
    expect(f.tag).toBe('button');
    expect(f.text).toBe(ui.signIn);
    expectVisibleFocus(f, 'Sign in button');

    await page.keyboard.press('Shift+Tab');
    f = await focused(page);
    expect(f.id).toBe('password');
    const res = await submitting(page, () => page.keyboard.press('Enter'));
    expect(res.status()).toBe(303);

    await page.getByRole('button', { name: ui.allow, exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the en consent page');
    await consentAndLand(page, 'en', auth);
  });

  it.each(LANGS)('%s: a wrong password and an unknown identifier get the same generic message', async (lang) => {
    const page = await newPage();
    await openLogin(page, lang);
    const ui = UI[lang];
    const identifier = page.getByLabel(ui.identifier, { exact: true });
    const password = page.getByLabel(ui.password, { exact: true });
    const signIn = page.getByRole('button', { name: ui.signIn, exact: true });

    await identifier.fill(citizen.citizenId);
    await password.fill(`${citizen.password}-wrong`);
    const wrong = await submitting(page, () => signIn.click());
    const wrongText = (await page.getByRole('alert').textContent())?.trim();
    expect(wrong.status()).toBe(401);
    expect(wrongText).toBe(lang === 'en' ? 'The ID number, mobile number or password is not correct.' : '身份证号/手机号或密码不正确。');
    expect(await page.locator('html').getAttribute('lang')).toBe(lang);
    // The error is tied to the field it is about, and the page with the error is still accessible.
    expect(await identifier.getAttribute('aria-describedby')).toContain('form-error');
    await expectNoSeriousAxeViolations(page, `the ${lang} login page showing an error`);

    const unknown = syntheticCitizenId(); // well-formed, but nobody has it
    await identifier.fill(unknown);
    await password.fill(citizen.password);
    const missing = await submitting(page, () => signIn.click());
    expect(missing.status()).toBe(401);
    expect((await page.getByRole('alert').textContent())?.trim()).toBe(wrongText);
    expect(page.url()).not.toContain(redirectUri);
  });
});
