/**
 * The FAPI 2.0 Security Profile as a per-client option (issue 13). A client registered with
 * `yihao client create --profile fapi2` signs a citizen in with openid-client as a FAPI 2.0 client
 * would: PAR, S256 PKCE, DPoP and private_key_jwt. Each rule the profile adds is then broken on its
 * own and must be refused, and a client outside the profile must work as before. The CLI cases run
 * on SQLite; the protocol cases on SQLite and on PostgreSQL + Redis.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { storedTokenId } from '../support/token-ids.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import type { ClientInput } from '../../src/clients/index.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { buildCli, hostedYihao, type CliRun } from '../support/yihao-cli.js';
import { operator } from '../support/admin-operators.js';

/** FAPI 2.0 needs https redirect URIs; nothing listens here, the tests read the redirect. */
const FAPI_REDIRECT = 'https://rp.example.gov.cn/cb';

let h: Harness;
let dir: string;
let citizen: Awaited<ReturnType<Harness['citizen']>>;

const yihao = (args: string[]): Promise<CliRun> => hostedYihao(args, h.env, '', 60_000);

interface ClientKey {
  privateKey: CryptoKey;
  kid: string;
  jwks: { keys: JWK[] };
  file: string;
}

/** A key pair of the client's (ES256, or an RSA key as a PS256 one) and a JWK Set file of its public half. */
async function clientKey(name: string, alg: 'ES256' | 'PS256' = 'ES256'): Promise<ClientKey & { privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${name}-1`;
  // No `alg` on the key: an RSA key then verifies RS256 as well as PS256, so that the profile's refusal shows.
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, use: 'sig' }] };
  const file = join(dir, `${name}.jwks.json`);
  writeFileSync(file, JSON.stringify(jwks));
  return { privateKey, privateJwk: await exportJWK(privateKey), kid, jwks, file };
}

/** openid-client as the FAPI 2.0 client: private_key_jwt with this key. */
const fapiClient = (clientId: string, key: Pick<ClientKey, 'privateKey' | 'kid'>) =>
  oidc.discovery(new URL(h.issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }), { execute: [oidc.allowInsecureRequests] });

/** A fapi2 client registered through the registry (the CLI's own path is tested below). */
async function registered(name: string, grantTypes: ClientInput['grantTypes'] = ['authorization_code', 'refresh_token']) {
  const key = await clientKey(name);
  const made = await h.client({ profile: 'fapi2', redirectUris: [FAPI_REDIRECT], jwks: key.jwks, scope: 'openid profile', grantTypes });
  return { clientId: made.client_id, key, made };
}

/** PAR with S256 PKCE (and DPoP, when given): the authorization URL and its verifier. */
async function pushed(rp: oidc.Configuration, dpop?: oidc.DPoPHandle, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const params = { redirect_uri: FAPI_REDIRECT, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra };
  const url = await oidc.buildAuthorizationUrlWithPAR(rp, params, dpop ? { DPoP: dpop } : undefined);
  return { url, verifier };
}

const signIn = (url: URL) => scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });

/**
 * What a FAPI 2.0 client does, end to end: PAR with PKCE and DPoP, a real sign-in, the code for
 * DPoP-bound tokens with private_key_jwt, userinfo, refreshes. Checks every rule it meets on the way.
 */
async function signInAsFapiClient(rp: oidc.Configuration): Promise<void> {
  const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair('ES256'));
  const { url, verifier } = await pushed(rp, dpop);
  expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  const callback = await signIn(url);
  // RFC 9207: the authorization response names its issuer.
  expect(callback.searchParams.get('iss')).toBe(h.issuer);

  // The code lives 60 seconds, although the provider's setting says 300.
  const code = (await new h.yihao.services.Adapter('AuthorizationCode').find(storedTokenId(h, callback.searchParams.get('code')!))) as { exp: number; iat: number };
  expect(code.exp - code.iat).toBe(60);

  const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
  expect(tokens.token_type.toLowerCase()).toBe('dpop');
  expect(tokens.claims()!.sub).toBe(citizen.sub);
  expect((await oidc.fetchUserInfo(rp, tokens.access_token, citizen.sub, { DPoP: dpop })).sub).toBe(citizen.sub);
  // Sender-constrained: without the DPoP proof the token is useless.
  const bare = await fetch(`${h.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  expect(bare.status).toBe(401);

  // Refresh tokens are not rotated: the same one works again.
  const refreshToken = tokens.refresh_token!;
  const first = await oidc.refreshTokenGrant(rp, refreshToken, undefined, { DPoP: dpop });
  expect(first.refresh_token ?? refreshToken).toBe(refreshToken);
  const second = await oidc.refreshTokenGrant(rp, refreshToken, undefined, { DPoP: dpop });
  expect(second.token_type.toLowerCase()).toBe('dpop');
}

/** Longer than the profile allows, so that the 60-second cap on its codes shows. */
const longCodes = (c: Harness['config']) => ({ ...c, ttl: { ...c.ttl, authorizationCodeSeconds: 300 } });

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'yihao-fapi2-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('yihao client create --profile fapi2 (sqlite)', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    buildCli();
    h = await startHarness({ backend: 'sqlite', overrides: longCodes });
    citizen = await h.citizen();
  }, 180_000);
  afterAll(async () => h?.close());

  it('registers a client with yihao client create --profile fapi2; it signs a citizen in with PAR, PKCE, DPoP and private_key_jwt', async () => {
    const key = await clientKey('cli');
    const run = await yihao(['client', 'create', '--profile', 'fapi2', '--name', '电子税务局', '--redirect-uri', FAPI_REDIRECT, '--jwks-file', key.file, '--scope', 'openid profile', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const made = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(made).toMatchObject({
      security_profile: 'fapi2',
      require_pushed_authorization_requests: true,
      dpop_bound_access_tokens: true,
      token_endpoint_auth_method: 'private_key_jwt',
      response_types: ['code'],
    });
    expect(made).not.toHaveProperty('client_secret');

    await signInAsFapiClient(await fapiClient(made.client_id as string, key));
  });

  it('refuses, at registration, a fapi2 client that contradicts the profile, saying why', async () => {
    const key = await clientKey('bad');
    const base = ['client', 'create', '--profile', 'fapi2', '--name', 'Bad', '--json'];
    const cases: [string[], RegExp][] = [
      [['--redirect-uri', FAPI_REDIRECT], /private_key_jwt: give --jwks-file or --jwks-uri/],
      [['--redirect-uri', 'http://rp.example.gov.cn/cb', '--jwks-file', key.file], /https redirect URIs/],
      [['--redirect-uri', FAPI_REDIRECT, '--public'], /confidential clients only/],
      [['--kind', 'kiosk', '--jwks-file', key.file], /allows only the authorization_code, refresh_token, client_credentials grants/],
      [['--redirect-uri', FAPI_REDIRECT, '--jwks-file', key.file, '--grant-type', 'urn:ietf:params:oauth:grant-type:jwt-bearer'], /not urn:ietf:params:oauth:grant-type:jwt-bearer/],
    ];
    for (const [args, message] of cases) {
      const run = await yihao([...base, ...args]);
      expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).toBe('');
      expect(run.code).toBe(2);
    }
    const unknown = await yihao(['client', 'create', '--profile', 'fapi1', '--name', 'Bad', '--redirect-uri', FAPI_REDIRECT]);
    expect(unknown.stderr).toMatch(/profile must be one of fapi2/);
    expect(unknown.code).toBe(2);
  });
});

