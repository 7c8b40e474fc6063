/**
 * What a stranger, an evil web origin or a shared cache can read from Yihao's HTTP
 * answers. Health and metrics endpoints without credentials, CORS on every class of endpoint with a
 * signed-in citizen's cookie or an operator's token, Cache-Control on pages and JSON that carry
 * personal data, error answers that echo input or reveal internals, and the citizen ID, phone
 * number or name where only a masked form is promised (docs/security.md, DESIGN.md). Found by a
 * review: the portal's access history showed a citizen the workstation address of the operator who
 * looked them up (it failed before).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { consoleBrowser, operator, type SignedInOperator } from '../support/admin-operators.js';
import { adminResource } from '../../src/admin/index.js';

const PROVIDER_VERSION = (JSON.parse(readFileSync(new URL('../../node_modules/oidc-provider/package.json', import.meta.url), 'utf8')) as { version: string }).version;

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const EVIL = 'https://evil.example';
const PORTAL_PAGES = ['/account', '/account/credentials', '/account/sessions', '/account/apps', '/account/history'];
const INTERNALS = [/\bat [\w.<>]+ \(/, /node_modules/, /\/work\//, /\.ts:\d+/, /\bselect\b.+\bfrom\b/i, /knex|sqlite|postgres|ioredis|SQLITE_/i, /oidc-provider\/\d/, /koa\/\d/];

let phoneCounter = 0;
const freshPhone = () => `137${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

/** Every header an evil page could read cross-origin with the victim's credentials. */
function readableWithCredentials(res: Response, origin: string): boolean {
  const allow = res.headers.get('access-control-allow-origin');
  const creds = res.headers.get('access-control-allow-credentials');
  return creds === 'true' && (allow === origin || allow === '*');
}

/** Opens a portal page, signing in at Yihao's login page when the portal sends the browser there. */
async function signInPortal(h: Harness, browser: ScriptedBrowser, who: Citizen): Promise<{ urls: string[]; page: string }> {
  const urls: string[] = [];
  let url = new URL(`${h.issuer}/account`);
  let form: Record<string, string> | undefined;
  for (let hop = 0; hop < 15; hop++) {
    urls.push(url.href);
    const res = await browser.request(url, form ? { form } : {});
    form = undefined;
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const page = await res.text();
    const action = formAction(page, '/login');
    if (!action) return { urls, page };
    url = new URL(action, url);
    form = { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password };
  }
  throw new Error('portal sign-in did not finish');
}

