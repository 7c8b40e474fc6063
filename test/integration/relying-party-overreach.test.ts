/**
 * A malicious or curious relying party (a registered government app) trying to get more than it
 * was granted: the full ID number without a release policy, other apps' tokens and consent, a level
 * the login never reached, pairwise subjects joined across apps, redirect URIs that are almost the
 * registered one, its token at Yihao's own APIs. Each test states the secure behaviour; all held
 * when a review wrote them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn, formAction } from '../support/scripted-browser.js';
import { authorizationUrl, oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { signInAllowing } from '../support/consent-walk.js';
import type { ClientInput } from '../../src/clients/index.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA3 = 'urn:yihao:loa:3';

describe('a relying party reaching for more than it was granted', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  type Citizen = Awaited<ReturnType<Harness['citizen']>>;

  async function signIn(input: Partial<ClientInput>, extra: Record<string, string> = {}, who?: Citizen, browser = new ScriptedBrowser(), redirect = REDIRECT) {
    const citizen = who ?? (await h.citizen());
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [redirect], ...input });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope: 'openid', redirect_uri: redirect, ...extra }), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, { redirect_uri: redirect });
    return { citizen, client, rp, tokens, browser };
  }

  async function introspect(client: { client_id: string; client_secret?: string }, token: string) {
    const res = await fetch(`${h.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('gives two pairwise apps of different sectors, signed in from one browser, different sid values (no correlation by sid)', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    // sid is in the ID token for an app with back-channel logout (it needs it to match logout tokens).
    const a = await signIn({ subjectType: 'pairwise', backchannelLogoutUri: 'http://127.0.0.1:9/logout' }, {}, citizen, browser);
    const b = await signIn({ subjectType: 'pairwise', backchannelLogoutUri: 'http://localhost:9/logout' }, {}, citizen, browser, 'http://localhost:9/cb');
    const ca = a.tokens.claims()!;
    const cb = b.tokens.claims()!;
    expect(ca.sub).not.toBe(cb.sub);
    expect(ca.sid).toBeTruthy();
    expect(ca.sid).not.toBe(cb.sid);
  });

  it("introspection: an app cannot read another app's token, and its own shows only its pairwise sub", async () => {
    const citizen = await h.citizen();
    const a = await signIn({ subjectType: 'pairwise' }, {}, citizen);
    const b = await h.client({});
    const own = await introspect(a.client, a.tokens.access_token);
    expect(own.body.active).toBe(true);
    expect(own.body.sub).toBe(a.tokens.claims()!.sub);
    expect(JSON.stringify(own.body)).not.toContain(citizen.sub);
    expect(JSON.stringify(own.body)).not.toContain(citizen.citizenId);
    const other = await introspect(b, a.tokens.access_token);
    expect(other.body.active).toBe(false);
    expect(JSON.stringify(other.body)).not.toContain(a.tokens.claims()!.sub);
  });

  it("cannot refresh or revoke another app's tokens, nor redeem its code", async () => {
    const a = await signIn({ scope: 'openid offline_access' }, { scope: 'openid offline_access', prompt: 'consent' });
    expect(a.tokens.refresh_token).toBeTruthy();
    const b = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' });
    const rpB = await relyingParty(h, b);
    expect(await oauthError(oidc.refreshTokenGrant(rpB, a.tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // B "revokes" A's tokens: the answer may be 200 (RFC 7009), but A's tokens must still work.
    await oidc.tokenRevocation(rpB, a.tokens.access_token).catch(() => undefined);
    await oidc.tokenRevocation(rpB, a.tokens.refresh_token!).catch(() => undefined);
    const info = await oidc.fetchUserInfo(a.rp, a.tokens.access_token, a.tokens.claims()!.sub);
    expect(info.sub).toBe(a.tokens.claims()!.sub);
    const refreshed = await oidc.refreshTokenGrant(a.rp, a.tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
  });

  it("rejects a code issued to app A when app B redeems it (code injection)", async () => {
    const citizen = await h.citizen();
    const a = await h.client({});
    const b = await h.client({});
    const rpA = await relyingParty(h, a);
    const rpB = await relyingParty(h, b);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rpA, verifier, { scope: 'openid' }), { identifier: citizen.citizenId, password: citizen.password });
    const code = callback.searchParams.get('code')!;
    const res = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${b.client_id}:${b.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_grant');
    void rpB;
  });

  it('does not widen scope on refresh to a scope registered but not consented', async () => {
    const citizen = await h.citizen({ phone: '13800007777' });
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone citizen_id offline_access', citizenIdRelease: 'full' });
    const rp = await relyingParty(h, client);
    const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid offline_access', prompt: 'consent' });
    const sub = tokens.claims()!.sub;
    const wider = oidc.refreshTokenGrant(rp, tokens.refresh_token!, { scope: 'openid offline_access phone citizen_id' });
    const outcome = await wider.then(
      (t) => ({ ok: true as const, t }),
      (e) => ({ ok: false as const, e }),
    );
    if (outcome.ok) {
      expect(outcome.t.scope?.split(' ')).not.toContain('phone');
      expect(outcome.t.scope?.split(' ')).not.toContain('citizen_id');
      const info = await oidc.fetchUserInfo(rp, outcome.t.access_token, sub);
      expect(info.phone_number).toBeUndefined();
      expect(info.citizen_id).toBeUndefined();
    }
    // The claims parameter on the refresh does not help either.
    const viaClaims = await oidc
      .refreshTokenGrant(rp, tokens.refresh_token!, { claims: JSON.stringify({ id_token: { citizen_id: { essential: true }, phone_number: null } }) })
      .catch(() => undefined);
    if (viaClaims) {
      expect(viaClaims.claims()?.citizen_id).toBeUndefined();
      expect(viaClaims.claims()?.phone_number).toBeUndefined();
      const info = await oidc.fetchUserInfo(rp, viaClaims.access_token, sub);
      expect(info.citizen_id).toBeUndefined();
    }
  });

  it('never states a higher acr than the login reached, whatever the claims parameter says', async () => {
    const citizen = await h.citizen();
    const client = await h.client({});
    const rp = await relyingParty(h, client);
    const asks: Record<string, string>[] = [
      { acr_values: LOA1, claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA3] } } }) },
      { claims: JSON.stringify({ id_token: { acr: { essential: true, value: LOA3 } } }) },
      { acr_values: `${LOA3} ${LOA1}` },
      { acr_values: 'urn:yihao:loa:9' },
    ];
    for (const extra of asks) {
      const verifier = oidc.randomPKCECodeVerifier();
      let callback: URL;
      try {
        callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid', ...extra }), { identifier: citizen.citizenId, password: citizen.password });
      } catch {
        continue; // stepped up (a page asking for more): no token, fine
      }
      if (!callback.searchParams.get('code')) continue;
      const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
      expect(tokens.claims()!.acr, JSON.stringify(extra)).toBe(LOA1);
      const info = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
      expect(info.acr ?? LOA1).toBe(LOA1);
      const intro = await introspect(client, tokens.access_token);
      expect(intro.body.acr).toBe(LOA1);
    }
  });

  it('max_age=0 makes the citizen sign in again instead of reusing the session', async () => {
    const citizen = await h.citizen();
    const { client, rp, browser } = await signIn({});
    void client;
    // Signed in with `citizen`? signIn made its own citizen; sign in this browser at a second app as that citizen.
    const verifier = oidc.randomPKCECodeVerifier();
    const first = await browser.follow(await authorizationUrl(rp, verifier, { scope: 'openid', max_age: '0' }), {}, h.issuer);
    expect(first.url.origin).toBe(h.issuer);
    const html = await first.res.text();
    expect(formAction(html, '/login')).toBeTruthy();
    // prompt=none with max_age=0 gives no code.
    const silent = await browser.follow(await authorizationUrl(rp, verifier, { scope: 'openid', max_age: '0', prompt: 'none' }), {}, h.issuer);
    expect(silent.url.origin).not.toBe(h.issuer);
    expect(silent.url.searchParams.get('code')).toBeNull();
    expect(silent.url.searchParams.get('error')).toBe('login_required');
    void citizen;
  });

  it('gives app B of the same department no consent the citizen gave app A', async () => {
    const citizen = await h.citizen({ phone: '13800008888' });
    const browser = new ScriptedBrowser();
    const a = await h.client({ scope: 'openid profile phone' });
    const b = await h.client({ scope: 'openid profile phone' });
    const first = await signInAllowing(h, a, citizen, { scope: 'openid profile phone' }, browser);
    expect(first.consentPages).toHaveLength(1);
    const second = await signInAllowing(h, b, citizen, { scope: 'openid profile phone' }, browser);
    expect(second.consentPages).toHaveLength(1);
  });

  it('sends the code to no redirect URI but the exact registered one', async () => {
    const client = await h.client({ redirectUris: ['https://app.example.gov.cn/cb'] });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    // A signed-in browser, so that a silent code would be issued at once.
    await signIn({}, {}, citizen, browser);
    for (const bad of [
      'https://app.example.gov.cn/cb/evil',
      'https://app.example.gov.cn/cbevil',
      'https://app.example.gov.cn:8443/cb',
      'https://APP.example.gov.cn/cb',
      'https://app.example.gov.cn/CB',
      'https://app.example.gov.cn/cb?x=1',
      'https://app.example.gov.cn/cb#x',
      'https://app.example.gov.cn/cb/../evil',
      'https://app.example.gov.cn.evil.cn/cb',
      'https://evil@app.example.gov.cn/cb',
      'http://app.example.gov.cn/cb',
      'https://app.example.gov.cn/cb/',
    ]) {
      const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', redirect_uri: bad });
      const { res, url: at } = await browser.follow(url, {}, h.issuer);
      const location = at.origin === h.issuer ? res.headers.get('location') : at.href;
      expect(at.origin === h.issuer || !at.href.startsWith(new URL(bad).origin), `${bad} -> ${at.href}`).toBe(true);
      expect(location ?? '', bad).not.toContain('code=');
      if (at.origin !== h.issuer) expect(at.href, bad).not.toContain('code=');
    }
  });

  it('a native public client gets no code on another host or scheme than its loopback redirect', async () => {
    const client = await h.client({ public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1/cb'] });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    await signIn({}, {}, citizen, browser);
    for (const bad of ['http://localhost.evil.cn/cb', 'http://127.0.0.1.evil.cn:80/cb', 'http://127.0.0.1:1234/other', 'http://10.0.0.1/cb']) {
      const { url: at } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', redirect_uri: bad }), {}, h.issuer);
      expect(at.searchParams.get('code'), `${bad} -> ${at.href}`).toBeNull();
    }
  });

  it("refuses an app's citizen token at Yihao's own APIs (admin, mobile, credentials)", async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const admin = await fetch(`${h.issuer}/admin/api/v1/me`, { headers: bearer });
    expect(admin.status).toBe(401);
    const mobile = await fetch(`${h.issuer}/mobile/device-keys`, { headers: bearer });
    expect([400, 401, 403]).toContain(mobile.status);
    const credential = await fetch(`${h.issuer}/credentials/credential`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ credential_configuration_id: 'identity' }) });
    expect([400, 401, 403]).toContain(credential.status);
    expect(await credential.text()).not.toMatch(/"credential"\s*:/);
  });

  it('cannot ask for a token for the credential issuer or the admin API as a resource', async () => {
    const citizen = await h.citizen();
    const client = await h.client({});
    const rp = await relyingParty(h, client);
    for (const resource of [h.issuer, `${h.issuer}/admin/api/v1`]) {
      const verifier = oidc.randomPKCECodeVerifier();
      const browser = new ScriptedBrowser();
      let callback: URL | undefined;
      try {
        callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope: 'openid', resource }), { identifier: citizen.citizenId, password: citizen.password });
      } catch {
        continue;
      }
      if (!callback.searchParams.get('code')) {
        expect(callback.searchParams.get('error')).toBeTruthy();
        continue;
      }
      const got = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, { resource }).catch((e: unknown) => e as Error);
      if (got instanceof Error) continue;
      const intro = await introspect(client, got.access_token);
      expect(intro.body.aud ?? null, resource).not.toBe(resource);
    }
  });

  it('a public client gets no client_credentials, token exchange or introspection of others', async () => {
    await expect(h.client({ public: true, grantTypes: ['client_credentials'] })).rejects.toBeTruthy();
    // Registration takes a public client with the token-exchange grant; the grant itself must refuse it.
    const pubTx = await h.client({ public: true, grantTypes: ['authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange' as never] }).catch(() => undefined);
    if (pubTx) {
      const tx = await fetch(`${h.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: pubTx.client_id, grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'x', subject_token_type: 'urn:yihao:token-type:citizen-id', actor_token: 'y', actor_token_type: 'urn:ietf:params:oauth:token-type:access_token' }).toString(),
      });
      expect(tx.status).toBeGreaterThanOrEqual(400);
      expect(((await tx.json()) as { error: string }).error).toBe('unauthorized_client');
    }
    const pub = await h.client({ public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1/cb'] });
    const a = await signIn({});
    const res = await fetch(`${h.issuer}/token/introspection`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: a.tokens.access_token, client_id: pub.client_id }).toString() });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    expect(body.active ?? false).toBe(false);
    expect(body.sub).toBeUndefined();
  });

  it('releases no citizen_id, nor its birth date, to a none/masked app through the ID token, userinfo or introspection', async () => {
    const citizen = await h.citizen();
    const id = citizen.citizenId;
    for (const citizenIdRelease of ['none', 'masked', 'pseudonym'] as const) {
      const claims = JSON.stringify({
        id_token: { citizen_id: { essential: true }, verified_claims: { claims: { citizen_id: null, birthdate: null } } },
        userinfo: { citizen_id: { essential: true, value: id }, verified_claims: { verification: { trust_framework: null }, claims: { citizen_id: null } } },
      });
      const client = await h.client({ scope: 'openid citizen_id', citizenIdRelease, grantTypes: ['authorization_code', 'refresh_token'] });
      const rp = await relyingParty(h, client);
      const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid citizen_id', claims });
      const idToken = JSON.stringify(decodeJwt(tokens.id_token!));
      const info = JSON.stringify(await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub));
      const intro = JSON.stringify((await introspect(client, tokens.access_token)).body);
      for (const where of [idToken, info, intro]) {
        expect(where, citizenIdRelease).not.toContain(id);
        expect(where, citizenIdRelease).not.toContain(id.slice(6, 14));
        expect(where, citizenIdRelease).not.toContain(`${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`);
      }
    }
  });

  it('gives nothing after the citizen withdrew consent for the app in the portal', async () => {
    const citizen = await h.citizen({ phone: '13800009999' });
    const client = await h.client({ scope: 'openid profile phone offline_access', grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await relyingParty(h, client);
    const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid profile phone offline_access', prompt: 'consent' });
    const sub = tokens.claims()!.sub;
    const grants = (await h.yihao.services.accountIndex.list(citizen.sub)).filter((x) => x.model === 'Grant');
    expect(grants.length).toBeGreaterThan(0);
    for (const g of grants) await h.yihao.signOut.revokeGrant(g.id);
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(rp, tokens.access_token, sub)).rejects.toBeTruthy();
    expect((await introspect(client, tokens.access_token)).body.active).toBe(false);
  });

  it('asks again before releasing a claim named in the claims parameter that the earlier consent did not cover', async () => {
    const citizen = await h.citizen({ phone: '13800006666' });
    const client = await h.client({ scope: 'openid profile phone' });
    const rp = await relyingParty(h, client);
    const first = await signInAllowing(h, client, citizen, { scope: 'openid profile' });
    expect(first.consentPages).toHaveLength(1);
    expect(first.consentPages[0]).not.toContain('手机号码');
    // A new browser, the same app, now naming phone_number in the ID token and userinfo.
    const second = await signInAllowing(h, client, citizen, { scope: 'openid profile', claims: JSON.stringify({ id_token: { phone_number: { essential: true } }, userinfo: { phone_number: null } }) });
    const info = await oidc.fetchUserInfo(rp, second.tokens.access_token, second.tokens.claims()!.sub);
    if (second.consentPages.length === 0) {
      expect(second.tokens.claims()!.phone_number).toBeUndefined();
      expect(info.phone_number).toBeUndefined();
    } else {
      expect(second.consentPages.join('')).toContain('手机号码');
    }
  });

  it('a pairwise app does not learn the public sub or another app\'s sub from userinfo or logout-relevant claims', async () => {
    const citizen = await h.citizen();
    const a = await signIn({ subjectType: 'pairwise', scope: 'openid profile' }, { scope: 'openid profile' }, citizen);
    const info = await oidc.fetchUserInfo(a.rp, a.tokens.access_token, a.tokens.claims()!.sub);
    const everything = JSON.stringify([info, decodeJwt(a.tokens.id_token!), (await introspect(a.client, a.tokens.access_token)).body]);
    expect(everything).not.toContain(citizen.sub);
  });
});
