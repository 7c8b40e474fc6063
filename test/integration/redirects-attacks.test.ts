/**
 * Every place Yihao sends a browser where it was told to, attacked: oidc-provider's redirect_uri
 * and post_logout_redirect_uri matching for registered apps, Yihao's own return paths (console,
 * registration, password reset), CR/LF reaching a Location header, and the Referrer-Policy of pages
 * whose URL carries a code or an interaction uid. A redirect to a host the app did not register,
 * a 500, or an injected header is a hole. A review found none; these hold it.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const GOOD = 'https://rp.example.gov.cn/cb';
const GOOD_BYE = 'https://rp.example.gov.cn/bye';

/** Lookalikes of GOOD a browser would send somewhere else (or that are not byte-equal to it). */
const REDIRECT_VARIANTS = [
  'https://RP.example.gov.cn/cb',
  'HTTPS://rp.example.gov.cn/cb',
  'https://rp.example.gov.cn/CB',
  'https://rp.example.gov.cn/cb/',
  'https://rp.example.gov.cn./cb',
  'https://rp.example.gov.cn/cb?next=https://evil.example',
  'https://rp.example.gov.cn/cb#x',
  'https://rp.example.gov.cn:443/cb',
  'https://rp.example.gov.cn:8443/cb',
  'https://rp.example.gov.cn@evil.example/cb',
  'https://evil.example\\@rp.example.gov.cn/cb',
  'https://evil.example/rp.example.gov.cn/cb',
  'https://rp.example.gov.cn.evil.example/cb',
  'https://rp.example.gov.cn\\evil.example/cb',
  'https://rp.example.gov.cn/cb/../../evil',
  'https://rp.example.gov.cn%2F%2Fevil.example/cb',
  'https://rp.example.gov.cn/c\tb',
  'https://rp.example.gov.cn/cb\n',
  ' https://rp.example.gov.cn/cb',
  'https://rp.exаmple.gov.cn/cb', // Cyrillic а
  'https://xn--rp-example-gov-cn/cb',
  '//evil.example/cb',
  '/\\evil.example/cb',
  '//rp.example.gov.cn/cb',
  'javascript:alert(document.domain)//https://rp.example.gov.cn/cb',
  'data:text/html,<script>alert(1)</script>',
  'http://rp.example.gov.cn/cb',
  'http://127.0.0.1:8080/cb',
  'http://localhost:9/cb',
];

interface RawHeaders {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  body: string;
}

/** A GET sent with its path exactly as written (fetch would normalise `//`, `\` and dot segments). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<RawHeaders> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Where a Location would take a browser standing at `at`. */
const resolved = (location: string, at: string) => new URL(location, at);

