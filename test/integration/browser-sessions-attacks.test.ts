/**
 * Attacks on browser sessions and logout: oidc-provider's `_session`, the portal's and the console's
 * sessions, sign-out, RP-initiated logout and back-channel logout: fixation, replayed cookies,
 * another account's hints and redirects, an account switch mid-consent. Each test states the secure
 * behaviour. A `_session` used every second outlived its lifetime (each use saved it afresh) until
 * the lifetime counted from its first save (found by a review, with the rest of this file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty, REDIRECT } from '../support/relying-party.js';
import { formField, go as walk, page, ScriptedBrowser, scriptedSignIn, submit as post, type PageStep } from '../support/scripted-browser.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { consoleBrowser, nationalTree } from '../support/admin-operators.js';

type Receiver = Awaited<ReturnType<typeof logoutReceiver>>;

describe('sessions and logout (sqlite)', () => {
  let h: Harness;
  let origin: string;
  const receivers: Receiver[] = [];
  const go = (b: ScriptedBrowser, url: string | URL) => walk(b, url, origin);
  const submit = (b: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(b, from, contains, fields, origin);

  beforeAll(async () => {
    h = await startHarness({ backend: 'sqlite', host: 'localhost', overrides: (c) => ({ ...c, outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] } }) });
    origin = new URL(h.issuer).origin;
  }, 30_000);
  afterAll(async () => {
    for (const r of receivers) r.server.close();
    await h?.close();
  });

  const receiver = async () => {
    const r = await logoutReceiver();
    receivers.push(r);
    return r;
  };

  /** The browser's `_session` cookie pair, as a header value. */
  const sessionCookies = (b: ScriptedBrowser) =>
    b
      .cookieHeader(new URL(`${h.issuer}/auth`))
      .split('; ')
      .filter((c) => /^_session(\.sig)?=/.test(c))
      .join('; ');

  /** A prompt=none authorization with only `cookie`: the code's sub, or the error. */
  async function silent(rp: oidc.Configuration, cookie: string): Promise<{ sub?: string; error?: string }> {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { prompt: 'none', state: 's' });
    let res = await fetch(url, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
    let at = url;
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      at = new URL(res.headers.get('location')!, at);
      if (at.href.startsWith(REDIRECT)) break;
      res = await fetch(at, { headers: cookie ? { cookie } : {}, redirect: 'manual' });
    }
    if (!at.href.startsWith(REDIRECT)) return { error: `stopped at ${at.pathname} ${res.status}` };
    if (at.searchParams.get('error')) return { error: at.searchParams.get('error')! };
    const tokens = await oidc.authorizationCodeGrant(rp, at, { pkceCodeVerifier: verifier, expectedState: 's' });
    return { sub: tokens.claims()!.sub };
  }

  /** Walks sign-in pages, consent and oidc-provider's self-submitting forms until the app's redirect. */
  async function walkTo(b: ScriptedBrowser, start: URL, who: { citizenId: string; password: string }): Promise<URL> {
    let url = start;
    let form: Record<string, string> | undefined;
    for (let hop = 0; hop < 25; hop++) {
      const res = await b.request(url, form ? { form } : {});
      form = undefined;
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location')!, url);
        if (url.href.startsWith(REDIRECT)) return url;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url.pathname}: ${html.slice(0, 300)}`);
      const csrf = formField(html, 'csrf');
      const at = url;
      const actions = [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
      const login = actions.find((a) => a.includes('/login'));
      const confirm = actions.find((a) => a.includes('/confirm'));
      if (csrf && login) {
        url = new URL(login, at);
        form = { csrf, identifier: who.citizenId, password: who.password };
      } else if (csrf && confirm) {
        url = new URL(confirm, at);
        form = { csrf };
      } else if (actions.length > 0) {
        url = new URL(actions[0]!, at);
        form = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, '&')]));
      } else throw new Error(`stuck at ${url.pathname}: ${html.slice(0, 300)}`);
    }
    throw new Error('sign-in did not finish');
  }

  async function signIn(b: ScriptedBrowser, rp: oidc.Configuration, who: { citizenId: string; password: string }, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const cb = await walkTo(b, await authorizationUrl(rp, verifier, { state: 'x', ...extra }), who);
    return oidc.authorizationCodeGrant(rp, cb, { pkceCodeVerifier: verifier, expectedState: 'x' });
  }

  /** Into the portal with the password (a browser already signed in at Yihao goes straight through, after consent if asked). */
  async function portal(b: ScriptedBrowser, who: { citizenId: string; password: string }, path = '/account'): Promise<PageStep> {
    let p = page(await go(b, `${h.issuer}${path}?ui_locales=en`));
    for (let i = 0; i < 3 && p.url.pathname !== path; i++) {
      if (formField(p.html, 'identifier') !== undefined || p.html.includes('name="identifier"')) p = page(await submit(b, p, '/login', { identifier: who.citizenId, password: who.password }));
      else p = page(await submit(b, p, '/confirm', {}));
    }
    expect(p.url.pathname).toBe(path);
    return p;
  }
  const portalCookie = (b: ScriptedBrowser) =>
    b
      .cookieHeader(new URL(`${h.issuer}/account`))
      .split('; ')
      .filter((c) => /^yihao_portal(\.sig)?=/.test(c))
      .join('; ');
  const portalWith = async (cookie: string) => {
    const res = await fetch(`${h.issuer}/account/sessions?ui_locales=en`, { headers: { cookie }, redirect: 'manual' });
    await res.arrayBuffer();
    return res.status;
  };

  it('a `_session` cookie from before a sign-in does not carry the sign-in after it (fixation)', async () => {
    const a = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'fix app' }));
    const b = new ScriptedBrowser();
    // Whatever the browser holds before sign-in (planted by an attacker).
    await go(b, await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    const before = sessionCookies(b);
    await signIn(b, rp, a);
    const after = sessionCookies(b);
    expect(after).not.toBe('');
    if (before) {
      expect(after).not.toBe(before);
      expect((await silent(rp, before)).sub).toBeUndefined();
    }
    expect((await silent(rp, after)).sub).toBe(a.sub);
  }, 30_000);

  it("the attacker's own `_session` cookie, planted in a browser where the victim then signs in, does not carry the victim's sign-in (account switch)", async () => {
    const attacker = await h.citizen();
    const victim = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'switch app' }));
    const b = new ScriptedBrowser();
    await signIn(b, rp, attacker);
    const planted = sessionCookies(b);
    // The victim signs in in that browser (prompt=login: not me).
    const tokens = await signIn(b, rp, victim, { prompt: 'login' });
    expect(tokens.claims()!.sub).toBe(victim.sub);
    const got = await silent(rp, planted);
    expect(got.sub).not.toBe(victim.sub);
    // And step-up-free re-auth (prompt=login again as the victim) rotates the id too.
    const v1 = sessionCookies(b);
    await signIn(b, rp, victim, { prompt: 'login' });
    expect(sessionCookies(b)).not.toBe(v1);
    expect((await silent(rp, v1)).sub).toBeUndefined();
  }, 30_000);

  it("signing in as B in a browser that holds A's session tells A's apps (A is not left signed in at an app behind B's session)", async () => {
    const a = await h.citizen();
    const bUser = await h.citizen();
    const rx = await receiver();
    const x = await h.client({ name: 'A app', backchannelLogoutUri: rx.url, grantTypes: ['authorization_code'] });
    const rpx = await relyingParty(h, x);
    const b = new ScriptedBrowser();
    const aTokens = await signIn(b, rpx, a);
    const aSid = aTokens.claims()!.sid as string;
    expect(aSid).toBeTruthy();
    await signIn(b, rpx, bUser, { prompt: 'login' });
    // Some logout token for A's session reached the app (at the switch, or later when B signs out).
    await fetch(`${h.issuer}/session/end`, { redirect: 'manual' }).then((r) => r.arrayBuffer());
    await new Promise((r) => setTimeout(r, 300));
    const forA = rx.tokens.map((t) => decodeJwt(t)).filter((p) => p.sub === a.sub || p.sid === aSid);
    expect(forA.length).toBeGreaterThan(0);
    // A's access token no longer works at userinfo (its grant went with A's session).
    await expect(oidc.fetchUserInfo(rpx, aTokens.access_token, a.sub)).rejects.toBeDefined();
  }, 30_000);

  it('mid-consent as A, a sign-in as B in another tab: confirming A\'s consent gives no code for B', async () => {
    const a = await h.citizen();
    const bUser = await h.citizen();
    const rp1 = await relyingParty(h, await h.client({ name: 'first app' }));
    const rp2 = await relyingParty(h, await h.client({ name: 'second app' }));
    const b = new ScriptedBrowser();
    await signIn(b, rp1, a);
    // Tab 1: A, already signed in, is shown consent for the second app.
    const v1 = oidc.randomPKCECodeVerifier();
    const consent = page(await go(b, await authorizationUrl(rp2, v1, { state: 'c' })));
    expect(consent.html).toContain('/confirm');
    // Tab 2: B signs in (at the first app, prompt=login).
    await signIn(b, rp1, bUser, { prompt: 'login' });
    // Tab 1: confirm.
    const done = await submit(b, consent, '/confirm', {});
    if (done.kind === 'rp' && done.url.searchParams.get('code')) {
      const tokens = await oidc.authorizationCodeGrant(rp2, done.url, { pkceCodeVerifier: v1, expectedState: 'c' });
      expect(tokens.claims()!.sub).toBe(a.sub);
    }
    // Whatever happened, B holds no grant for the second app that B never consented to.
    const bGrants = (await h.yihao.services.accountIndex.list(bUser.sub)).filter((e) => e.model === 'Grant');
    for (const g of bGrants) {
      const grant = await h.yihao.holder.current.Grant.find(g.id);
      expect(grant?.clientId).not.toBe((rp2.clientMetadata().client_id));
    }
  }, 30_000);

  it("the portal's sign out everywhere: the old portal cookie and the old `_session` cookie are both dead when replayed", async () => {
    const a = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'replay app' }));
    const b = new ScriptedBrowser();
    await signIn(b, rp, a);
    const sessions = await portal(b, a, '/account/sessions');
    const oldPortal = portalCookie(b);
    const oldSession = sessionCookies(b);
    expect(oldPortal).toContain('yihao_portal=');
    expect(await portalWith(oldPortal)).toBe(200);
    const res = await b.request(`${h.issuer}/account/sessions/end-all`, { form: { csrf: formField(sessions.html, 'csrf')! } });
    expect(res.status).toBe(303);
    expect(await portalWith(oldPortal)).not.toBe(200);
    expect((await silent(rp, oldSession)).sub).toBeUndefined();
  }, 30_000);

  it("a signed-in portal, and a password reset elsewhere: the portal session and the `_session` die", async () => {
    const a = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'reset app' }));
    const b = new ScriptedBrowser();
    await signIn(b, rp, a);
    await portal(b, a);
    const oldPortal = portalCookie(b);
    const oldSession = sessionCookies(b);
    // What a reset does once the code is proven (password-reset-service.ts): sign the account out everywhere.
    await h.yihao.signOut.everywhere(a.sub);
    expect(await portalWith(oldPortal)).not.toBe(200);
    expect((await silent(rp, oldSession)).sub).toBeUndefined();
  }, 30_000);

  it('/session/end refuses a post_logout_redirect_uri registered for another client', async () => {
    const a = await h.citizen();
    const mine = await h.client({ name: 'logout mine', postLogoutRedirectUris: ['https://mine.example/bye'] });
    const other = await h.client({ name: 'logout other', postLogoutRedirectUris: ['https://evil.example/bye'] });
    const rp = await relyingParty(h, mine);
    const b = new ScriptedBrowser();
    const tokens = await signIn(b, rp, a);
    const url = new URL(`${h.issuer}/session/end`);
    url.search = new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/bye' }).toString();
    const res = await b.request(url);
    const body = await res.text();
    expect(res.status, body.slice(0, 200)).toBe(400);
    const url2 = new URL(`${h.issuer}/session/end`);
    url2.search = new URLSearchParams({ client_id: mine.client_id, post_logout_redirect_uri: 'https://evil.example/bye' }).toString();
    const res2 = await b.request(url2);
    await res2.arrayBuffer();
    expect(res2.status).toBe(400);
    void other;
  }, 30_000);

  it("/session/end with another account's id_token_hint does not end that other account's session elsewhere", async () => {
    const victim = await h.citizen();
    const attacker = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'hint app', postLogoutRedirectUris: ['https://hint.example/bye'] }));
    const vb = new ScriptedBrowser();
    const vt = await signIn(vb, rp, victim);
    const ab = new ScriptedBrowser();
    await signIn(ab, rp, attacker);
    // The attacker's browser posts the logout with the victim's ID token as the hint.
    const url = new URL(`${h.issuer}/session/end`);
    url.search = new URLSearchParams({ id_token_hint: vt.id_token!, post_logout_redirect_uri: 'https://hint.example/bye' }).toString();
    const confirm = await ab.request(url);
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    if (xsrf) {
      const r = await ab.request(`${h.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } });
      await r.arrayBuffer();
    }
    expect((await silent(rp, sessionCookies(vb))).sub).toBe(victim.sub);
  }, 30_000);

  it('back-channel logout tokens name the app, the event, the sid, and no nonce; each has its own jti', async () => {
    const a = await h.citizen();
    const r = await receiver();
    const app = await h.client({ name: 'bcl app', backchannelLogoutUri: r.url });
    const rp = await relyingParty(h, app);
    const b1 = new ScriptedBrowser();
    const t1 = await signIn(b1, rp, a);
    const b2 = new ScriptedBrowser();
    const t2 = await signIn(b2, rp, a);
    const sessions = await portal(b1, a, '/account/sessions');
    await b1.request(`${h.issuer}/account/sessions/end-all`, { form: { csrf: formField(sessions.html, 'csrf')! } });
    await new Promise((res) => setTimeout(res, 300));
    const claims = r.tokens.map((t) => decodeJwt(t));
    expect(claims.length).toBeGreaterThanOrEqual(2);
    for (const c of claims) {
      expect(c.iss).toBe(h.issuer);
      expect(c.aud).toBe(app.client_id);
      expect(c.sub).toBe(a.sub);
      expect((c.events as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout']).toEqual({});
      expect(c.nonce).toBeUndefined();
    }
    const sids = new Set(claims.map((c) => c.sid));
    expect(sids).toContain(t1.claims()!.sid);
    expect(sids).toContain(t2.claims()!.sid);
    expect(new Set(claims.map((c) => c.jti)).size).toBe(claims.length);
  }, 30_000);

  it("a console session: dead after sign-out (cookie replayed), after the role is revoked, and after the portal's sign out everywhere", async () => {
    const tree = await nationalTree(h);
    const who = { citizenId: '', password: '', totpSecret: '' };
    const op = tree.reviewer;
    Object.assign(who, { citizenId: op.citizenId, password: op.password, totpSecret: op.totpSecret });
    const consoleCookie = (b: ScriptedBrowser) =>
      b
        .cookieHeader(new URL(`${h.issuer}/admin`))
        .split('; ')
        .filter((c) => /^yihao_admin(\.sig)?=/.test(c))
        .join('; ');
    const consoleWith = async (cookie: string) => {
      const res = await fetch(`${h.issuer}/admin?ui_locales=en`, { headers: { cookie }, redirect: 'manual' });
      await res.arrayBuffer();
      return res.status;
    };

    // 1. Sign-out, then the old cookie replayed.
    const one = await consoleBrowser(h, { ...who, step: 1 });
    const c1 = consoleCookie(one.browser);
    expect(await consoleWith(c1)).toBe(200);
    const home = page(await go(one.browser, `${h.issuer}/admin?ui_locales=en`));
    const out = await one.browser.request(`${h.issuer}/admin/sign-out`, { form: { csrf: formField(home.html, 'csrf')! } });
    await out.arrayBuffer();
    expect(await consoleWith(c1)).not.toBe(200);

    // 2. Role revoked while signed in.
    const sa = tree.superAdmin;
    const two = await consoleBrowser(h, { citizenId: sa.citizenId, password: sa.password, totpSecret: sa.totpSecret, step: 1 });
    const c2 = consoleCookie(two.browser);
    expect(await consoleWith(c2)).toBe(200);
    const account = (await h.yihao.accounts.findBySub(sa.sub))!;
    const held = await h.yihao.admin.services.stores.assignments.forAccount(account.id);
    for (const a of held) await h.yihao.admin.services.stores.assignments.remove(a.id);
    expect(await consoleWith(c2)).not.toBe(200);

    // 3. The operator signs out everywhere from the portal.
    const da = tree.deptAdmin;
    const three = await consoleBrowser(h, { citizenId: da.citizenId, password: da.password, totpSecret: da.totpSecret, step: 1 });
    const c3 = consoleCookie(three.browser);
    expect(await consoleWith(c3)).toBe(200);
    const pb = new ScriptedBrowser();
    const sessions = await portal(pb, da, '/account/sessions');
    await pb.request(`${h.issuer}/account/sessions/end-all`, { form: { csrf: formField(sessions.html, 'csrf')! } });
    expect(await consoleWith(c3)).not.toBe(200);
  }, 30_000);
});

describe('`_session` lifetime under activity (sqlite, short ttl)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend: 'sqlite', overrides: (c) => ({ ...c, ttl: { ...c.ttl, sessionSeconds: 4, refreshTokenSeconds: 60 } }) });
  }, 30_000);
  afterAll(async () => h?.close());

  it('a browser session used every second does not outlive its configured lifetime (no endless sliding)', async () => {
    const a = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: 'sliding app' }));
    const b = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const cb = await scriptedSignIn(b, await authorizationUrl(rp, verifier), { identifier: a.citizenId, password: a.password });
    await oidc.authorizationCodeGrant(rp, cb, { pkceCodeVerifier: verifier });
    const start = Date.now();
    let lastOk = 0;
    // Keep using it (a silent sign-in every second) for three lifetimes.
    while (Date.now() - start < 12_000) {
      const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' });
      const { url: at } = await b.follow(url, {}, new URL(h.issuer).origin);
      if (at.searchParams.get('code')) lastOk = Date.now() - start;
      await new Promise((r) => setTimeout(r, 1000));
    }
    // The sign-in was 4 s lifetime; a code 8 s+ later means activity extends it without limit.
    expect(lastOk).toBeLessThan(6_000);
  }, 30_000);
});
