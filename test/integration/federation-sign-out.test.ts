/**
 * Signing out of the upstream too (OpenID Connect RP-Initiated Logout 1.0, Yihao as the relying
 * party), against real upstream oidc-provider instances: with `signOutUpstream` on, a citizen who
 * signed in through the upstream and signs out at Yihao in the browser (an app's end_session, or the
 * portal) goes through the upstream's end_session_endpoint and comes back to where the app asked;
 * the upstream session is gone. Off (the default), the upstream session stays. A password session
 * never leaves Yihao, and an upstream without end_session_endpoint is logged and left alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { confirmUpstreamSignOut, federatedWalk, startUpstreamOp, upstreamSession, type UpstreamOp } from '../support/upstream-op.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const BYE = 'http://127.0.0.1:9/bye';

describe.each(backends)('federation: signing out of the upstream too ($name)', ({ name: backend, enabled }) => {
  let h: Harness;
  /** Set to be signed out (signOutUpstream on). */
  let on: UpstreamOp;
  /** The default: left alone. */
  let off: UpstreamOp;
  /** Set to be signed out, but publishes no end_session_endpoint. */
  let bare: UpstreamOp;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    // Its ID tokens carry no citizen ID (that comes from userinfo), so they can be the id_token_hint.
    on = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'on', idTokenClaims: 'minimal' });
    off = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'off' });
    bare = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'bare', endSession: false });
    const define = (name: string, up: UpstreamOp, signOutUpstream?: boolean) =>
      h.yihao.federation.upstreams.add(
        { name, issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', ...(signOutUpstream === undefined ? {} : { signOutUpstream }) },
        up.clientSecret,
      );
    expect((await define('on', on, true)).signOutUpstream).toBe(true);
    expect((await define('off', off)).signOutUpstream).toBe(false);
    await define('bare', bare, true);
  });
  afterAll(async () => {
    for (const up of [on, off, bare]) await up?.close();
    await h?.close();
  });

  /** A citizen signed in at an app through `up` (as `name`); the tokens the app got. The upstream's sub is `asSub` or made up. */
  async function federatedAtApp(up: UpstreamOp, name: string, asSub?: (citizenId: string) => string) {
    const citizen = await h.citizen();
    const login = asSub ? asSub(citizen.citizenId) : `${name}-${Math.random().toString(36).slice(2)}`;
    up.citizens.set(login, { claims: { citizen_id: citizen.citizenId, name: citizen.name } });
    const rp = await relyingParty(h, await h.client({ postLogoutRedirectUris: [BYE] }));
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(browser, h, up, name, login, await authorizationUrl(rp, verifier));
    if (step.kind !== 'rp') throw new Error('the federated sign-in did not reach the relying party');
    const tokens = await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(citizen.sub);
    return { citizen, rp, browser, tokens };
  }

  /** The app's end_session at Yihao (openid-client's buildEndSessionUrl); "Sign out" on Yihao's page. Returns Yihao's answer. */
  async function signOutAtYihao(browser: ScriptedBrowser, rp: oidc.Configuration, idToken: string, extra: Record<string, string> = {}) {
    const page = await browser.request(oidc.buildEndSessionUrl(rp, { id_token_hint: idToken, post_logout_redirect_uri: BYE, ...extra }));
    const html = await page.text();
    const xsrf = formField(html, 'xsrf');
    expect(xsrf, 'Yihao asks to confirm the sign-out').toBeTruthy();
    return browser.request(new URL(formAction(html, '/session/end/confirm')!, h.issuer), { form: { xsrf: xsrf!, logout: 'yes' } });
  }

  const yihaoSession = async (browser: ScriptedBrowser, rp: oidc.Configuration) => {
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    return url.searchParams.get('error') ?? (url.searchParams.get('code') ? 'alive' : url.href);
  };
  const audited = async (sub: string) => (await h.yihao.services.audit.forAccount(sub)).map((e) => e.action);

  it.skipIf(!enabled)("an app's sign-out at Yihao goes through the upstream's end_session_endpoint, signs the citizen out there, and lands at the app's post_logout_redirect_uri", async () => {
    const { citizen, rp, browser, tokens } = await federatedAtApp(on, 'on');
    expect(await upstreamSession(browser, h, on)).toBe('alive');

    const res = await signOutAtYihao(browser, rp, tokens.id_token!, { state: 'app-state' });
    expect(res.status).toBe(303);
    const toUpstream = new URL(res.headers.get('location')!);
    expect(`${toUpstream.origin}${toUpstream.pathname}`).toBe(`${on.issuer}/session/end`);
    expect(toUpstream.searchParams.get('post_logout_redirect_uri')).toBe(`${h.issuer}/federation/signed-out`);
    expect(toUpstream.searchParams.get('client_id')).toBe(on.clientId);
    expect(toUpstream.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    // The upstream's own ID token for this session, kept sealed until now.
    const hint = toUpstream.searchParams.get('id_token_hint')!;
    const hintClaims = JSON.parse(Buffer.from(hint.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(hintClaims).toMatchObject({ iss: on.issuer, aud: on.clientId });
    expect(hintClaims).not.toHaveProperty('citizen_id');
    expect(toUpstream.href).not.toContain(citizen.citizenId);
    // Yihao's session ended before the detour: the app's prompt=none already fails.
    expect(await yihaoSession(browser, rp)).toBe('login_required');

    const { url } = await confirmUpstreamSignOut(browser, h, toUpstream);
    expect(url.href).toBe(`${BYE}?state=app-state`);
    expect(await upstreamSession(browser, h, on)).toBe('login_required');
    expect(await audited(citizen.sub)).toContain('federation.sign_out_sent');
  });

  it.skipIf(!enabled)("the portal's sign-out and sign-out-everywhere go through the upstream too, back to the portal's signed-out page", async () => {
    for (const action of ['/account/logout', '/account/sessions/end-all']) {
      const citizen = await h.citizen();
      const login = `portal-${Math.random().toString(36).slice(2)}`;
      on.citizens.set(login, { claims: { citizen_id: citizen.citizenId, name: citizen.name } });
      const browser = new ScriptedBrowser();
      const { step } = await federatedWalk(browser, h, on, 'on', login, new URL(`${h.url}/account/sessions`));
      if (step.kind !== 'page') throw new Error('the portal did not open');
      expect(step.url.pathname).toBe('/account/sessions');
      expect(await upstreamSession(browser, h, on)).toBe('alive');

      const form = formAction(step.html, action);
      expect(form, action).toBeTruthy();
      const res = await browser.request(new URL(form!, step.url), { form: { csrf: formField(step.html, 'csrf')! } });
      expect(res.status).toBe(303);
      const toUpstream = new URL(res.headers.get('location')!);
      expect(toUpstream.origin).toBe(on.issuer);
      const { res: landed, url } = await confirmUpstreamSignOut(browser, h, toUpstream);
      expect(url.pathname, action).toBe('/account/signed-out');
      expect(landed.status).toBe(200);
      expect(await upstreamSession(browser, h, on), action).toBe('login_required');
      // And the portal needs a new sign-in.
      const again = await browser.follow(`${h.url}/account`);
      expect(again.url.pathname).toMatch(/^\/interaction\//);
    }
  });

  it.skipIf(!enabled)('off (the default): Yihao signs out, the upstream session stays', async () => {
    const { rp, browser, tokens } = await federatedAtApp(off, 'off');
    const res = await signOutAtYihao(browser, rp, tokens.id_token!);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(BYE);
    expect(await yihaoSession(browser, rp)).toBe('login_required');
    expect(await upstreamSession(browser, h, off)).toBe('alive');
  });

  it.skipIf(!enabled)('"sign out of this app only" at Yihao leaves the Yihao session, and so the upstream session, alone', async () => {
    const { rp, browser, tokens } = await federatedAtApp(on, 'on');
    const page = await browser.request(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: BYE }));
    const xsrf = formField(await page.text(), 'xsrf')!;
    // The "stay signed in" button posts the form without logout=yes.
    const res = await browser.request(`${h.issuer}/session/end/confirm`, { form: { xsrf } });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(BYE);
    expect(await upstreamSession(browser, h, on)).toBe('alive');
  });

  it.skipIf(!enabled)('a password session signs out at Yihao only', async () => {
    const citizen = await h.citizen();
    const rp = await relyingParty(h, await h.client({ postLogoutRedirectUris: [BYE] }));
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const res = await signOutAtYihao(browser, rp, tokens.id_token!);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(BYE);
    expect(await yihaoSession(browser, rp)).toBe('login_required');
  });

  it.skipIf(!enabled)('an upstream without end_session_endpoint: Yihao signs out normally, and logs (audits) that the upstream could not be', async () => {
    const { citizen, rp, browser, tokens } = await federatedAtApp(bare, 'bare');
    const res = await signOutAtYihao(browser, rp, tokens.id_token!);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(BYE);
    expect(await yihaoSession(browser, rp)).toBe('login_required');
    const skipped = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'federation.sign_out_skipped');
    expect(skipped?.details).toMatchObject({ upstream: 'bare', reason: 'no_end_session_endpoint' });
  });

  it.skipIf(!enabled)('the way back is single-use, for the same browser only, and never goes anywhere the request names', async () => {
    const { rp, browser, tokens } = await federatedAtApp(on, 'on');
    const res = await signOutAtYihao(browser, rp, tokens.id_token!);
    const toUpstream = new URL(res.headers.get('location')!);
    const state = toUpstream.searchParams.get('state')!;
    const back = `${h.issuer}/federation/signed-out?state=${encodeURIComponent(state)}`;

    // Another browser with the state: refused (and the state is spent).
    const other = await new ScriptedBrowser().request(back);
    expect(other.status).toBe(400);
    expect(other.headers.get('location')).toBeNull();
    expect((await browser.request(back)).status).toBe(400);

    // A second sign-out round: the right browser gets through once, then never again.
    const second = await federatedAtApp(on, 'on');
    const res2 = await signOutAtYihao(second.browser, second.rp, second.tokens.id_token!);
    const state2 = new URL(res2.headers.get('location')!).searchParams.get('state')!;
    const back2 = `${h.issuer}/federation/signed-out?state=${encodeURIComponent(state2)}`;
    const withTarget = await second.browser.request(`${back2}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`);
    expect(withTarget.status).toBe(400);
    expect(withTarget.headers.get('location')).toBeNull();
    const { url } = await second.browser.follow(back2);
    expect(url.href).toBe(BYE);
    expect((await second.browser.request(back2)).status).toBe(400);
  });

  it.skipIf(!enabled)('without a kept ID token (a session from before the setting, or a token carrying the citizen ID) the upstream gets client_id and logout_hint, never the citizen ID', async () => {
    const { rp, browser, tokens } = await federatedAtApp(off, 'off');
    const definition = { name: 'off', issuer: off.issuer, clientId: off.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' };
    await h.yihao.federation.upstreams.put({ ...definition, signOutUpstream: true }, off.clientSecret);
    try {
      const res = await signOutAtYihao(browser, rp, tokens.id_token!);
      const toUpstream = new URL(res.headers.get('location')!);
      expect(toUpstream.origin).toBe(off.issuer);
      expect(toUpstream.searchParams.has('id_token_hint')).toBe(false);
      expect(toUpstream.searchParams.get('client_id')).toBe(off.clientId);
      expect(toUpstream.searchParams.get('logout_hint')).toBeTruthy();
      const { url } = await confirmUpstreamSignOut(browser, h, toUpstream);
      expect(url.href).toBe(BYE);
      expect(await upstreamSession(browser, h, off)).toBe('login_required');

      // An ID token that carries the citizen ID is never kept for a hint (it would travel in a URL),
      // and an upstream sub that is a citizen ID is no logout_hint either: client_id alone.
      const fresh = await federatedAtApp(off, 'off', (citizenId) => citizenId);
      expect(fresh.tokens.claims()!.sub).toBe(fresh.citizen.sub);
      const res2 = await signOutAtYihao(fresh.browser, fresh.rp, fresh.tokens.id_token!);
      const toUpstream2 = new URL(res2.headers.get('location')!);
      expect(toUpstream2.origin).toBe(off.issuer);
      expect([...toUpstream2.searchParams.keys()].sort()).toEqual(['client_id', 'post_logout_redirect_uri', 'state']);
      expect(toUpstream2.href).not.toContain(fresh.citizen.citizenId);
      expect((await confirmUpstreamSignOut(fresh.browser, h, toUpstream2)).url.href).toBe(BYE);
      expect(await upstreamSession(fresh.browser, h, off)).toBe('login_required');
    } finally {
      await h.yihao.federation.upstreams.put(definition, off.clientSecret);
    }
  });

  it.skipIf(!enabled)('a page refused at the way back says so in zh-CN by default and in English when asked', async () => {
    const zh = await fetch(`${h.issuer}/federation/signed-out?state=nothing`);
    expect(zh.status).toBe(400);
    expect(await zh.text()).toContain('您已退出一号');
    const en = await fetch(`${h.issuer}/federation/signed-out?state=nothing`, { headers: { 'accept-language': 'en' } });
    expect(await en.text()).toContain('You are signed out of Yihao');
  });
});
