import { createHash, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { ADMIN_CONSOLE_CLIENT_ID, adminResource, consoleClient, type Role } from '../../src/admin/index.js';
import type { Harness } from './harness.js';
import { formAction, formField, ScriptedBrowser } from './scripted-browser.js';

export const LOA2 = 'urn:yihao:loa:2';

export interface SignedInOperator {
  sub: string;
  citizenId: string;
  password: string;
  /** The TOTP secret set up at the first sign-in. */
  totpSecret: string;
  /** An admin API access token. */
  token: string;
  /** Calls the admin API with this operator's token. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const random = () => randomBytes(32).toString('base64url');

/**
 * Where operators sign in, without a harness (the fault suite's instances run in other processes):
 * the issuer, and the console's client credentials, which every instance derives alike
 * (`consoleClient(...)` on any Yihao on the same secrets and issuer).
 */
export interface ConsoleSite {
  issuer: string;
  console: { clientId: string; secret: string };
}

const siteOf = (h: Harness | ConsoleSite): ConsoleSite =>
  'console' in h ? h : { issuer: h.issuer, console: consoleClient({ issuer: h.issuer, clientSecrets: h.yihao.services.clientSecrets, Adapter: h.yihao.services.Adapter, provider: () => h.yihao.holder.current }) };

/** Calls the admin API with a bearer token (or none). */
export async function callApi(h: { issuer: string }, token: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(`${adminResource(h.issuer)}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/**
 * Signs an account in the way the admin console does (authorization code + PKCE for the admin
 * resource, asking for loa:2), setting up TOTP on the first sign-in, and redeems the code with
 * the console's credentials. `acrValues` may ask for less, to test the API's own check.
 */
export async function consoleToken(
  at: Harness | ConsoleSite,
  who: { citizenId: string; password: string; totpSecret?: string; step?: number },
  /** `browser`: one already signed in, so that this sign-in resumes (or steps up) its session. */
  opts: { acrValues?: string; browser?: ScriptedBrowser } = {},
): Promise<{ token: string; totpSecret: string | undefined }> {
  const site = siteOf(at);
  const browser = opts.browser ?? new ScriptedBrowser();
  const verifier = random();
  const redirectUri = `${site.issuer}/admin/callback`;
  const auth = new URL(`${site.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: ADMIN_CONSOLE_CLIENT_ID,
    response_type: 'code',
    scope: 'openid admin',
    redirect_uri: redirectUri,
    resource: adminResource(site.issuer),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: random(),
    acr_values: opts.acrValues ?? LOA2,
    ui_locales: 'en',
  }).toString();

  const { url, totpSecret, html } = await walkSignIn(browser, auth, who, (u) => u.href.startsWith(redirectUri));
  if (html !== undefined) throw new Error(`sign-in stopped at ${url.pathname}: ${html.slice(0, 300)}`);
  const code = url.searchParams.get('code');
  if (!code) throw new Error(`no code at the console callback: ${url.search}`);
  const res = await fetch(`${site.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${site.console.clientId}:${site.console.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, resource: adminResource(site.issuer) }),
  });
  const tokens = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!tokens.access_token) throw new Error(`token request failed: ${tokens.error} ${tokens.error_description}`);
  return { token: tokens.access_token, totpSecret };
}

/**
 * Walks Yihao's sign-in pages from `start` the way a browser without JavaScript would: password,
 * TOTP set-up (first time) or code, consent. Stops at the first redirect that `stop` accepts, or at
 * the first page that is not one of Yihao's sign-in pages (returning its URL and HTML).
 */
export async function walkSignIn(
  browser: ScriptedBrowser,
  start: URL,
  who: { citizenId: string; password: string; totpSecret?: string; step?: number },
  stop: (url: URL) => boolean,
): Promise<{ url: URL; totpSecret: string | undefined; html?: string; status?: number }> {
  let totpSecret = who.totpSecret;
  let url = start;
  let form: Record<string, string> | undefined;
  for (let hop = 0; hop < 20; hop++) {
    const res = await browser.request(url, form ? { form } : {});
    form = undefined;
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      if (stop(url)) break;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) return { url, totpSecret, html, status: res.status };
    const csrf = formField(html, 'csrf') ?? '';
    const at = url;
    const post = (contains: string, fields: Record<string, string>) => {
      url = new URL(formAction(html, contains)!, at);
      form = { csrf, ...fields };
    };
    if (formAction(html, '/login')) post('/login', { identifier: who.citizenId, password: who.password });
    else if (formAction(html, '/totp-enrolment')) {
      totpSecret = /id="manual-key">([^<]+)</.exec(html)![1]!.replace(/\s/g, '');
      post('/totp-enrolment', { code: await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) }) });
    } else if (formAction(html, '/second-factor')) {
      post('/second-factor', { code: await generate({ secret: totpSecret!, epoch: Math.floor(Date.now() / 1000) + (who.step ?? 1) * 30 }) });
    } else if (formAction(html, '/auth/')) url = new URL(formAction(html, '/auth/')!, at);
    else if (formAction(html, '/confirm')) post('/confirm', {});
    else return { url, totpSecret, html, status: res.status };
  }
  return { url, totpSecret };
}

/** Signs `who` in with a fresh browser from `start` until the redirect to `redirectUri`, which it returns; throws where a page stops it. */
export const browserSignIn =
  (who: Parameters<typeof walkSignIn>[2], redirectUri: string) =>
  async (start: URL): Promise<URL> => {
    const walk = await walkSignIn(new ScriptedBrowser(), start, who, (u) => u.href.startsWith(redirectUri));
    if (walk.html !== undefined) throw new Error(`sign-in stopped at ${walk.url.pathname}: ${walk.html.slice(0, 300)}`);
    return walk.url;
  };

/** A fresh account holding `roles`, signed in at loa:2 with an admin API token. */
export async function operator(h: Harness, roles: { role: Role; departmentId: string }[], name = '王管理'): Promise<SignedInOperator> {
  const citizen = await h.citizen({ name });
  for (const r of roles) await h.yihao.admin.services.bootstrap.grantRole({ identifier: citizen.sub, role: r.role, departmentId: r.departmentId });
  return signInOperator(h, citizen);
}

/** An account that already holds its roles, signed in at loa:2 (setting up TOTP) with an admin API token. */
export async function signInOperator(at: Harness | ConsoleSite, account: { sub: string; citizenId: string; password: string }): Promise<SignedInOperator> {
  const { token, totpSecret } = await consoleToken(at, account);
  return {
    sub: account.sub,
    citizenId: account.citizenId,
    password: account.password,
    totpSecret: totpSecret!,
    token,
    api: (method, path, body) => callApi(at, token, method, path, body),
  };
}

/** A scripted browser signed in to the admin console (through Yihao, at loa:2), on the console home. */
export async function consoleBrowser(h: Harness, who: { citizenId: string; password: string; totpSecret?: string; step?: number }, locale: 'en' | 'zh-CN' = 'en') {
  const browser = new ScriptedBrowser();
  const landed = await walkSignIn(browser, new URL(`${h.issuer}/admin?ui_locales=${locale}`), who, () => false);
  return { browser, landed };
}

/**
 * A small national tree (the nation, two provinces x and y, a city under x) with the three operators
 * that review tests need, all at the national level: a super-admin, a dept-admin and a reviewer.
 */
export async function nationalTree(h: Harness) {
  const boot = h.yihao.admin.services.bootstrap;
  const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
  const x = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
  const xCity = await boot.createDepartment({ name: '杭州市数据资源局', level: 'city', parentId: x.id });
  const y = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: nation.id });
  return {
    dept: { nation, x, xCity, y },
    superAdmin: await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '总管理员'),
    deptAdmin: await operator(h, [{ role: 'dept-admin', departmentId: nation.id }], '部门管理员'),
    reviewer: await operator(h, [{ role: 'reviewer', departmentId: nation.id }], '审核员'),
  };
}

/**
 * The departments of the certificate tests: the nation, and under it the province's police (which
 * issues driving licences) and its social security bureau (another department's types).
 */
export async function certificateDepartments(h: Harness) {
  const boot = h.yihao.admin.services.bootstrap;
  const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
  const police = await boot.createDepartment({ name: '浙江省公安厅', level: 'province', parentId: nation.id });
  const social = await boot.createDepartment({ name: '浙江省人力社保厅', level: 'province', parentId: nation.id });
  return { nation, police, social };
}

/** The sign-in pages' labels, as a browser user finds them. */
export const CHROMIUM_SIGN_IN = {
  en: { identifier: 'ID number or mobile number', password: 'Password', signIn: 'Sign in', enrolTitle: 'Set up an authenticator app', enrolCode: '6-digit code from the app', confirm: 'Confirm', continue: 'Continue' },
  'zh-CN': { identifier: '身份证号或手机号', password: '密码', signIn: '登录', enrolTitle: '设置身份验证器', enrolCode: '应用显示的 6 位验证码', confirm: '确认', continue: '继续' },
} as const;

/**
 * In a real browser (Chromium): opens the console, signs in with the password, sets up TOTP from
 * the page (the console demands loa:2; the account must have no second factor yet), and lands on
 * the console home, in `lang`.
 */
export async function consoleSignInInChromium(h: Harness, page: Page, who: { citizenId: string; password: string }, lang: 'en' | 'zh-CN'): Promise<void> {
  const ui = CHROMIUM_SIGN_IN[lang];
  await page.goto(`${h.issuer}/admin${lang === 'en' ? '?ui_locales=en' : ''}`);
  await page.getByLabel(ui.identifier, { exact: true }).fill(who.citizenId);
  await page.getByLabel(ui.password, { exact: true }).fill(who.password);
  await page.getByRole('button', { name: ui.signIn, exact: true }).click();
  await page.getByRole('heading', { name: ui.enrolTitle, exact: true }).waitFor();
  const secret = (await page.locator('#manual-key').textContent())!.replace(/\s/g, '');
  await page.getByLabel(ui.enrolCode, { exact: true }).fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) }));
  await page.getByRole('button', { name: ui.confirm, exact: true }).click();
  await page.getByRole('button', { name: ui.continue, exact: true }).click();
  await page.waitForURL((u) => u.pathname === '/admin');
}
