import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';

const RESOURCE = 'https://records.example.gov.cn/api';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a relying party signs a citizen in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({
      backend: name,
      overrides: (c) => ({ ...c, resourceServers: { [RESOURCE]: { scope: 'records:read', accessTokenFormat: 'jwt', clients: ['*'] } } }),
    });
    const client = await h.client({
      name: '社保查询',
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      scope: 'openid profile phone',
      postLogoutRedirectUris: ['http://127.0.0.1:9/bye'],
    });
    rp = await relyingParty(h, client);
    citizen = await h.citizen({ phone: '13800138000' });
  });
  afterAll(async () => h?.close());

  async function signIn(browser = new ScriptedBrowser(), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid profile phone', state, nonce, ...extra });
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    return { tokens, browser };
  }

  it.skipIf(!enabled)('publishes each signing key with its public members only', async () => {
    const { keys } = (await (await fetch(`${h.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    for (const key of keys) {
      expect(key.use).toBe('sig');
      expect(typeof key.kid).toBe('string');
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'priv']) expect(key).not.toHaveProperty(member);
    }
    const ec = keys.find((k) => k.alg === 'ES256')!;
    expect(Object.keys(ec).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it.skipIf(!enabled)('completes code + PKCE and issues a signed ID token with acr, amr, auth_time and channel', async () => {
    const { tokens } = await signIn();
    const idToken = tokens.id_token!;
    const jwks = createRemoteJWKSet(new URL(`${h.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer: h.issuer, audience: rp.clientMetadata().client_id });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe(citizen.sub);
    expect(payload.acr).toBe('urn:yihao:loa:1');
    expect(payload.amr).toEqual(['pwd']);
    expect(payload.channel).toBe('web');
    expect(typeof payload.auth_time).toBe('number');
    // The ID number itself never appears in a token.
    expect(JSON.stringify(payload)).not.toContain(citizen.citizenId);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(citizen.sub);
  });

  it.skipIf(!enabled)('serves userinfo with profile claims derived from the citizen ID and the phone', async () => {
    const { tokens } = await signIn();
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, citizen.sub);
    expect(info.name).toBe(citizen.name);
    const id = citizen.citizenId;
    expect(info.birthdate).toBe(`${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`);
    expect(info.gender).toBe(Number(id[16]) % 2 === 1 ? 'male' : 'female');
    expect(info.phone_number).toBe('+8613800138000');
  });

  it.skipIf(!enabled)('rotates refresh tokens, refuses a reused one and revokes the grant', async () => {
    const { tokens } = await signIn();
    const first = tokens.refresh_token!;
    const second = await oidc.refreshTokenGrant(rp, first);
    expect(second.refresh_token).toBeDefined();
    expect(second.refresh_token).not.toBe(first);
    const refreshedId = await jwtVerify(second.id_token!, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)));
    expect(refreshedId.payload.channel).toBe('web');
    expect(refreshedId.payload.acr).toBe('urn:yihao:loa:1');

    await expect(oidc.refreshTokenGrant(rp, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reuse revoked the whole grant: the rotated token and the access token are dead too.
    await expect(oidc.refreshTokenGrant(rp, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const introspected = await oidc.tokenIntrospection(rp, second.access_token);
    expect(introspected.active).toBe(false);
  });

  it.skipIf(!enabled)('issues client_credentials tokens for a resource indicator', async () => {
    const cc = await oidc.clientCredentialsGrant(rp, { scope: 'records:read', resource: RESOURCE });
    expect(cc.token_type.toLowerCase()).toBe('bearer');
    const { payload } = await jwtVerify(cc.access_token, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)), { issuer: h.issuer, audience: RESOURCE });
    expect(payload.scope).toBe('records:read');
    expect(decodeProtectedHeader(cc.access_token).typ).toBe('at+jwt');
    await expect(oidc.clientCredentialsGrant(rp, { scope: 'records:read', resource: 'https://unknown.example/' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it.skipIf(!enabled)('introspects and revokes tokens', async () => {
    const { tokens } = await signIn();
    const active = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: citizen.sub, client_id: rp.clientMetadata().client_id });
    await oidc.tokenRevocation(rp, tokens.access_token);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await oidc.tokenRevocation(rp, tokens.refresh_token!);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('logs out through the confirmation page; a later prompt=none gets login_required', async () => {
    const { tokens, browser } = await signIn();
    const end = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:9/bye', ui_locales: 'en' });
    const page = await browser.request(end);
    const html = await page.text();
    expect(html).toContain('Sign out');
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const action = new URL(/action="([^"]+)"/.exec(html)![1]!, h.issuer);
    const { url } = await browser.follow(action, { form: { xsrf, logout: 'yes' } });
    expect(url.href).toBe('http://127.0.0.1:9/bye');

    const verifier = oidc.randomPKCECodeVerifier();
    const silent = await authorizationUrl(rp, verifier, { scope: 'openid', prompt: 'none' });
    const back = await browser.follow(silent);
    expect(back.url.searchParams.get('error')).toBe('login_required');
  });

  it.skipIf(!enabled)('keeps the SSO session: a second authorization needs no password', async () => {
    const { browser } = await signIn();
    const verifier = oidc.randomPKCECodeVerifier();
    const again = await authorizationUrl(rp, verifier, { scope: 'openid profile phone', prompt: 'none' });
    const back = await browser.follow(again);
    expect(back.url.searchParams.get('code')).toBeTruthy();
  });
});
