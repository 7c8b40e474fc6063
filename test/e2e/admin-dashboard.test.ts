/**
 * The console's dashboard in a real browser (the system Chromium), after a scripted day of real
 * sign-ins on all four channels, each through its own flow: web (scripted browser), mobile
 * (device-key login), kiosk (ID card), counter (staff-assisted token exchange); with failures
 * (wrong password, wrong TOTP codes, a face that does not match) and a lockout. The figures the page
 * shows are checked against our own query of the audit log; a national super-admin sees every app
 * and the live sessions, a department's operator only its apps. Both languages pass axe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import type { Department } from '../../src/admin/index.js';
import type { Config } from '../../src/config/index.js';
import { last24Hours } from '../../src/admin/dashboard-windows.js';
import { consoleSignInInChromium } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { clientSettings, settingsFromMetadata } from '../../src/clients/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { phoneWithDeviceKey, registerMobileApp, totpCode } from '../support/mobile-app.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { go, page as pageStep, ScriptedBrowser, scriptedSignIn, submit } from '../support/scripted-browser.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const SIGN_INS = ['login.succeeded', 'counter.assisted_login'];
const ACTIONS = [...SIGN_INS, 'login.failed', 'login.locked', 'account.locked'];
const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const;
const AXE_RULES = ['html-has-lang', 'document-title'];

interface Figures {
  signIns: number;
  byChannel: Record<(typeof CHANNELS)[number], number>;
  failures: number;
  lockedAttempts: number;
  lockouts: number;
}

describe.skipIf(!chromiumAvailable)('the console dashboard after a scripted day on four channels (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  let dept: { nation: Department; x: Department; y: Department };
  /** Department x's apps and department y's. */
  const ofX: { id: string; name: string }[] = [];
  const ofY: { id: string; name: string }[] = [];

  beforeAll(async () => {
    [h, browser] = await Promise.all([
      // Two wrong codes lock an account, so that the day has a lockout without a long loop.
      startHarness({ backend: 'sqlite', overrides: (c): Config => ({ ...c, lockout: { maxFailures: 2, windowSeconds: 900, lockSeconds: 900 } }) }),
      launchChromium(),
    ]);
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept = {
      nation,
      x: await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id }),
      y: await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: nation.id }),
    };
    const place = async (clientId: string, name: string, d: Department) => {
      // The mobile and kiosk helpers hand back only the id: adoption records the stored metadata.
      const metadata = (await new h.yihao.services.Adapter('Client').find(clientId)) as Record<string, unknown>;
      await counterClientOf(h, { client_id: clientId, metadata, settings: clientSettings.parse(settingsFromMetadata(metadata)) }, name, d.id);
      (d === dept.x ? ofX : ofY).push({ id: clientId, name });
    };

    // Apps: a web app in each province, the mobile app and a counter system in x, a kiosk in y.
    const webX = await h.client({ name: '浙江社保查询', redirectUris: [REDIRECT] });
    const webY = await h.client({ name: '江苏公积金查询', redirectUris: [REDIRECT] });
    const mobile = await registerMobileApp(h);
    const kiosk = await simulatedKiosk(h);
    const counter = await h.client({ kind: 'counter', name: '杭州市民中心柜台', redirectUris: [REDIRECT], scope: 'openid profile', allowedChannels: ['web', 'counter'], firstParty: true });
    await place(webX.client_id, '浙江社保查询', dept.x);
    await place(mobile.client_id, '一号 App', dept.x);
    await place(counter.client_id!, '杭州市民中心柜台', dept.x);
    await place(webY.client_id, '江苏公积金查询', dept.y);
    await place(kiosk.client.client_id, '政务自助终端', dept.y);
    const rpX = await relyingParty(h, webX);
    const rpY = await relyingParty(h, webY);
    const origin = new URL(h.issuer).origin;

    // Web: three sign-ins to x's app, two to y's; one wrong password.
    for (const rp of [rpX, rpX, rpX, rpY, rpY]) {
      const citizen = await h.citizen();
      await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });
    }
    const unlucky = await h.citizen();
    const guesser = new ScriptedBrowser();
    const wrongPassword = await submit(guesser, pageStep(await go(guesser, await authorizationUrl(rpX, oidc.randomPKCECodeVerifier()), origin)), '/login', { identifier: unlucky.citizenId, password: 'not-the-password' }, origin);
    expect(pageStep(wrongPassword).status).toBe(401);

    // Mobile: the app's first sign-in (in the system browser: web), then a device-key login (mobile).
    const { citizen: phoneOwner, phone, totpSecret } = await phoneWithDeviceKey(h, mobile);
    await phone.loginWithDeviceKey();

    // A lockout: the phone owner, at x's web app asking for loa:2, gets the TOTP code wrong twice, then tries once more.
    const b = new ScriptedBrowser();
    const login = pageStep(await go(b, await authorizationUrl(rpX, oidc.randomPKCECodeVerifier(), { acr_values: 'urn:yihao:loa:2' }), origin));
    const second = pageStep(await submit(b, login, '/login', { identifier: phoneOwner.citizenId, password: phoneOwner.password }, origin));
    const right = new Set([await totpCode(totpSecret, -1), await totpCode(totpSecret), await totpCode(totpSecret, 1)]);
    const wrong = ['000000', '111111', '222222', '333333'].find((c) => !right.has(c))!;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push(pageStep(await submit(b, second, '/second-factor', { code: wrong }, origin)).status);
    expect(statuses).toEqual([401, 423, 423]);

    // Kiosk: two ID-card sign-ins, one face that does not match; one citizen takes the card out.
    const atKiosk = [await h.citizen(), await h.citizen()];
    const kioskTokens = [];
    for (const c of atKiosk) kioskTokens.push(await kiosk.cardLogin({ citizenId: c.citizenId }));
    await expect(kiosk.cardLogin({ citizenId: (await h.citizen()).citizenId, face: 'fail' })).rejects.toThrow();
    const ended = await fetch(`${h.url}/kiosk/session/end`, { method: 'POST', headers: { authorization: `Bearer ${kioskTokens[0]!.access_token}` } });
    expect(ended.status).toBe(204);

    // Counter: a staff member signs in to the counter system (web) and signs a citizen in, in person.
    const counterRp = await relyingParty(h, counter);
    const staff = await h.citizen({ name: '李柜员' });
    await boot.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId: dept.x.id });
    const staffToken = (await staffSignIn(h, counterRp, staff)).access_token;
    const elder = await h.citizen({ name: '王大爷' });
    await oidc.genericGrantRequest(counterRp, TOKEN_EXCHANGE, {
      subject_token: elder.citizenId,
      subject_token_type: 'urn:yihao:token-type:citizen-id',
      actor_token: staffToken,
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      document_check: 'in_person',
      scope: 'openid profile',
    });
  }, 120_000);

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  /** The figures straight from the audit log: our own query, not the dashboard's code. */
  async function fromAuditLog(clientIds?: string[]): Promise<Figures> {
    const q = h.yihao.stores.db('audit_events').select('action', 'channel').count({ n: '*' }).whereIn('action', ACTIONS).where('at', '>=', last24Hours(Date.now()).from).groupBy('action', 'channel');
    if (clientIds) q.whereIn('client_id', clientIds);
    const rows = (await q) as { action: string; channel: string | null; n: number | string }[];
    const count = (pick: (r: (typeof rows)[number]) => boolean) => rows.filter(pick).reduce((a, r) => a + Number(r.n), 0);
    return {
      signIns: count((r) => SIGN_INS.includes(r.action)),
      byChannel: Object.fromEntries(CHANNELS.map((c) => [c, count((r) => SIGN_INS.includes(r.action) && r.channel === c)])) as Figures['byChannel'],
      failures: count((r) => r.action === 'login.failed'),
      lockedAttempts: count((r) => r.action === 'login.locked'),
      lockouts: count((r) => r.action === 'account.locked'),
    };
  }

  const figure = async (page: Page, key: string) => Number((await page.locator(`[data-figure="${key}"]`).first().textContent())!.replace(/[^\d]/g, ''));

  /** What the page's totals table says, for the last 24 hours or the last 7 days. */
  async function shown(page: Page, period: 'day' | 'week'): Promise<Figures> {
    return {
      signIns: await figure(page, `${period}.signIns`),
      byChannel: Object.fromEntries(await Promise.all(CHANNELS.map(async (c) => [c, await figure(page, `${period}.signIns.${c}`)]))) as Figures['byChannel'],
      failures: await figure(page, `${period}.failures`),
      lockedAttempts: await figure(page, `${period}.lockedAttempts`),
      lockouts: await figure(page, `${period}.lockouts`),
    };
  }

  /** Each app row of the busiest-apps table against the audit log. */
  async function appRows(page: Page): Promise<Map<string, { signIns: number; failures: number }>> {
    const out = new Map<string, { signIns: number; failures: number }>();
    for (const row of await page.locator('table[data-apps] tr[data-app]').all()) {
      out.set((await row.getAttribute('data-app'))!, { signIns: Number(await row.locator('[data-figure="signIns"]').textContent()), failures: Number(await row.locator('[data-figure="failures"]').textContent()) });
    }
    return out;
  }
  async function appFromAuditLog(clientId: string) {
    const rows = (await h.yihao.stores.db('audit_events').select('action').count({ n: '*' }).where({ client_id: clientId }).whereIn('action', ACTIONS).groupBy('action')) as { action: string; n: number | string }[];
    const n = (actions: string[]) => rows.filter((r) => actions.includes(r.action)).reduce((a, r) => a + Number(r.n), 0);
    return { signIns: n(SIGN_INS), failures: n(['login.failed']) };
  }

  const openTables = (page: Page) => page.locator('details').evaluateAll((ds) => ds.forEach((d) => ((d as unknown as { open: boolean }).open = true)));

  it('a national super-admin sees every channel, the failures and the lockout as the audit log has them, the live sessions, and charts with tables (en, then zh-CN)', async () => {
    const chief = await h.citizen({ name: '赵总管' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: chief.sub, role: 'super-admin', departmentId: dept.nation.id });
    const page = await pages.next();
    await consoleSignInInChromium(h, page, chief, 'en');
    await page.getByRole('heading', { name: 'Sign-ins per hour over the last 24 hours, by channel' }).waitFor();
    expect(await page.locator('[data-dashboard]').getAttribute('data-scope')).toBe('all');

    const expected = await fromAuditLog();
    // The script's own count, so that a dashboard and a query both wrong in the same way cannot pass.
    expect(expected.byChannel).toMatchObject({ mobile: 1, kiosk: 2, counter: 1 });
    expect(expected.byChannel.web).toBeGreaterThanOrEqual(5 + 1 + 1 + 1); // 5 citizens, the app's first sign-in, the staff member, this operator
    expect(expected).toMatchObject({ failures: 1 + 2 + 1, lockedAttempts: 1, lockouts: 1 });
    expect(await shown(page, 'day')).toEqual(expected);
    // Everything happened within the hour, so the 7 days hold the same.
    expect(await shown(page, 'week')).toEqual(expected);

    // The hourly table adds up to the total; so does the daily one.
    const hourly = await Promise.all(Array.from({ length: 24 }, (_, i) => figure(page, `hour.${i}.total`)));
    expect(hourly.reduce((a, n) => a + n, 0)).toBe(expected.signIns);
    const daily = await Promise.all(Array.from({ length: 7 }, (_, i) => figure(page, `day.${i}.signIns`)));
    expect(daily.reduce((a, n) => a + n, 0)).toBe(expected.signIns);

    // Every province's apps, each as the audit log counts it.
    const apps = await appRows(page);
    for (const app of [...ofX, ...ofY]) expect(apps.get(app.id), app.name).toEqual(await appFromAuditLog(app.id));

    // Live sessions: the mobile login, the kiosk login still on, the counter login; browser sessions as the index holds them.
    expect(await figure(page, 'sessions.channel')).toBe(3);
    const browserRows = (await h.yihao.stores.db('account_index').where({ model: 'Session' }).where('expires_at', '>', Date.now()).count({ n: '*' })) as { n: number }[];
    expect(await figure(page, 'sessions.browser')).toBe(Number(browserRows[0]!.n));
    expect(await figure(page, 'sessions.browser')).toBeGreaterThanOrEqual(8);

    // Each chart is one named, described image, with its figures in a table too.
    const chart = page.getByRole('img', { name: 'Sign-ins per hour over the last 24 hours, by channel' });
    expect(await chart.count()).toBe(1);
    expect(await chart.locator('desc').textContent()).toContain(`${expected.signIns} sign-ins: Web ${expected.byChannel.web}, Mobile app 1, Kiosk 2, Counter 1.`);
    expect(await chart.locator('rect').count()).toBeGreaterThan(0);
    expect(await page.getByRole('img', { name: 'Failed sign-ins and lockouts per day over the last 7 days' }).count()).toBe(1);
    expect(await page.getByRole('img', { name: 'Busiest apps over the last 7 days' }).count()).toBe(1);
    await openTables(page);
    const appsTable = page.getByRole('table', { name: 'Busiest apps over the last 7 days' });
    expect(await appsTable.isVisible()).toBe(true);
    expect(await appsTable.getByRole('rowheader', { name: '政务自助终端' }).count()).toBe(1);
    await expectNoSeriousAxeViolations(page, 'the dashboard (en)', AXE_RULES);

    await page.getByRole('link', { name: '中文' }).click();
    await page.getByRole('heading', { name: '最近 24 小时每小时的登录（按渠道）' }).waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await shown(page, 'day')).toEqual(await fromAuditLog());
    expect(await page.getByRole('img', { name: '最近 7 天登录最多的应用' }).count()).toBe(1);
    await openTables(page);
    await expectNoSeriousAxeViolations(page, 'the dashboard (zh-CN)', AXE_RULES);
  });

  it('a department operator sees only its departments’ apps: the other province’s sign-ins, apps and the installation’s sessions are not there (zh-CN, then en)', async () => {
    const admin = await h.citizen({ name: '钱管理' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: admin.sub, role: 'dept-admin', departmentId: dept.x.id });
    const page = await pages.next();
    await consoleSignInInChromium(h, page, admin, 'zh-CN');
    await page.getByRole('heading', { name: '最近 24 小时每小时的登录（按渠道）' }).waitFor();
    expect(await page.locator('[data-dashboard]').getAttribute('data-scope')).toBe('departments');

    const expected = await fromAuditLog(ofX.map((a) => a.id));
    // x's apps: 3 web sign-ins and the lockout at the web app, the app's own two, the counter's two; no kiosk.
    expect(expected).toMatchObject({ byChannel: { web: 3 + 1 + 1, mobile: 1, kiosk: 0, counter: 1 }, failures: 1 + 2, lockedAttempts: 1, lockouts: 1 });
    expect(await shown(page, 'day')).toEqual(expected);
    expect(await shown(page, 'week')).toEqual(expected);

    const apps = await appRows(page);
    expect([...apps.keys()].sort()).toEqual(ofX.map((a) => a.id).sort());
    for (const app of ofX) expect(apps.get(app.id), app.name).toEqual(await appFromAuditLog(app.id));
    const text = await page.content();
    for (const app of ofY) {
      expect(text).not.toContain(app.id);
      expect(text).not.toContain(app.name);
    }
    expect(await page.locator('[data-figure^="sessions."]').count()).toBe(0);
    expect(await page.getByText('当前登录会话只按全部应用统计').count()).toBe(1);
    await openTables(page);
    await expectNoSeriousAxeViolations(page, 'the department dashboard (zh-CN)', AXE_RULES);

    await page.getByRole('link', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Busiest apps over the last 7 days' }).waitFor();
    expect(await shown(page, 'day')).toEqual(expected);
    await openTables(page);
    await expectNoSeriousAxeViolations(page, 'the department dashboard (en)', AXE_RULES);
  });
});