describe.each(backends)('redirects ($name)', ({ name, enabled }) => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };
  let other: { client_id: string; client_secret?: string };
  let rp: oidc.Configuration;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    client = await h.client({ name: '城市公积金', redirectUris: [REDIRECT, GOOD], postLogoutRedirectUris: [GOOD_BYE] });
    other = await h.client({ name: '别的部门', redirectUris: ['https://other.example.gov.cn/cb'], postLogoutRedirectUris: ['https://other.example.gov.cn/bye'] });
    rp = await relyingParty(h, client);
    citizen = await h.citizen();
  });
  afterAll(() => h?.close());

  const authPath = async (redirectUri: string, extra: Record<string, string> = {}) => {
    const q = new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)),
      code_challenge_method: 'S256',
      redirect_uri: redirectUri,
      state: 'st',
      ...extra,
    });
    return `/auth?${q}`;
  };

  it.skipIf(!enabled)('sends no browser to a redirect_uri that only looks like the registered one (case, slash, port, userinfo, backslash, //, encoded, tab, IDN, scheme)', async () => {
    const wrong: string[] = [];
    for (const variant of REDIRECT_VARIANTS) {
      for (const mode of [{}, { response_mode: 'form_post' }, { prompt: 'none' }, { prompt: 'bogus' }] as Record<string, string>[]) {
        const res = await rawGet(h.issuer, await authPath(variant, mode));
        const location = res.headers.location as string | undefined;
        const leavesUs = location !== undefined && resolved(location, h.issuer).origin !== new URL(h.issuer).origin;
        const postsAway = /<form[^>]+action="(?!\/[^/\\])/i.test(res.body);
        if (res.status >= 500 || leavesUs || postsAway || (res.status !== 400 && res.status !== 303)) wrong.push(`${JSON.stringify(variant)} ${JSON.stringify(mode)} -> ${res.status} ${location ?? ''}`);
      }
    }
    expect(wrong).toEqual([]);
    // The registered one itself goes on to the sign-in.
    const ok = await rawGet(h.issuer, await authPath(GOOD));
    expect(ok.status).toBe(303);
    expect(resolved(ok.headers.location as string, h.issuer).pathname).toMatch(/^\/interaction\//);
  });

  it.skipIf(!enabled)('sends no browser away through a repeated redirect_uri, an unsigned request object, or a pushed request paired with another redirect_uri', async () => {
    const bad: string[] = [];
    const evil = 'https://evil.example/cb';
    const see = (label: string, res: RawHeaders) => {
      const location = res.headers.location as string | undefined;
      if (res.status >= 500 || (location && resolved(location, h.issuer).host !== new URL(h.issuer).host && !location.startsWith(GOOD)) || /<form[^>]+action="https?:\/\/evil/i.test(res.body)) bad.push(`${label} -> ${res.status} ${location ?? ''}`);
    };
    // The same parameter twice, in either order.
    const base = await authPath(GOOD);
    see('good then evil', await rawGet(h.issuer, `${base}&redirect_uri=${encodeURIComponent(evil)}`));
    see('evil then good', await rawGet(h.issuer, base.replace(`redirect_uri=${encodeURIComponent(GOOD)}`, `redirect_uri=${encodeURIComponent(evil)}&redirect_uri=${encodeURIComponent(GOOD)}`)));
    // An unsigned request object naming another redirect_uri than the query.
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none' })}.${b64({ client_id: client.client_id, response_type: 'code', scope: 'openid', redirect_uri: evil, state: 'st', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}.`;
    see('request object', await rawGet(h.issuer, `${base}&request=${unsigned}`));
    // A pushed request for the evil address is refused; one for the good address cannot be redirected by the query.
    const par = async (redirectUri: string) =>
      fetch(new URL('/request', h.issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
        body: new URLSearchParams({ response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)), code_challenge_method: 'S256', state: 'st' }),
      });
    const pushedEvil = await par(evil);
    if (pushedEvil.status !== 400) bad.push(`PAR evil -> ${pushedEvil.status}`);
    const pushed = (await (await par(GOOD)).json()) as { request_uri: string };
    const q = new URLSearchParams({ client_id: client.client_id, request_uri: pushed.request_uri, redirect_uri: evil, prompt: 'none' });
    see('PAR + query redirect_uri', await rawGet(h.issuer, `/auth?${q}`));
    expect(bad).toEqual([]);
  });

  it.skipIf(!enabled)('lets no CR/LF from a parameter reach a header of a redirect (state, error paths, response_mode, ui_locales)', async () => {
    const crlf = 'x\r\nSet-Cookie: injected=1\r\nX-Injected: 1';
    const cases: [string, Record<string, string>][] = [
      [GOOD, { prompt: 'none', state: crlf }],
      [GOOD, { prompt: crlf }],
      [GOOD, { response_type: crlf }],
      [GOOD, { scope: crlf }],
      [GOOD, { response_mode: crlf }],
      [GOOD, { ui_locales: crlf, prompt: 'none' }],
      [GOOD, { acr_values: crlf, prompt: 'none' }],
      [`${GOOD}\r\nX-Injected: 1`, {}],
    ];
    const bad: string[] = [];
    for (const [uri, extra] of cases) {
      const res = await rawGet(h.issuer, await authPath(uri, extra));
      const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
      if (res.status >= 500 || names.includes('x-injected') || cookies.some((c) => c.startsWith('injected=')) || /[\r\n]/.test(String(res.headers.location ?? ''))) {
        bad.push(`${JSON.stringify(extra)} -> ${res.status} ${String(res.headers.location ?? '')}`);
      }
    }
    // Yihao's own pages that build a redirect or a link from the request.
    for (const path of [
      '/admin/clients?x=%0d%0aX-Injected:%201',
      '/admin/%0d%0aX-Injected:%201',
      '/federation/callback?state=%0d%0aX-Injected:%201&code=c',
      '/federation/signed-out?state=%0d%0aX-Injected:%201',
      '/register?return_to=/auth?%0d%0aX-Injected:%201',
      '/password-reset?return_to=/auth?%0d%0aX-Injected:%201',
      '/account?ui_locales=%0d%0aX-Injected:%201',
      '/interaction/abc?ui_locales=%0d%0aX-Injected:%201',
    ]) {
      const res = await rawGet(h.issuer, path);
      const names = res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      if (res.status >= 500 || names.includes('x-injected')) bad.push(`${path} -> ${res.status}`);
    }
    expect(bad).toEqual([]);
  });

  it.skipIf(!enabled)("keeps the admin console's sign-in return on the console: an odd path never becomes a Location off the issuer", async () => {
    const bad: string[] = [];
    for (const path of ['/admin//evil.example', '/admin/\\evil.example', '/admin/%2F%2Fevil.example', '/admin/..//evil.example', '/admin/%5C%5Cevil.example', '/admin@evil.example', '/admin/clients/%2F%2Fevil.example?x=//evil.example']) {
      const res = await rawGet(h.issuer, path);
      const location = res.headers.location as string | undefined;
      if (res.status >= 500) bad.push(`${path} -> ${res.status}`);
      if (location) {
        const to = resolved(location, `${h.issuer}${path.startsWith('/') ? '' : '/'}`);
        // Only our own authorization endpoint or a console path.
        if (to.origin !== new URL(h.issuer).origin || /^[/\\]{2}/.test(location)) bad.push(`${path} -> ${location}`);
      }
      // The language switch is built from the path: it must stay a path on this host.
      for (const m of res.body.matchAll(/<a href="([^"]*)" lang=/g)) {
        const href = m[1]!.replace(/&amp;/g, '&');
        if (/^[/\\]{2}|^[/\\][/\\]/.test(href) || new URL(href, h.issuer).origin !== new URL(h.issuer).origin) bad.push(`${path} switch -> ${href}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it.skipIf(!enabled)('refuses a return_to that leaves the sign-in pages on registration and password reset (no link to another host)', async () => {
    const bad: string[] = [];
    const values = ['//evil.example', '/\\evil.example', '/%2F%2Fevil.example', 'https://evil.example/', '/interaction/x/../..//evil.example', '/auth/../..//evil.example', '/auth#@evil.example', 'javascript:alert(1)', '/auth?x=1\t//evil', '/\t/evil.example', '/auth/%2e%2e/%2e%2e//evil.example', '/interaction/abc%0A'];
    for (const base of ['/register', '/password-reset', '/register/code', '/password-reset/code']) {
      for (const v of values) {
        const res = await rawGet(h.issuer, `${base}?${new URLSearchParams({ return_to: v })}`);
        if (res.status >= 500) bad.push(`${base} ${v} -> ${res.status}`);
        const location = res.headers.location as string | undefined;
        if (location && resolved(location, h.issuer).origin !== new URL(h.issuer).origin) bad.push(`${base} ${v} -> ${location}`);
        for (const m of res.body.matchAll(/<a href="([^"]*)"/g)) {
          const href = m[1]!.replace(/&amp;/g, '&');
          if (/^[/\\]{2}/.test(href) || /^[a-z]+:/i.test(href) || new URL(href, h.issuer).origin !== new URL(h.issuer).origin) bad.push(`${base} ${v} link -> ${href}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  /** Signs the citizen in to `client` and returns its ID token and the browser. */
  async function signIn() {
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st' });
    const back = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, back, { pkceCodeVerifier: verifier, expectedState: 'st' });
    return { browser, idToken: tokens.id_token! };
  }

  it.skipIf(!enabled)('offers no sign-out that ends at a post_logout_redirect_uri the app did not register, nor at another app’s', async () => {
    const { browser, idToken } = await signIn();
    const bad: string[] = [];
    const byeVariants = REDIRECT_VARIANTS.map((v) => v.replace(/\/cb/g, '/bye')).concat(['https://other.example.gov.cn/bye', REDIRECT]);
    for (const v of byeVariants) {
      for (const hint of [{ id_token_hint: idToken }, { client_id: client.client_id }, { id_token_hint: idToken, client_id: other.client_id }] as Record<string, string>[]) {
        const q = new URLSearchParams({ ...hint, post_logout_redirect_uri: v, state: 's' });
        const res = await browser.request(new URL(`/session/end?${q}`, h.issuer));
        const html = await res.text();
        const location = res.headers.get('location');
        // Accepted, it shows the confirmation form; refused, an error page (400).
        if (res.status >= 500 || (location && new URL(location, h.issuer).origin !== new URL(h.issuer).origin) || (res.status === 200 && /name="xsrf"/.test(html))) {
          bad.push(`${JSON.stringify(v)} ${Object.keys(hint).join('+')} -> ${res.status}`);
        }
      }
    }
    // Another app's registered address named with our ID token and that app's client_id: refused too.
    const mixed = await browser.request(new URL(`/session/end?${new URLSearchParams({ id_token_hint: idToken, client_id: other.client_id, post_logout_redirect_uri: 'https://other.example.gov.cn/bye' })}`, h.issuer));
    await mixed.text();
    if (mixed.status !== 400) bad.push(`mixed client -> ${mixed.status}`);
    expect(bad).toEqual([]);

    // The registered address works, and a CR/LF in state does not reach the Location as a header.
    const q = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: GOOD_BYE, state: 'a\r\nX-Injected: 1' });
    const confirm = await browser.request(new URL(`/session/end?${q}`, h.issuer));
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const action = new URL(/action="([^"]+)"/.exec(html)![1]!, h.issuer);
    const done = await browser.request(action, { form: { xsrf, logout: 'yes' } });
    expect(done.status).toBe(303);
    expect(done.headers.get('x-injected')).toBeNull();
    const to = new URL(done.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(GOOD_BYE);
    expect(to.searchParams.get('state')).toBe('a\r\nX-Injected: 1');
  });

  it.skipIf(!enabled)('sends Referrer-Policy: no-referrer on every page whose URL carries a code, a state or an interaction uid', async () => {
    const login = await rawGet(h.issuer, await authPath(GOOD));
    const interaction = login.headers.location as string;
    const paths = [
      interaction,
      `${interaction}/sms`,
      `${interaction}/qr`,
      '/m/qr/ABCDEFGHIJKLMNOP',
      '/device?user_code=BCDF-GHJK',
      '/account/callback?code=leaky-code&state=leaky-state',
      '/admin/callback?code=leaky-code&state=leaky-state',
      '/federation/callback?code=leaky-code&state=leaky-state',
      '/federation/signed-out?state=leaky-state',
      '/session/end?client_id=nope&state=leaky-state',
      await authPath('https://evil.example/cb'),
      '/register?return_to=/interaction/leaky-uid',
      '/password-reset?return_to=/interaction/leaky-uid',
    ];
    const missing: string[] = [];
    for (const p of paths) {
      const res = await rawGet(h.issuer, p);
      if (res.status >= 500) missing.push(`${p} -> ${res.status}`);
      else if (res.headers['referrer-policy'] !== 'no-referrer') missing.push(`${p} -> ${String(res.headers['referrer-policy'])}`);
    }
    expect(missing).toEqual([]);
  });
});
