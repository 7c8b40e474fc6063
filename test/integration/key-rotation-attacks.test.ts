/**
 * Attacks on key rotation (a helper's review; docs/security.md, "Keys can be rotated, and sealed
 * data stays sealed to its owner"; docs/keys.md): the signing keys across two instances, one of
 * which has not polled yet (a staged rotation publishes the new key before it signs); the token-id key moving with live refresh tokens (reuse detection, stored ids presented as
 * tokens); and start-up checks that
 * refuse a rotation config that would silently break or weaken. Each case attacks one promise and
 * passes when it holds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { storedTokenId } from '../support/token-ids.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];
const SCOPE = 'openid profile citizen_id';

/**
 * No instance polls on its own during a case: each poll is the test's call (`holder.refresh()`).
 * A rotation is staged as in production (the harness makes it immediate for other tests).
 */
const noPolling = (c: Config): Config => ({ ...c, keys: { ...c.keys, refreshSeconds: 3600, publishSeconds: 7200 } });
const tokenIdAt = (version: number, previousVersion?: number) => (c: Config): Config =>
  noPolling({ ...c, keys: { ...c.keys, purposes: { ...c.keys.purposes, tokenId: { version, unhashedLookups: true, ...(previousVersion ? { previousVersion } : {}) } } } });