describe.each(backends)('FAPI 2.0 Security Profile per client ($name)', { timeout: 120_000 }, ({ name, enabled }) => {
  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: longCodes });
    citizen = await h.citizen();
  }, 180_000);
  afterAll(async () => h?.close());

  it.runIf(enabled)('signs a citizen in as a FAPI 2.0 client registered through the registry', async () => {
    const { clientId, key } = await registered('registry');
    await signInAsFapiClient(await fapiClient(clientId, key));
  });

  it.runIf(enabled)('refuses a fapi2 client an authorization request that did not come through PAR', async () => {
    const { clientId, key } = await registered('nopar');
    const rp = await fapiClient(clientId, key);
    const verifier = oidc.randomPKCECodeVerifier();
    const front = oidc.buildAuthorizationUrl(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const res = await fetch(front, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(FAPI_REDIRECT);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/pushed authorization request/i);
    expect(location.searchParams.has('code')).toBe(false);
  });

  it.runIf(enabled)('refuses a fapi2 client tokens without a DPoP proof', async () => {
    const { clientId, key } = await registered('nodpop');
    const rp = await fapiClient(clientId, key);
    const { url, verifier } = await pushed(rp);
    const callback = await signIn(url);
    expect(await oauthError(oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }))).toMatchObject({ error: 'invalid_grant' });
    // The same code with a proof goes through: the proof was what was missing.
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
  });

  it.runIf(enabled)('refuses from a fapi2 client plain PKCE, a request without PKCE, and one without redirect_uri', async () => {
    const { clientId, key } = await registered('plain');
    const rp = await fapiClient(clientId, key);
    const plain = await oauthError(pushed(rp, undefined, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }));
    expect(plain.error).toBe('invalid_request');
    const none = await oauthError(oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid' }));
    expect(none).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/PKCE/) });
    // Every other client may leave out its one registered redirect URI; a FAPI 2.0 client may not.
    const challenge = { scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' };
    const noRedirect = await oauthError(oidc.buildAuthorizationUrlWithPAR(rp, challenge));
    expect(noRedirect).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/redirect_uri/) });
  });

  it.runIf(enabled)('refuses a fapi2 client that authenticates with a client secret', async () => {
    // Registration never gives it one (no keys: refused, below); a secret presented anyway is refused.
    const { clientId } = await registered('basic');
    const rp = await oidc.discovery(new URL(h.issuer), clientId, 'guessed-secret', oidc.ClientSecretBasic('guessed-secret'), { execute: [oidc.allowInsecureRequests] });
    expect(await oauthError(oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }))).toMatchObject({
      error: 'invalid_client',
    });
    await expect(h.client({ profile: 'fapi2', redirectUris: [FAPI_REDIRECT] })).rejects.toThrow(/private_key_jwt/);
  });

  it.runIf(enabled)('refuses client assertions and DPoP proofs signed with RS256 from a fapi2 client, and takes PS256', async () => {
    const key = await clientKey('rsa', 'PS256');
    const made = await h.client({ profile: 'fapi2', redirectUris: [FAPI_REDIRECT], jwks: key.jwks, scope: 'openid', grantTypes: ['authorization_code', 'client_credentials'] });
    // The same RSA key, signing RS256 (PKCS #1 v1.5): a valid signature, of an algorithm the profile excludes.
    const rs256 = await fapiClient(made.client_id, { privateKey: (await importJWK(key.privateJwk, 'RS256')) as CryptoKey, kid: key.kid });
    const dpop = (rp: oidc.Configuration, alg: 'ES256' | 'RS256') => oidc.randomDPoPKeyPair(alg).then((k) => oidc.getDPoPHandle(rp, k));
    expect(await oauthError(oidc.clientCredentialsGrant(rs256, undefined, { DPoP: await dpop(rs256, 'ES256') }))).toMatchObject({ error: 'invalid_client' });

    const ps256 = await fapiClient(made.client_id, key);
    expect(await oauthError(oidc.clientCredentialsGrant(ps256, undefined, { DPoP: await dpop(ps256, 'RS256') }))).toMatchObject({ error: 'invalid_dpop_proof' });
    const ok = await oidc.clientCredentialsGrant(ps256, undefined, { DPoP: await dpop(ps256, 'ES256') });
    expect(ok.token_type.toLowerCase()).toBe('dpop');
  });

  it.runIf(enabled)('refuses a client assertion whose audience is the token endpoint rather than the issuer', async () => {
    const { clientId, key } = await registered('aud', ['authorization_code', 'client_credentials']);
    const { token_endpoint } = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
    const rp = await oidc.discovery(
      new URL(h.issuer),
      clientId,
      undefined,
      oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }, { [oidc.modifyAssertion]: (_header, payload) => void (payload.aud = token_endpoint) }),
      { execute: [oidc.allowInsecureRequests] },
    );
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    expect(await oauthError(oidc.clientCredentialsGrant(rp, undefined, { DPoP: dpop }))).toMatchObject({ error: 'invalid_client' });
    // The issuer as the audience (openid-client's own choice) goes through.
    const right = await fapiClient(clientId, key);
    expect((await oidc.clientCredentialsGrant(right, undefined, { DPoP: oidc.getDPoPHandle(right, await oidc.randomDPoPKeyPair()) })).token_type.toLowerCase()).toBe('dpop');
  });

  it.runIf(enabled)('refuses to serve a stored fapi2 client whose metadata was weakened', async () => {
    const { clientId, key } = await registered('weakened');
    const store = new h.yihao.services.Adapter('Client');
    const stored = (await store.find(clientId))!;
    await store.upsert(clientId, { ...stored, require_pushed_authorization_requests: false } as never);
    const rp = await fapiClient(clientId, key);
    const res = await fetch(oidc.buildAuthorizationUrl(rp, { redirect_uri: FAPI_REDIRECT, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' }), { redirect: 'manual' });
    // Not sent back to the client with a code: oidc-provider cannot build the client, so it is unknown.
    expect(res.headers.get('location') ?? '').not.toContain('code=');
    expect(res.status).toBe(400);
  });

  it.runIf(enabled)("refuses, in oidc-provider's own client validation, fapi2 metadata that breaks any rule of the profile", async () => {
    const { clientId } = await registered('rules');
    const stored = (await new h.yihao.services.Adapter('Client').find(clientId))! as Record<string, unknown>;
    const validate = (m: Record<string, unknown>) => h.yihao.holder.current.Client.validate(m as never).then(
      () => 'valid',
      (e: { error_description?: string }) => e.error_description ?? 'refused',
    );
    expect(await validate(stored)).toBe('valid');
    const broken: [Record<string, unknown>, RegExp][] = [
      [{ token_endpoint_auth_method: 'client_secret_basic', client_secret: 'hmac1$x' }, /private_key_jwt/],
      [{ require_pushed_authorization_requests: false }, /pushed authorization requests/],
      [{ dpop_bound_access_tokens: false }, /DPoP-bound/],
      [{ response_types: ['code id_token'] }, /only the code response type/],
      [{ grant_types: ['authorization_code', 'implicit'] }, /not implicit/],
      [{ redirect_uris: ['http://rp.example.gov.cn/cb'] }, /https redirect_uris/],
      [{ id_token_signed_response_alg: 'RS256' }, /id_token_signed_response_alg must be one of PS256, ES256, EdDSA/],
      [{ token_endpoint_auth_signing_alg: 'RS256' }, /token_endpoint_auth_signing_alg must be one of/],
      [{ security_profile: 'fapi1' }, /security_profile must be one of fapi2/],
    ];
    for (const [change, message] of broken) expect(await validate({ ...stored, ...change })).toMatch(message);
  });

  it.runIf(enabled)('keeps a fapi2 client under the profile through the admin API: its recorded settings carry the profile, and a change cannot make it public', async () => {
    const { clientId, made } = await registered('adopted');
    const boot = h.yihao.admin.services.bootstrap;
    const department = await boot.createDepartment({ name: '国家税务总局', level: 'national' });
    // What `yihao client create --department` does: the console shows the client from then on.
    await boot.adoptClient({ clientId, settings: made.settings, secretDigest: undefined, department });
    const admin = await operator(h, [{ role: 'dept-admin', departmentId: department.id }]);
    const shown = await admin.api('GET', `/clients/${clientId}`);
    expect(JSON.stringify(shown.body)).toMatch(/"security_profile":"fapi2"/);
    // Turning it public would take it out of the profile: no change may alter how a client authenticates.
    const change = await admin.api('POST', `/clients/${clientId}/changes`, { client_name: 'Adopted', redirect_uris: [FAPI_REDIRECT], public: true });
    expect(change.status).toBe(400);
    expect(JSON.stringify(change.body)).toMatch(/cannot change how it authenticates/);
    expect(await new h.yihao.services.Adapter('Client').find(clientId)).toMatchObject({ security_profile: 'fapi2' });
  });

  it.runIf(enabled)('leaves a client outside the profile as it was: front-channel request, Bearer token, client secret, rotated refresh tokens', async () => {
    const made = await h.client({ scope: 'openid profile' });
    const rp = await relyingParty(h, made);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = await signIn(url);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    // The rotated-out token is refused.
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
  });
});
