/**
 * Token binding against a hostile relying party or a thief of tokens (from a review, all holding):
 * DPoP-bound refresh tokens without their key, a PAR request_uri used twice, and one client
 * introspecting or revoking another client's tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const FAPI_REDIRECT = 'https://rp.example.gov.cn/cb';
let h: Harness;
let citizen: { citizenId: string; password: string; sub: string };

const signIn = (url: URL) => scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });

async function fapi() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${Math.random().toString(36).slice(2)}`;
  const made = await h.client({ profile: 'fapi2', redirectUris: [FAPI_REDIRECT], jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, use: 'sig' }] }, scope: 'openid profile', grantTypes: ['authorization_code', 'refresh_token'] });
  const rp = await oidc.discovery(new URL(h.issuer), made.client_id, undefined, oidc.PrivateKeyJwt({ key: privateKey, kid }), { execute: [oidc.allowInsecureRequests] });
  return rp;
}

describe.skipIf(!(pgAvailable && redisAvailable))('token binding against a hostile relying party (PostgreSQL + Redis)', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    h = await startHarness({ backend: 'postgres+redis' });
    const citizenId = syntheticCitizenId({ seq: 500 + Math.floor(Math.random() * 100) });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name: '张三', password });
    citizen = { citizenId, password, sub: account.sub };
  }, 180_000);
  afterAll(async () => h?.close());

  it('a PAR request_uri of a fapi2 client works once only', async () => {
    const rp = await fapi();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = await signIn(url);
    expect(callback.searchParams.get('code')).toBeTruthy();
    // The same request_uri again (replayed by whoever saw the front-channel URL).
    const again = await fetch(url, { redirect: 'manual' });
    const loc = again.headers.get('location') ?? '';
    expect(loc).not.toContain('code=');
    expect(loc.startsWith('/interaction/')).toBe(false);
  });

  it('refuses a FAPI 2.0 client\'s refresh token without its DPoP proof', async () => {
    const rp = await fapi();
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }, { DPoP: dpop });
    const tokens = await oidc.authorizationCodeGrant(rp, await signIn(url), { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
  });

  it('a public DPoP client: a stolen refresh token is useless without its key or with another key', async () => {
    const made = await h.client({ public: true, dpopRequired: true, scope: 'openid profile', grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await oidc.discovery(new URL(h.issuer), made.client_id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    const verifier = oidc.randomPKCECodeVerifier();
    const tokens = await oidc.authorizationCodeGrant(rp, await signIn(await authorizationUrl(rp, verifier)), { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
    expect(tokens.refresh_token).toBeTruthy();
    const thief = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP: thief }))).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    // The owner still refreshes.
    const ok = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(ok.access_token).toBeTruthy();
    // Userinfo with the DPoP-bound token as Bearer: refused.
    const bare = await fetch(`${h.issuer}/me`, { headers: { authorization: `Bearer ${ok.access_token}` } });
    expect(bare.status).toBe(401);
  });

  it('one client can neither introspect nor revoke another client\'s tokens', async () => {
    const a = await h.client({ scope: 'openid profile', grantTypes: ['authorization_code', 'refresh_token'] });
    const b = await h.client({ scope: 'openid profile', grantTypes: ['authorization_code', 'refresh_token'] });
    const rpA = await relyingParty(h, a);
    const rpB = await relyingParty(h, b);
    const verifier = oidc.randomPKCECodeVerifier();
    const tokens = await oidc.authorizationCodeGrant(rpA, await signIn(await authorizationUrl(rpA, verifier)), { pkceCodeVerifier: verifier });
    const seen = await oidc.tokenIntrospection(rpB, tokens.access_token);
    expect(seen.active).toBe(false);
    const seenRt = await oidc.tokenIntrospection(rpB, tokens.refresh_token!);
    expect(seenRt.active).toBe(false);
    await oidc.tokenRevocation(rpB, tokens.refresh_token!).catch(() => undefined);
    await oidc.tokenRevocation(rpB, tokens.access_token).catch(() => undefined);
    expect((await oidc.tokenIntrospection(rpA, tokens.access_token)).active).toBe(true);
    const refreshed = await oidc.refreshTokenGrant(rpA, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    void REDIRECT;
  });
});