describe.each(backends)('key rotation under attack (%s)', (backend) => {
  let h: Harness;
  let lag: Harness;
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    h = await startHarness({ backend, overrides: noPolling });
    lag = await startHarness({ share: h, overrides: noPolling });
    client = await h.client({ redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: SCOPE, citizenIdRelease: 'full' });
  }, 120_000);
  afterAll(async () => {
    await lag?.close();
    await h?.close();
  }, 30_000);

  /** openid-client talking to instance `at` (same issuer): a load balancer's choice. */
  async function rpAt(at: Harness): Promise<oidc.Configuration> {
    const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(h.issuer, at.url), options as RequestInit);
    const rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
    rp[oidc.customFetch] = toInstance;
    return rp;
  }

  async function signInAt(at: Harness, who?: { citizenId: string; password: string }) {
    const citizen = who ?? (await h.citizen());
    const rp = await rpAt(at);
    const verifier = oidc.randomPKCECodeVerifier();
    const browser = new ScriptedBrowser((u, init) => fetch(new URL(u.href.replace(h.issuer, at.url)), init));
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope: SCOPE }), { identifier: citizen.citizenId, password: citizen.password });
    return { rp, tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }), citizen };
  }

  const jwksOf = async (at: Harness) => (await (await fetch(`${at.url}/jwks`)).json()) as JSONWebKeySet;

  const refreshAt = (at: Harness, value: string) =>
    fetch(`${at.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(value)}`,
    });

  it('an app that fetches the JWKS from an instance that has not polled yet can still verify an ID token another instance signs right after a rotation', async () => {
    await lag.yihao.holder.refresh();
    const before = (await jwksOf(lag)).keys.map((k) => k.kid);
    const rotated = (await h.yihao.signingKeys.rotate()).map((k) => k.kid);
    // A polls first (its timer fired); B's timer has not fired yet: within keys.refreshSeconds on any deployment.
    await h.yihao.holder.refresh();
    expect((await jwksOf(h)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining(rotated));
    const verifiedByLag = async () => {
      const { tokens } = await signInAt(h);
      const idToken = tokens.id_token!;
      // The balancer sends the app's JWKS fetch (it sees an unknown kid) to B.
      const served = await jwksOf(lag);
      const outcome = await jwtVerify(idToken, createLocalJWKSet(served)).then(
        () => 'verified',
        (e: unknown) => `refused: ${(e as Error).message} (kid ${decodeProtectedHeader(idToken).kid}; B serves ${served.keys.map((k) => k.kid).join(', ')})`,
      );
      return { kid: decodeProtectedHeader(idToken).kid!, outcome };
    };
    // Published, not signing yet: A still signs with a key B publishes.
    const early = await verifiedByLag();
    expect(early.outcome).toBe('verified');
    expect(before).toContain(early.kid);
    expect(rotated).not.toContain(early.kid);
    // B polls within keys.refreshSeconds; the publishing window (keys.publishSeconds) ends after it.
    await lag.yihao.holder.refresh();
    await h.yihao.stores.db('signing_keys').where('retired_at', '>', Date.now()).update({ retired_at: Date.now() - 1 });
    await h.yihao.holder.refresh();
    const late = await verifiedByLag();
    expect(late.outcome).toBe('verified');
    expect(rotated).toContain(late.kid);
    // Until B's own next poll it signs with a key A still publishes (retired, kept for verification).
    const { tokens } = await signInAt(lag);
    await expect(jwtVerify(tokens.id_token!, createLocalJWKSet(await jwksOf(h)))).resolves.toBeDefined();
  }, 60_000);

  it('an ID token a lagging instance signs with the just-retired key verifies against the JWKS of the instance that rotated', async () => {
    await lag.yihao.holder.refresh();
    const before = (await jwksOf(lag)).keys.map((k) => k.kid);
    await h.yihao.signingKeys.rotate();
    await h.yihao.holder.refresh();
    const { tokens } = await signInAt(lag);
    const kid = decodeProtectedHeader(tokens.id_token!).kid;
    expect(before).toContain(kid);
    await expect(jwtVerify(tokens.id_token!, createLocalJWKSet(await jwksOf(h)))).resolves.toBeDefined();
  }, 60_000);

  it('a refresh token rotated under the new token_id key, then presented again by its old value, is caught as reuse and ends the grant', async () => {
    const { tokens } = await signInAt(h);
    const moving = await startHarness({ share: h, overrides: tokenIdAt(2, 1) });
    try {
      const first = await refreshAt(moving, tokens.refresh_token!);
      expect(first.status).toBe(200);
      const { refresh_token: next, access_token: nextAccess } = (await first.json()) as { refresh_token: string; access_token: string };
      // The thief replays the value stored under v1 (on the moving instance and on a v1 one alike).
      expect((await refreshAt(moving, tokens.refresh_token!)).status).toBe(400);
      expect((await refreshAt(h, tokens.refresh_token!)).status).toBe(400);
      // Reuse ended the grant: the successor, stored under v2, is dead too.
      expect((await refreshAt(moving, next)).status).toBe(400);
      expect((await fetch(`${moving.url}/me`, { headers: { authorization: `Bearer ${nextAccess}` } })).status).toBe(401);
    } finally {
      await moving.stop();
    }
  }, 60_000);

  it('an id stored under the previous token_id key, read from a dump, is no token on an instance that still looks under that key', async () => {
    const { tokens } = await signInAt(h);
    const moving = await startHarness({ share: h, overrides: tokenIdAt(2, 1) });
    try {
      const storedRefresh = storedTokenId(h, tokens.refresh_token!);
      const storedAccess = storedTokenId(h, tokens.access_token);
      expect((await refreshAt(moving, storedRefresh)).status).toBe(400);
      expect((await fetch(`${moving.url}/me`, { headers: { authorization: `Bearer ${storedAccess}` } })).status).toBe(401);
      // The real token still works there.
      expect((await fetch(`${moving.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    } finally {
      await moving.stop();
    }
  }, 60_000);

});

describe('rotation config refused at start', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  /** `loadConfig` with `fileConfig` as YIHAO_CONFIG and `secrets` as YIHAO_SECRETS_FILE. */
  function load(fileConfig: object, secrets?: object): () => Config {
    const dir = mkdtempSync(join(tmpdir(), 'yihao-rotation-config-'));
    dirs.push(dir);
    const env: Record<string, string> = { NODE_ENV: 'test', YIHAO_DATA_DIR: dir, LOG_LEVEL: 'silent' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(fileConfig));
    env.YIHAO_CONFIG = join(dir, 'config.json');
    if (secrets) {
      writeFileSync(join(dir, 'secrets.json'), JSON.stringify(secrets), { mode: 0o600 });
      env.YIHAO_SECRETS_FILE = join(dir, 'secrets.json');
    }
    return () => loadConfig(env);
  }
  const key = () => randomBytes(32).toString('base64');

  it('a retired signing key kept published for less than an ID token lives (plus one poll) is refused at start', () => {
    // ID tokens live an hour (default): a key retired after 60 s leaves the JWKS while its tokens are valid.
    expect(load({ keys: { refreshSeconds: 5, retiredKeepSeconds: 60 } })).toThrow(/retiredKeepSeconds/);
  });

  it('two seal keys under one key id are refused at start, before anything is sealed or opened', async () => {
    // loadConfig lets it through; the server's start must not (src/identity/sealer.ts).
    const twice = (c: Config): Config => ({ ...c, secrets: { ...c.secrets, sealKeys: [{ kid: 'k1', key: key() }, { kid: 'k1', key: key() }] } });
    await expect(startHarness({ overrides: twice })).rejects.toThrow(/"k1" is used twice/);
  }, 60_000);

  it('a seal key of the wrong length is refused at start', () => {
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], sealKeys: [{ kid: 'k1', key: randomBytes(16).toString('base64') }], indexKey: key() };
    expect(load({}, secrets)).toThrow(/32 bytes/);
  });
});
