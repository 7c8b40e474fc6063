/**
 * Attacks from a hostile network: a client that writes its own headers (forwarded addresses, hosts
 * and protocols), a malicious site the citizen visits (cross-site posts, framing, CORS), bodies
 * built to break the server. Each test states the secure behaviour. An oversized form sent in
 * chunks answered 500 before the body readers stopped without destroying the request (found by a
 * review, with the rest of this file).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';

function raw(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

async function portalBrowser(h: Harness, headers: Record<string, string> = {}) {
  const citizen = await h.citizen();
  const browser = new ScriptedBrowser((u, init) => fetch(u, { ...init, headers: { ...(init.headers as Record<string, string>), ...headers } }));
  const portal = await browser.follow(`${h.url}/account?ui_locales=en`);
  const login = await portal.res.text();
  const signedIn = await browser.follow(new URL(formAction(login, '/login')!, portal.url), { form: { csrf: formField(login, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
  return { browser, citizen, signedIn };
}

describe('hostile network, no trusted proxy', () => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    h = await startHarness();
    client = await h.client({ redirectUris: ['https://rp.example.gov.cn/cb'], postLogoutRedirectUris: ['https://rp.example.gov.cn/bye'] });
  }, 60_000);
  afterAll(async () => h?.close());

  const introspect = (headers: Record<string, string>) =>
    fetch(new URL('/token/introspection', h.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:wrong`).toString('base64')}`, ...headers },
      body: new URLSearchParams({ token: 'x' }),
    });

  it('builds discovery from the issuer, not from Host, X-Forwarded-Host or X-Forwarded-Proto', async () => {
    const tricks: Record<string, string>[] = [{ host: 'evil.example' }, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }, { host: 'evil.example', forwarded: 'host=evil.example;proto=https' }];
    for (const headers of tricks) {
      const res = await raw(h.url, '/.well-known/openid-configuration', { headers });
      expect(res.status).toBe(200);
      expect(res.body).not.toContain('evil.example');
      expect(JSON.parse(res.body).issuer).toBe(h.issuer);
    }
  });

  it('does not mark cookies Secure, nor trust a client-sent X-Forwarded-Proto, without trustProxy (and never 500s)', async () => {
    const res = await raw(h.url, '/account', { headers: { 'x-forwarded-proto': 'https' } });
    expect(res.status).toBeLessThan(500);
  });

  it('refuses an unregistered post_logout_redirect_uri (no open redirect at /session/end)', async () => {
    for (const uri of ['https://evil.example/', 'https://rp.example.gov.cn.evil.example/bye', 'https://rp.example.gov.cn/bye/../../evil', '//evil.example']) {
      const res = await fetch(`${h.url}/session/end?client_id=${client.client_id}&post_logout_redirect_uri=${encodeURIComponent(uri)}`, { redirect: 'manual' });
      const loc = res.headers.get('location') ?? '';
      expect(loc, uri).not.toContain('evil');
      const body = await res.text();
      expect(body, uri).not.toContain('evil.example');
    }
  });

  it('frames no HTML page (frame-ancestors none + X-Frame-Options) and caches none, oidc-provider pages and error pages included', async () => {
    const rp = await relyingParty(h, await h.client({ name: 'Frame RP' }));
    const browser = new ScriptedBrowser();
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    const paths = [
      url.pathname + url.search,
      '/session/end',
      '/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=https://x.example/cb',
      '/interaction/does-not-exist',
      '/device',
      '/register',
      '/password-reset',
      '/account/signed-out',
      '/account/callback?code=x&state=y',
      '/admin/callback?code=x&state=y',
      '/no-such-page',
    ];
    for (const path of paths) {
      const res = await browser.request(new URL(path, h.url), { headers: { accept: 'text/html' } });
      const type = res.headers.get('content-type') ?? '';
      const csp = res.headers.get('content-security-policy') ?? '';
      expect.soft(res.status, path).toBeLessThan(500);
      expect.soft(csp, path).toContain("frame-ancestors 'none'");
      expect.soft(res.headers.get('x-frame-options'), path).toBe('DENY');
      if (type.includes('html')) expect.soft(res.headers.get('cache-control') ?? '', `${path} cache-control`).toMatch(/no-store/);
    }
  });

  it('gives no CORS grant to another origin on /admin/api, /mobile and /account', async () => {
    for (const path of ['/admin/api/clients', '/admin/api/me', '/mobile/challenge', '/mobile/approvals', '/account', '/account/sessions/end']) {
      const pre = await fetch(`${h.url}${path}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
      const acao = pre.headers.get('access-control-allow-origin');
      expect.soft(acao === 'https://evil.example' && pre.headers.get('access-control-allow-credentials') === 'true', `${path} preflight`).toBe(false);
      const get = await fetch(`${h.url}${path}`, { headers: { origin: 'https://evil.example' }, redirect: 'manual' });
      expect.soft(get.headers.get('access-control-allow-credentials'), `${path} GET`).not.toBe('true');
      expect.soft(get.headers.get('access-control-allow-origin'), `${path} GET`).not.toBe('https://evil.example');
    }
  });

  it('answers oversized bodies, many headers and nested fields without a 500 and without the action', async () => {
    const big = `csrf=x&a=${'A'.repeat(6 * 1024 * 1024)}`;
    for (const path of ['/account/sessions/end-all', '/admin/sign-out', '/interaction/x/login', '/token', '/register', '/password-reset', '/device', '/admin/api/clients']) {
      const res = await raw(h.url, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(big)) }, body: big }).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }));
      expect.soft(res.status, `${path} big form`).not.toBe(500);
      expect.soft(res.status, `${path} big form`).toBeGreaterThanOrEqual(-1);
      // Chunked, no content-length.
      const chunked = await raw(h.url, path, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' }, body: big }).catch((e: Error) => ({ status: -1, body: e.message, headers: {} }));
      expect.soft(chunked.status, `${path} chunked`).not.toBe(500);
    }
    // Deeply nested JSON and bracketed form fields.
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const nestedJson = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const nestedForm = `a${'[b]'.repeat(5000)}=1&grant_type=client_credentials`;
    for (const path of ['/token', '/token/introspection', '/request', '/admin/api/clients', '/mobile/challenge', '/account/sessions/end', '/credentials/credential', '/reg']) {
      for (const [type, body] of [['application/json', deep], ['application/json', nestedJson], ['application/x-www-form-urlencoded', nestedForm]] as const) {
        const res = await raw(h.url, path, { method: 'POST', headers: { 'content-type': type, authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }, body });
        expect.soft(res.status, `${path} ${type} ${body.slice(0, 8)}`).not.toBe(500);
      }
    }
    // Many headers: Node's limit answers, and the server stays up.
    const many: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) many[`x-h-${i}`] = 'v';
    const res = await raw(h.url, '/healthz', { headers: many }).catch(() => ({ status: 431 }));
    expect(res.status).not.toBe(500);
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
  });

  it('a portal session cookie is HttpOnly and SameSite, and refuses text/plain, JSON and token-less cross-site posts', async () => {
    const { browser, signedIn } = await portalBrowser(h);
    expect(signedIn.url.pathname).toBe('/account');
    // Cookies as set.
    const page = await browser.request(new URL('/account/sessions', h.url));
    expect(page.status).toBe(200);
    const html = await page.text();
    const csrf = formField(html, 'csrf')!;
    expect(csrf).toBeTruthy();
    const cookie = browser.cookieHeader(new URL('/account/sessions/end-all', h.url));
    for (const [type, body] of [
      ['text/plain', `csrf=${csrf}`],
      ['application/json', JSON.stringify({ csrf })],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n${csrf}\r\n--x--\r\n`],
      ['application/x-www-form-urlencoded', ''],
      ['application/x-www-form-urlencoded', 'csrf=forged'],
    ] as const) {
      const res = await raw(h.url, '/account/sessions/end-all', { method: 'POST', headers: { 'content-type': type, cookie, origin: 'https://evil.example' }, body });
      expect.soft(res.status, type).toBeGreaterThanOrEqual(400);
      expect.soft(res.status, type).toBeLessThan(500);
    }
    // Still signed in.
    expect((await browser.request(new URL('/account/sessions', h.url))).status).toBe(200);
  });

  it('sets every session-bearing cookie HttpOnly and SameSite=Lax (or Strict), scoped to its path', async () => {
    const seen: string[] = [];
    const capture = (u: URL, init: RequestInit) => fetch(u, init).then((r) => { seen.push(...r.headers.getSetCookie()); return r; });
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser(capture);
    const portal = await browser.follow(`${h.url}/account?ui_locales=en`);
    const login = await portal.res.text();
    await browser.follow(new URL(formAction(login, '/login')!, portal.url), { form: { csrf: formField(login, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    const named = seen.filter((c) => !/=;|expires=thu, 01 jan 1970/i.test(c));
    expect(named.length).toBeGreaterThan(2);
    for (const c of named) {
      expect.soft(c.toLowerCase(), c.slice(0, 40)).toContain('httponly');
      expect.soft(c.toLowerCase(), c.slice(0, 40)).toMatch(/samesite=(lax|strict)/);
      expect.soft(c.toLowerCase(), c.slice(0, 40)).not.toContain('domain=');
    }
  });
  // Last in this block: it spends 127.0.0.1's budget, which the portal's own token exchange shares.
  it('ignores X-Forwarded-For, X-Real-IP and Forwarded: rotating them buys no fresh client-auth budget', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 50; i++) statuses.push((await introspect({ 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `203.0.114.${i}`, forwarded: `for=203.0.115.${i}` })).status);
    expect(statuses[49]).toBe(429);
    expect((await introspect({ 'x-forwarded-for': '198.51.100.200' })).status).toBe(429);
  });

});

describe('hostile network behind trusted proxies (trustProxy, proxyHops 2)', () => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true, proxyHops: 2 }) });
    client = await h.client({ redirectUris: ['https://rp.example.gov.cn/cb'] });
  }, 60_000);
  afterAll(async () => h?.close());

  const introspect = (xff: string, extra: Record<string, string> = {}) =>
    fetch(new URL('/token/introspection', h.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:wrong`).toString('base64')}`, 'x-forwarded-for': xff, ...extra },
      body: new URLSearchParams({ token: 'x' }),
    });

  it('takes the entry the outer proxy wrote: entries a client forges further left buy no fresh budget', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 50; i++) statuses.push((await introspect(`203.0.113.${i}, 10.${i}.0.1, 198.51.100.70, 10.0.0.2`, { 'x-real-ip': `203.0.113.${i}`, forwarded: `for=203.0.113.${i}` })).status);
    expect(statuses[49]).toBe(429);
    expect((await introspect('198.51.100.70, 10.0.0.9')).status).toBe(429);
  });

  it('counts an IPv4-mapped IPv6 address (either spelling) and one with a port as the IPv4 address', async () => {
    const spellings = ['198.51.100.71', '::ffff:198.51.100.71', '::FFFF:c633:6447', '198.51.100.71:4000', '[::ffff:198.51.100.71]:5000', '0:0:0:0:0:ffff:198.51.100.71'];
    for (let i = 0; i < 50; i++) await introspect(`${spellings[i % spellings.length]}, 10.0.0.2`);
    for (const s of spellings) expect.soft((await introspect(`${s}, 10.0.0.2`)).status, s).toBe(429);
  });

  it('builds discovery from the issuer even when a (trusted) X-Forwarded-Host names another host', async () => {
    const res = await raw(h.url, '/.well-known/openid-configuration', { headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' } });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain('evil.example');
  });

  it('answers weird forwarded hosts and protocols with 4xx, never 500', async () => {
    const weird: Record<string, string>[] = [{ 'x-forwarded-proto': 'javascript' }, { 'x-forwarded-proto': 'https, http' }, { 'x-forwarded-host': 'a.example, evil.example' }, { 'x-forwarded-host': 'evil.example:99999' }, { 'x-forwarded-host': 'user@evil.example' }, { 'x-forwarded-for': 'not-an-ip, also-not' }, { 'x-forwarded-for': ',,,' }];
    for (const headers of weird) {
      for (const path of ['/.well-known/openid-configuration', '/account', '/admin', '/auth?client_id=x']) {
        const res = await raw(h.url, path, { headers });
        expect.soft(res.status, `${JSON.stringify(headers)} ${path}`).toBeLessThan(500);
        expect.soft(res.headers.location ?? '', `${JSON.stringify(headers)} ${path}`).not.toContain('evil.example');
      }
    }
  });

  it('over HTTPS (a trusted proxy says so) marks every cookie Secure', async () => {
    const seen: string[] = [];
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser((u, init) =>
      fetch(u, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.99, 10.0.0.2' } }).then((r) => {
        seen.push(...r.headers.getSetCookie());
        return r;
      }),
    );
    const portal = await browser.follow(`${h.url}/account?ui_locales=en`);
    const login = await portal.res.text();
    await browser.follow(new URL(formAction(login, '/login')!, portal.url), { form: { csrf: formField(login, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    const set = seen.filter((c) => !/expires=thu, 01 jan 1970/i.test(c) && !/^[^=]+\.sig=/.test(c));
    expect(set.length).toBeGreaterThan(2);
    for (const c of set) expect.soft(c.toLowerCase(), c.slice(0, 40)).toContain('secure');
  });
});
