import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { isYihaoError } from '../../src/errors.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';


describe('bad input gets a clear 4xx answer, never a 500', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  let clientId: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    h = await startHarness();
    const client = await h.client({ redirectUris: [REDIRECT] });
    clientId = client.client_id;
    rp = await relyingParty(h, client);
    citizen = await h.citizen();
  });
  afterAll(async () => h?.close());

  const authUrl = (extra: Record<string, string> = {}) => authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ...extra });

  /** Opens the login page and returns the browser, its URL and the form's CSRF token. */
  async function loginPage(extra: Record<string, string> = {}) {
    const browser = new ScriptedBrowser();
    const { res, url } = await browser.follow(await authUrl(extra));
    const html = await res.text();
    return { browser, url, html, csrf: formField(html, 'csrf')!, action: new URL(formAction(html, '/login')!, url) };
  }

  it.each([
    ['wrong check character', '440305199001010150'],
    ['impossible date', '110105194902300020'],
    ['17 characters', '44030519900101015'],
    ['letters', '44030519900101A015'],
    ['unknown province', '990105199001010022'],
  ])('refuses a malformed citizen ID (%s) without echoing it', async (_why, id) => {
    const err = await h.yihao.accounts.create({ citizenId: id, name: '李四', password: 'correct horse battery' }).catch((e: unknown) => e);
    expect(isYihaoError(err) && err.code).toBe('invalid_citizen_id');
    expect((err as Error).message).not.toContain(id.slice(6, 14));
  });

  it('refuses a duplicate citizen ID and changes nothing', async () => {
    const before = await h.yihao.stores.db('accounts').count({ n: '*' }).first();
    const err = await h.yihao.accounts.create({ citizenId: citizen.citizenId, name: '王五', password: 'another password' }).catch((e: unknown) => e);
    expect(isYihaoError(err) && err.code).toBe('duplicate_citizen_id');
    expect((err as Error).message).not.toContain(citizen.citizenId);
    expect(await h.yihao.stores.db('accounts').count({ n: '*' }).first()).toEqual(before);
  });

  it('answers a wrong password and an unknown identifier with the same generic message', async () => {
    const wrong = await loginPage({ ui_locales: 'en' });
    const r1 = await wrong.browser.request(wrong.action, { form: { csrf: wrong.csrf, identifier: citizen.citizenId, password: 'not the password' } });
    const unknown = await loginPage({ ui_locales: 'en' });
    const r2 = await unknown.browser.request(unknown.action, { form: { csrf: unknown.csrf, identifier: '11010519491231002X', password: 'not the password' } });
    const malformed = await loginPage({ ui_locales: 'en' });
    const r3 = await malformed.browser.request(malformed.action, { form: { csrf: malformed.csrf, identifier: '440305199001010150', password: 'x' } });
    const message = (html: string) => /role="alert"[^>]*>([^<]+)</.exec(html)?.[1];
    const [m1, m2, m3] = [message(await r1.text()), message(await r2.text()), message(await r3.text())];
    expect([r1.status, r2.status, r3.status]).toEqual([401, 401, 401]);
    expect(m1).toBe('The ID number, mobile number or password is not correct.');
    expect(m2).toBe(m1);
    expect(m3).toBe(m1);
  });

  it('refuses an unknown client without redirecting', async () => {
    const res = await fetch(`${h.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_client');
  });

  it('refuses an unregistered redirect_uri without redirecting to it', async () => {
    const url = await authUrl({ redirect_uri: 'https://evil.example/cb' });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('redirect_uri');
  });

  it('requires PKCE', async () => {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid' });
    const res = await fetch(url, { redirect: 'manual' });
    const back = new URL(res.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('refuses a forged CSRF token', async () => {
    const p = await loginPage();
    const res = await p.browser.request(p.action, { form: { csrf: 'forged', identifier: citizen.citizenId, password: citizen.password } });
    expect(res.status).toBe(403);
  });

  it('refuses a form posted to another interaction uid than the cookie names', async () => {
    const a = await loginPage();
    const b = await loginPage();
    // A's interaction cookie and CSRF token, replayed against B's interaction URL.
    const res = await fetch(b.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: a.browser.cookieHeader(a.action), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: a.csrf, identifier: citizen.citizenId, password: citizen.password }).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('interaction_mismatch');
  });

  it('refuses oversized form fields and bodies', async () => {
    const p = await loginPage({ ui_locales: 'en' });
    const long = await p.browser.request(p.action, { form: { csrf: p.csrf, identifier: '1'.repeat(5000), password: 'x' } });
    expect(long.status).toBe(400);
    expect(await long.text()).toContain('This entry is too long.');
    const huge = await p.browser.request(p.action, { form: { csrf: p.csrf, identifier: 'a', password: 'x'.repeat(200_000) } });
    expect(huge.status).toBe(413);
    // The interaction survives bad input: the right credentials still work afterwards.
    const ok = await p.browser.request(p.action, { form: { csrf: p.csrf, identifier: citizen.citizenId, password: citizen.password } });
    expect(ok.status).toBe(303);
  });

  it('answers malformed requests to every endpoint with a 4xx', async () => {
    const basic = `Basic ${Buffer.from(`${clientId}:wrong`).toString('base64')}`;
    const probes: [string, RequestInit][] = [
      ['/token', { method: 'POST', body: 'grant_type=nonsense', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/token', { method: 'POST', body: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic } }],
      ['/token', { method: 'POST', body: '{"grant_type":1}', headers: { 'content-type': 'application/json' } }],
      ['/me', { method: 'GET' }],
      ['/me', { method: 'GET', headers: { authorization: 'Bearer not-a-token' } }],
      ['/token/introspection', { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/token/revocation', { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/request', { method: 'POST', body: 'client_id=nope', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/request', { method: 'GET' }],
      ['/auth', { method: 'GET' }],
      ['/auth/unknown-uid', { method: 'GET' }],
      ['/session/end?id_token_hint=garbage', { method: 'GET' }],
      ['/session/end/confirm', { method: 'POST', body: 'xsrf=x&logout=yes', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/interaction/unknown', { method: 'GET' }],
      ['/interaction/unknown/login', { method: 'POST', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
      ['/interaction/unknown/confirm', { method: 'POST', body: 'a=b', headers: { 'content-type': 'text/plain' } }],
      ['/jwks', { method: 'POST' }],
      ['/device/auth', { method: 'GET' }],
      ['/.well-known/openid-configuration', { method: 'DELETE' }],
    ];
    for (const [path, init] of probes) {
      const res = await fetch(`${h.issuer}${path}`, { ...init, redirect: 'manual' });
      expect.soft(res.status, `${init.method} ${path}`).toBeGreaterThanOrEqual(400);
      expect.soft(res.status, `${init.method} ${path}`).toBeLessThan(500);
    }
  });
});
