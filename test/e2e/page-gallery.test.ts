/**
 * Every kind of page a citizen or an operator sees, in both languages, in a real browser (the system
 * Chromium): each is checked by axe-core and saved as a screenshot in test-results/screenshots/
 * (ignored by git) for a person to look at. Within a language no two kinds of page share a <title>,
 * and each title ends with the service's name. The audit log is read the way an operator reads it:
 * actions in words, times with their zone, no word broken mid-word.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { messages } from '../../src/interactions/i18n.js';
import { nationalTree } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';

let phones = 0;
/** A fresh mainland number each time (one account per number), and how pages show it. */
const freshPhone = () => {
  const last = String(8000 + ++phones);
  return { phone: `1380013${last}`, masked: `138 **** ${last}` };
};

const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const LANGS = ['zh-CN', 'en'] as const;
type Lang = (typeof LANGS)[number];

/** A computed CSS property of the first element `selector` finds (the tests compile without the DOM types). */
const cssOf = (page: Page, selector: string, property: string): Promise<string> =>
  page.locator(selector).first().evaluate((el, p) => (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(el)[p]!, property);

const UI = {
  'zh-CN': { identifier: '身份证号或手机号', password: '密码', signIn: '登录', phone: '手机号', sendCode: '获取验证码', allow: '同意', signOut: '退出登录', code: '验证码', verify: '验证', nav: ['应用', '变更审核', '部门', '操作员', '审计日志', '签名密钥'], portalNav: ['登录方式', '登录会话', '授权应用', '访问记录'] },
  en: { identifier: 'ID number or mobile number', password: 'Password', signIn: 'Sign in', phone: 'Mobile number', sendCode: 'Send code', allow: 'Allow', signOut: 'Sign out', code: 'Verification code', verify: 'Verify', nav: ['Apps', 'Reviews', 'Departments', 'Operators', 'Audit log', 'Signing keys'], portalNav: ['Sign-in methods', 'Sessions', 'Connected apps', 'Access history'] },
} as const;

describe.skipIf(!chromiumAvailable)('every page in both languages: axe, screenshots, distinct titles (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  let rp: oidc.Configuration;
  let kiosk: SimulatedKiosk;
  let tree: Awaited<ReturnType<typeof nationalTree>>;
  const titles: Record<Lang, Map<string, string>> = { 'zh-CN': new Map(), en: new Map() };

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const client = await h.client({ name: '城市住房公积金', scope: 'openid profile phone' });
    rp = await relyingParty(h, client);
    kiosk = await simulatedKiosk(h, { name: '政务自助终端', grantTypes: [DEVICE_CODE as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
    tree = await nationalTree(h);
    for (const lang of LANGS) mkdirSync(join(SHOTS, lang), { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  /** axe, a full-page screenshot, and the title noted under the page's kind. */
  async function look(page: Page, lang: Lang, kind: string) {
    expect(await page.locator('html').getAttribute('lang'), kind).toBe(lang);
    await expectNoSeriousAxeViolations(page, `the ${lang} ${kind} page`, ['html-has-lang', 'document-title']);
    await page.screenshot({ path: join(SHOTS, lang, `${kind}.png`), fullPage: true });
    titles[lang].set(kind, await page.title());
  }

  for (const lang of LANGS) {
    it(`${lang}: the sign-in pages, the kiosk confirmation, registration, password reset and sign-out`, { timeout: 90_000 }, async () => {
      const ui = UI[lang];
      const { phone, masked } = freshPhone();
      const citizen = await h.citizen({ name: '陈小梅', phone });
      const page = await pages.next();
      // Nothing listens at the relying party's redirect_uri: answer it here.
      await page.route(`${REDIRECT}**`, (route) => route.fulfill({ contentType: 'text/plain', body: 'back at the app' }));

      await page.goto((await authorizationUrl(rp, 'p'.repeat(43), { ui_locales: lang, scope: 'openid profile phone' })).href);
      await page.getByLabel(ui.identifier, { exact: true }).waitFor();
      const uid = new URL(page.url()).pathname.split('/')[2]!;
      // The stylesheet arrives whole (its quoted font names were once escaped away).
      expect(await cssOf(page, 'body', 'fontFamily')).toContain('PingFang SC');
      await look(page, lang, 'login');

      await page.goto(`${h.issuer}/interaction/${uid}/sms`);
      await look(page, lang, 'sms-phone');
      await page.getByLabel(ui.phone, { exact: true }).fill(phone);
      await page.getByRole('button', { name: ui.sendCode, exact: true }).click();
      await page.getByRole('status').waitFor();
      expect(await page.getByRole('status').textContent()).toContain(masked);
      await look(page, lang, 'sms-code');

      await page.goto(`${h.issuer}/interaction/${uid}/qr`);
      await look(page, lang, 'qr');

      await page.goto(`${h.issuer}/interaction/${uid}`);
      await page.getByLabel(ui.identifier, { exact: true }).fill(citizen.citizenId);
      await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
      await page.getByRole('button', { name: ui.signIn, exact: true }).click();
      await page.getByRole('button', { name: ui.allow, exact: true }).waitFor();
      expect(await page.locator('main').textContent()).toContain(lang === 'en' ? '城市住房公积金 asks for' : '「城市住房公积金」请求获取');
      await look(page, lang, 'consent');
      await page.getByRole('button', { name: ui.allow, exact: true }).click();
      await page.waitForURL((u) => u.href.startsWith(REDIRECT));

      await page.goto(`${h.issuer}/interaction/no-such-interaction?ui_locales=${lang}`);
      await look(page, lang, 'error');

      const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile', ui_locales: lang });
      await page.goto(started.verification_uri_complete!);
      await page.locator('.user-code').waitFor();
      // The code is large enough to compare at arm's length with the kiosk screen.
      expect(Number.parseFloat(await cssOf(page, '.user-code', 'fontSize'))).toBeGreaterThanOrEqual(32);
      await look(page, lang, 'device-confirm');
      await page.goto(`${h.issuer}/device?ui_locales=${lang}`);
      await look(page, lang, 'device-input');

      await page.goto(`${h.issuer}/register?ui_locales=${lang}`);
      await look(page, lang, 'register');
      await page.goto(`${h.issuer}/password-reset?ui_locales=${lang}`);
      await look(page, lang, 'password-reset');

      await page.goto(`${h.issuer}/session/end?ui_locales=${lang}`);
      await look(page, lang, 'sign-out');
      await page.getByRole('button', { name: ui.signOut, exact: true }).click();
      await page.getByText(messages(lang).signedOut).waitFor();
      await look(page, lang, 'signed-out');
    });

    it(`${lang}: the citizen's portal`, { timeout: 60_000 }, async () => {
      const ui = UI[lang];
      const { phone, masked } = freshPhone();
      const citizen = await h.citizen({ name: '陈小梅', phone });
      const page = await pages.next();
      await page.goto(`${h.issuer}/account?ui_locales=${lang}`);
      await page.getByLabel(ui.identifier, { exact: true }).fill(citizen.citizenId);
      await page.getByLabel(ui.password, { exact: true }).fill(citizen.password);
      await page.getByRole('button', { name: ui.signIn, exact: true }).click();
      await page.waitForURL((u) => u.pathname === '/account');
      expect(await page.locator('main').textContent()).toContain(masked);
      await look(page, lang, 'portal-profile');
      for (const [i, name] of ui.portalNav.entries()) {
        const section = ['credentials', 'sessions', 'apps', 'history'][i]!;
        await page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
        await page.waitForURL((u) => u.pathname === `/account/${section}`);
        await look(page, lang, `portal-${section}`);
      }
      // The access history says which zone its times are in.
      expect(await page.locator('tbody tr td time').first().textContent()).toMatch(/GMT\+8$/);
    });
  }

  it('the admin console in both languages, with an audit log that reads', { timeout: 120_000 }, async () => {
    const op = tree.superAdmin;
    const page = await pages.next();
    await page.goto(`${h.issuer}/admin?ui_locales=zh-CN`);
    await page.getByLabel(UI['zh-CN'].identifier, { exact: true }).fill(op.citizenId);
    await page.getByLabel(UI['zh-CN'].password, { exact: true }).fill(op.password);
    await page.getByRole('button', { name: UI['zh-CN'].signIn, exact: true }).click();
    // The next time step: the one the operator's enrolment used is spent.
    await page.getByLabel(UI['zh-CN'].code, { exact: true }).fill(await generate({ secret: op.totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await page.getByRole('button', { name: UI['zh-CN'].verify, exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/admin');

    for (const lang of LANGS) {
      const ui = UI[lang];
      await page.goto(`${h.issuer}/admin?ui_locales=${lang}`);
      await look(page, lang, 'console-home');
      for (const [i, name] of ui.nav.entries()) {
        const section = ['clients', 'changes', 'departments', 'operators', 'audit', 'keys'][i]!;
        await page.getByRole('navigation').first().getByRole('link', { name, exact: true }).click();
        await page.waitForURL((u) => u.pathname === `/admin/${section}`);
        await look(page, lang, `console-${section}`);
      }
      await page.goto(`${h.issuer}/admin/audit?action=admin.role.assigned`);
      const row = page.locator('tr[data-event]').first();
      await row.waitFor();
      const cells = row.locator('td');
      expect(await cells.nth(1).textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+08:00$/);
      expect(await cells.nth(2).textContent()).toBe(`${lang === 'en' ? 'Operator role assigned' : '授予操作员角色'}admin.role.assigned`);
      const wrap = async (sel: string) => `${await cssOf(page, sel, 'wordBreak')} ${await cssOf(page, sel, 'overflowWrap')}`;
      expect(await wrap('tr[data-event] td:nth-child(3)')).toBe('keep-all normal');
      expect(await wrap('tr[data-event] code.id')).toBe('keep-all break-word');
      expect(await wrap('tr[data-event] code.json')).toBe('keep-all anywhere');
      // Ids stay whole: the action's code fits its column on one line.
      expect(await page.locator('tr[data-event] code.id').first().evaluate((el) => el.getClientRects().length)).toBe(1);
      // A column is never narrower than its longest word: the headers are whole, and a Chinese
      // word (系统) is not split over two lines.
      for (const th of await page.locator('thead th').all()) expect(await th.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
      const actor = row.locator('td').nth(3);
      expect(await actor.evaluate((el) => el.firstChild!.textContent)).toBe(lang === 'en' ? 'System' : '系统');
      expect(await actor.evaluate((el) => { const r = el.ownerDocument.createRange(); r.selectNodeContents(el.firstChild!); return r.getClientRects().length; })).toBe(1);
      await look(page, lang, 'console-audit-filtered');
      // On a phone-sized screen the table scrolls in its own region; the page itself does not.
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.locator('html').evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
      await page.screenshot({ path: join(SHOTS, lang, 'console-audit-narrow.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 720 });
    }
  });

  it('gives each kind of page its own title, ending with the service name', () => {
    for (const lang of LANGS) {
      const seen = new Map<string, string[]>();
      for (const [kind, title] of titles[lang]) seen.set(title, [...(seen.get(title) ?? []), kind]);
      const repeated = [...seen].filter(([, kinds]) => kinds.length > 1 && !kinds.every((k) => k.startsWith('console-audit')));
      expect(repeated, `${lang} titles used by more than one kind of page`).toEqual([]);
      for (const [kind, title] of titles[lang]) expect(title, kind).toMatch(new RegExp(`${messages(lang).siteName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    }
    expect(titles.en.size).toBeGreaterThanOrEqual(20);
  });
});