describe.each(backends.filter((b) => b.enabled))('information exposure ($name)', ({ name: backend }) => {
  let h: Harness;
  let citizen: Citizen;
  let phone: string;
  let browser: ScriptedBrowser;
  let signInUrls: string[];
  let op: SignedInOperator;
  let deptName: string;
  let clientName: string;
  let accessToken: string;

  beforeAll(async () => {
    // Behind a proxy, as a deployment is: each caller's address is its X-Forwarded-For.
    h = await startHarness({ backend, overrides: (c) => ({ ...c, trustProxy: true }) });
    phone = freshPhone();
    citizen = await h.citizen({ phone, name: '欧阳秘密' });
    browser = new ScriptedBrowser();
    ({ urls: signInUrls } = await signInPortal(h, browser, citizen));
    deptName = '机密测试数据局';
    const nation = await h.yihao.admin.services.bootstrap.createDepartment({ name: deptName, level: 'national' });
    op = await operator(h, [{ role: 'super-admin', departmentId: nation.id }], '运维甲');
    clientName = 'Secret Internal App';
    const client = await h.client({ redirectUris: [REDIRECT], scope: 'openid profile', name: clientName });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier);
    // The citizen's browser is already signed in: walk on through consent.
    let next = url;
    let form: Record<string, string> | undefined;
    for (let hop = 0; hop < 15; hop++) {
      const res = await browser.request(next, form ? { form } : {});
      form = undefined;
      if (res.status >= 300 && res.status < 400) {
        next = new URL(res.headers.get('location')!, next);
        if (next.href.startsWith(REDIRECT)) break;
        continue;
      }
      const page = await res.text();
      const action = formAction(page, '/confirm') ?? formAction(page, '/login');
      if (!action) throw new Error(`stuck at ${next.pathname}: ${page.slice(0, 200)}`);
      form = action.includes('/login') ? { csrf: formField(page, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } : { csrf: formField(page, 'csrf')! };
      next = new URL(action, next);
    }
    const tokens = await oidc.authorizationCodeGrant(rp, next, { pkceCodeVerifier: verifier });
    accessToken = tokens.access_token;
  }, 120_000);
  afterAll(async () => h?.close());

  it('tells a stranger nothing internal at /healthz, /readyz, /metrics and the admin OpenAPI document', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/admin/api/v1/openapi.json', '/.well-known/openid-configuration']) {
      const res = await fetch(`${h.url}${path}`);
      const text = await res.text();
      for (const secret of [deptName, clientName, citizen.name, citizen.citizenId, phone, h.config.databaseUrl ?? '\u0000none', 'postgres://', 'redis://', '127.0.0.1:5432', '127.0.0.1:6379']) {
        expect(text, `${path} must not reveal ${secret}`).not.toContain(secret);
      }
      for (const version of [process.version, `oidc-provider/${PROVIDER_VERSION}`, `"${PROVIDER_VERSION}"`]) expect(text, `${path} names ${version}`).not.toContain(version);
      expect(res.headers.get('x-powered-by'), path).toBeNull();
      expect(res.headers.get('server'), path).toBeNull();
    }
    // /metrics without a configured token does not exist; with one it needs it.
    expect([401, 404]).toContain((await fetch(`${h.url}/metrics`)).status);
  });

  it('lets no evil origin read a signed-in citizen\'s portal pages with their cookie (reflected or null Origin, simple and preflighted)', async () => {
    for (const origin of [EVIL, 'null', h.issuer.replace('127.0.0.1', 'localhost')]) {
      for (const path of [...PORTAL_PAGES, '/interaction/x', '/m/qr/x']) {
        const res = await browser.request(`${h.issuer}${path}`, { headers: { origin } });
        expect(readableWithCredentials(res, origin), `${path} from ${origin}`).toBe(false);
        expect(res.headers.get('access-control-allow-origin'), `${path} from ${origin}`).toBeNull();
        const pre = await browser.request(`${h.issuer}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
        expect(pre.headers.get('access-control-allow-credentials'), `preflight ${path} from ${origin}`).not.toBe('true');
        expect(pre.headers.get('access-control-allow-origin'), `preflight ${path} from ${origin}`).toBeNull();
      }
    }
  });

  it('lets no evil origin call the admin API, the mobile API or the approvals API with credentials (no reflected origin, no credentials allowed)', async () => {
    const calls: [string, string][] = [
      [`${adminResource(h.issuer)}/me`, `Bearer ${op.token}`],
      [`${adminResource(h.issuer)}/departments`, `Bearer ${op.token}`],
      [`${h.issuer}/mobile/device-keys`, `Bearer ${accessToken}`],
      [`${h.issuer}/mobile/approvals`, `Bearer ${accessToken}`],
    ];
    for (const origin of [EVIL, 'null']) {
      for (const [url, authorization] of calls) {
        const pre = await fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
        expect(pre.headers.get('access-control-allow-origin'), `preflight ${url} from ${origin}`).not.toBe(origin);
        expect(pre.headers.get('access-control-allow-credentials'), `preflight ${url}`).not.toBe('true');
        const res = await fetch(url, { headers: { origin, authorization } });
        expect(readableWithCredentials(res, origin), `${url} from ${origin}`).toBe(false);
        expect(res.headers.get('access-control-allow-origin'), `${url} from ${origin}`).not.toBe(origin);
      }
    }
  });

  it('answers userinfo to no origin but the app\'s own, and never with credentials; refuses the null origin', async () => {
    for (const origin of [EVIL, 'null']) {
      const res = await fetch(`${h.issuer}/me`, { headers: { origin, authorization: `Bearer ${accessToken}` } });
      const text = await res.text();
      expect(res.headers.get('access-control-allow-credentials')).not.toBe('true');
      // oidc-provider's client-based CORS: a foreign origin is refused (and gets no claims).
      if (res.headers.get('access-control-allow-origin') === origin || res.headers.get('access-control-allow-origin') === '*') {
        expect(text, `userinfo readable from ${origin}`).not.toContain(citizen.name);
      }
      expect(res.status, `userinfo from ${origin}`).toBe(400);
    }
  });

  it('keeps every portal page, the consent page, userinfo and the admin API out of shared caches and the back button (no-store)', async () => {
    for (const path of PORTAL_PAGES) {
      const res = await browser.request(`${h.issuer}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toMatch(/no-store/);
      await res.text();
    }
    const info = await fetch(`${h.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(info.status).toBe(200);
    expect(info.headers.get('cache-control')).toMatch(/no-store/);
    for (const path of ['/me', '/accounts/lookup']) {
      const res = await fetch(`${adminResource(h.issuer)}${path}`, path === '/me' ? { headers: { authorization: `Bearer ${op.token}` } } : { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ citizen_id: citizen.citizenId }) });
      expect(res.headers.get('cache-control'), path).toMatch(/no-store/);
      await res.text();
    }
    // A fresh app asks for consent: the consent page names the citizen's app and data.
    const client = await h.client({ redirectUris: [REDIRECT], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const { res, url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    const page = await res.text();
    expect(formAction(page, '/confirm'), `consent page at ${url.pathname}`).toBeTruthy();
    expect(res.headers.get('cache-control')).toMatch(/no-store/);
  });

  it('keeps the ID number, the phone number and the name out of every URL of the portal sign-in, and shows them masked on the portal pages', async () => {
    expect(signInUrls.length).toBeGreaterThan(1);
    for (const u of signInUrls) {
      const d = decodeURIComponent(u);
      expect(d).not.toContain(citizen.citizenId);
      expect(d).not.toContain(phone);
      expect(d).not.toContain(citizen.name);
    }
    for (const path of PORTAL_PAGES) {
      const page = await (await browser.request(`${h.issuer}${path}`)).text();
      expect(page, path).not.toContain(citizen.citizenId);
      expect(page, path).not.toContain(phone);
      const title = /<title>([^<]*)<\/title>/.exec(page)?.[1] ?? '';
      expect(title, `${path} title`).not.toContain(citizen.name);
      expect(title, `${path} title`).not.toContain(citizen.citizenId.slice(0, 6) + citizen.citizenId.slice(6, 14));
    }
  });

  it('shows an operator the citizen only by masked ID number, in the admin API and on the console, and puts no ID number in a URL', async () => {
    const found = await op.api('POST', '/accounts/lookup', { citizen_id: citizen.citizenId });
    expect(found.status).toBe(200);
    const text = JSON.stringify(found.body);
    expect(text).not.toContain(citizen.citizenId);
    expect(text).not.toContain(phone);
    const bySub = await op.api('GET', `/accounts/${citizen.sub}`);
    expect(JSON.stringify(bySub.body)).not.toContain(citizen.citizenId);
    expect(JSON.stringify(bySub.body)).not.toContain(phone);
  });

  it('keeps the admin console out of caches and evil origins, and shows a looked-up citizen only masked, with no ID number in any URL', async () => {
    const { browser: ops, landed } = await consoleBrowser(h, { citizenId: op.citizenId, password: op.password, totpSecret: op.totpSecret });
    expect(landed.html ?? '', 'the console home').toContain('/admin/sign-out');
    const home = await ops.request(`${h.issuer}/admin/accounts`);
    const homePage = await home.text();
    expect(home.headers.get('cache-control')).toMatch(/no-store/);
    const lookup = await ops.request(`${h.issuer}/admin/accounts/lookup`, { form: { csrf: formField(homePage, 'csrf') ?? '', citizen_id: citizen.citizenId } });
    expect(lookup.status).toBe(303);
    const to = lookup.headers.get('location')!;
    expect(decodeURIComponent(to)).not.toContain(citizen.citizenId);
    const account = await ops.request(new URL(to, h.issuer), { headers: { origin: EVIL } });
    const page = await account.text();
    expect(account.status).toBe(200);
    expect(account.headers.get('cache-control')).toMatch(/no-store/);
    expect(account.headers.get('access-control-allow-origin')).toBeNull();
    expect(page).not.toContain(citizen.citizenId);
    expect(page).not.toContain(phone);
    expect(page).toContain(`${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`);
    for (const path of ['/admin', '/admin/clients', '/admin/operators', '/admin/audit', '/admin/departments']) {
      const res = await ops.request(`${h.issuer}${path}`, { headers: { origin: 'null' } });
      await res.text();
      expect(res.headers.get('cache-control'), path).toMatch(/no-store/);
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull();
    }
  });

  it('echoes no ID number or phone number sent in a refused admin lookup or a protocol request back in the answer', async () => {
    const bad = `${citizen.citizenId.slice(0, 17)}${citizen.citizenId.endsWith('0') ? '1' : '0'}`;
    const refused = await op.api('POST', '/accounts/lookup', { citizen_id: bad });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).not.toContain(bad.slice(6, 14));
    const ph = await op.api('POST', '/accounts/lookup', { citizen_id: phone });
    expect(JSON.stringify(ph.body)).not.toContain(phone);
    const res = await fetch(`${h.issuer}/auth?client_id=${citizen.citizenId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&login_hint=${phone}`);
    const text = await res.text();
    expect(text).not.toContain(citizen.citizenId);
    expect(text).not.toContain(phone);
    const token = await fetch(`${h.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=password&client_id=${citizen.citizenId}&username=${citizen.citizenId}&password=x` });
    expect(await token.text()).not.toContain(citizen.citizenId);
  });

  it("shows a citizen no operator's workstation address (an internal host) in the portal's access history", async () => {
    const internal = '10.99.88.77';
    const res = await fetch(`${adminResource(h.issuer)}/accounts/lookup`, { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json', 'x-forwarded-for': internal }, body: JSON.stringify({ citizen_id: citizen.citizenId }) });
    expect(res.status).toBe(200);
    const history = await (await browser.request(`${h.issuer}/account/history`)).text();
    // The lookup is the citizen's to know of (docs/admin.md); where the operator sat is not.
    expect(history).not.toContain(internal);
  });

  it('answers unknown routes, wrong methods and malformed JSON without echoing markup or revealing internals', async () => {
    const marker = '<script>alert(1)</script>';
    const probes: [string, RequestInit][] = [
      [`/no-such/${encodeURIComponent(marker)}`, {}],
      [`/account/${encodeURIComponent(marker)}`, {}],
      [`/admin/api/v1/${encodeURIComponent(marker)}`, { headers: { authorization: `Bearer ${op.token}` } }],
      ['/admin/api/v1/departments', { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json' }, body: `{"name": "${marker}",` }],
      ['/admin/api/v1/departments', { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: marker, level: marker, parent_id: marker }) }],
      ['/admin/api/v1/accounts/lookup', { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json' }, body: '{"citizen_id": 12' }],
      ['/admin/api/v1/me', { method: 'PATCH', headers: { authorization: `Bearer ${op.token}` } }],
      ['/mobile/device-keys', { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' }, body: '{"public_jwk":' }],
      [`/auth?client_id=${encodeURIComponent(marker)}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(marker)}`, {}],
      [`/auth?client_id=x&response_type=${encodeURIComponent(marker)}`, {}],
      [`/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }],
      [`/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=${encodeURIComponent(marker)}&client_id=${encodeURIComponent(marker)}` }],
      [`/interaction/${encodeURIComponent(marker)}`, {}],
      [`/session/end?post_logout_redirect_uri=${encodeURIComponent(marker)}&client_id=${encodeURIComponent(marker)}`, {}],
      [`/credentials/offers/${encodeURIComponent(marker)}`, {}],
      [`/credentials/status/${encodeURIComponent(marker)}`, {}],
      [`/account/callback?state=x&error=${encodeURIComponent(marker)}&error_description=${encodeURIComponent(marker)}`, {}],
      [`/admin/callback?state=x&error=${encodeURIComponent(marker)}&error_description=${encodeURIComponent(marker)}`, {}],
      [`/federation/callback?state=${encodeURIComponent(marker)}&error=${encodeURIComponent(marker)}&error_description=${encodeURIComponent(marker)}`, {}],
      [`/register?return_to=${encodeURIComponent(marker)}&ui_locales=${encodeURIComponent(marker)}`, {}],
      [`/password-reset?return_to=${encodeURIComponent(marker)}&identifier=${encodeURIComponent(marker)}`, {}],
      [`/device?user_code=${encodeURIComponent(marker)}`, {}],
      [`/me?${'a'.repeat(20)}=${encodeURIComponent(marker)}`, { headers: { authorization: `Bearer ${marker}` } }],
    ];
    for (const [path, init] of probes) {
      const res = await fetch(`${h.url}${path}`, { redirect: 'manual', ...init });
      const text = await res.text();
      expect(res.status, `${path}: ${text.slice(0, 200)}`).toBeLessThan(500);
      expect(text, `${path} echoes markup`).not.toContain(marker);
      expect(text, `${path} echoes markup`).not.toContain('<script>alert');
      for (const pattern of INTERNALS) expect(text, `${path} reveals internals (${pattern})`).not.toMatch(pattern);
      expect(res.headers.get('x-powered-by'), path).toBeNull();
      expect(res.headers.get('server'), path).toBeNull();
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      const location = res.headers.get('location');
      if (location) expect(location, path).not.toContain('<script>');
    }
  });
});
