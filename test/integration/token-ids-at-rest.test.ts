/**
 * What a stolen backup holds (src/oidc/hashed-token-ids.ts): after a sign-in, a refresh and a
 * client_credentials grant, every row of the database and every key and value in Redis is read, as
 * someone with a dump or a replica would. None may hold a code, an access token or a refresh token a
 * thief could present. The tokens still do everything they did, and tokens stored under their own
 * value before this change keep working (rotation and reuse detection included) until configuration
 * stops looking for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { storeDump, storedTokenId } from '../support/token-ids.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('tokens at rest ($backend)', ({ backend, enabled }) => {
  let h: Harness;

  beforeAll(async () => {
    if (enabled) h = await startHarness({ backend });
  });
  afterAll(async () => {
    await h?.close();
  });

  const dump = () => storeDump(h);

  async function signIn() {
    const citizen = await h.citizen();
    const client = await h.client({ redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid profile' }), { identifier: citizen.citizenId, password: citizen.password });
    const code = new URL(callback).searchParams.get('code')!;
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return { rp, code, tokens, citizen, client };
  }

  it.skipIf(!enabled)('keeps no code, access token or refresh token a thief could present in the database or Redis', async () => {
    const { rp, code, tokens } = await signIn();
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const service = await h.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    const cc = await fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const { access_token: serviceToken } = (await cc.json()) as { access_token: string };
    const held = await dump();
    // The dump does hold the tokens' records: this is not a search of an empty store.
    expect(held).toContain(tokens.claims()!.sub);
    const secrets = { code, access: tokens.access_token, refresh: tokens.refresh_token!, refreshedAccess: refreshed.access_token, refreshedRefresh: refreshed.refresh_token!, serviceToken };
    for (const [name, value] of Object.entries(secrets)) {
      // One character longer than a token stored under its own value before (hashed-token-ids.ts).
      expect(value.length, name).toBe(44);
      expect(held.includes(value), `${name} is stored`).toBe(false);
    }

    // And every one still does what it did.
    expect((await oidc.fetchUserInfo(rp, refreshed.access_token, tokens.claims()!.sub)).sub).toBe(tokens.claims()!.sub);
    expect((await oidc.tokenIntrospection(rp, refreshed.refresh_token!)).active).toBe(true);
    await oidc.tokenRevocation(rp, refreshed.access_token);
    expect((await oidc.tokenIntrospection(rp, refreshed.access_token)).active).toBe(false);
    // A rotated-out refresh token presented again is a reuse: the grant goes, its newest token with it.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, refreshed.refresh_token!)).active).toBe(false);
  });

  it.skipIf(!enabled)('takes no id read from a dump for a token: the stored key of a token is not the token', async () => {
    const { rp, tokens, client } = await signIn();
    // What a thief reads: the record ids (the `id` column, the last part of a Redis key), 43
    // characters of base64url like a token stored under its own value before.
    const storedAccess = storedTokenId(h, tokens.access_token);
    const storedRefresh = storedTokenId(h, tokens.refresh_token!);
    expect(storedRefresh).toHaveLength(43);
    expect((await h.yihao.stores.db('oidc_models').where({ model: 'RefreshToken', id: storedRefresh })).length).toBe(1);
    const userinfo = await fetch(`${h.url}/me`, { headers: { authorization: `Bearer ${storedAccess}` } });
    const introspected = await oidc.tokenIntrospection(rp, storedRefresh);
    const refreshed = await fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(storedRefresh)}`,
    });
    expect({ userinfo: userinfo.status, introspectionActive: introspected.active, refresh: refreshed.status }).toEqual({ userinfo: 401, introspectionActive: false, refresh: 400 });
    // And the real ones still work.
    expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toHaveLength(44);
  });

  /** A refresh token as a version before this one stored it: under its own value, which is also its `jti`. */
  async function storedPlainly(value: string): Promise<string> {
    const raw = new h.yihao.services.Adapter('RefreshToken');
    const record = await raw.find(storedTokenId(h, value));
    expect(record).toBeDefined();
    const plain = randomBytes(32).toString('base64url');
    // As stored before: under the value, which is also its jti, and without the mark of a hashed id.
    const { idHashed, ...before } = record as Record<string, unknown>;
    expect(idHashed).toBe(true);
    await raw.upsert(plain, { ...before, jti: plain }, 3600);
    await raw.destroy(storedTokenId(h, value));
    return plain;
  }

  it.skipIf(!enabled)('keeps refresh tokens stored under their own value working, rotation and reuse detection included', async () => {
    const { rp, tokens } = await signIn();
    const plain = await storedPlainly(tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(rp, plain)).active).toBe(true);
    const rotated = await oidc.refreshTokenGrant(rp, plain);
    expect((await dump()).includes(rotated.refresh_token!)).toBe(false);
    // The plain record was spent: presenting it again is a reuse, which ends the grant.
    await expect(oidc.refreshTokenGrant(rp, plain)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(rp, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    // Revoking one that is stored plainly removes it.
    const second = await signIn();
    const plainToo = await storedPlainly(second.tokens.refresh_token!);
    await oidc.tokenRevocation(second.rp, plainToo);
    expect((await oidc.tokenIntrospection(second.rp, plainToo)).active).toBe(false);
  });

  it.skipIf(!enabled)('stops looking for tokens stored under their own value once configuration says none is left', async () => {
    const { rp, tokens, client } = await signIn();
    const plain = await storedPlainly(tokens.refresh_token!);
    const strict = await startHarness({ share: h, overrides: (c) => ({ ...c, keys: { ...c.keys, purposes: { ...c.keys.purposes, tokenId: { ...c.keys.purposes.tokenId, unhashedLookups: false } } } }) });
    try {
      // Straight to this instance: the shared issuer's discovery names the first one's address.
      const res = await fetch(`${strict.url}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(plain)}`,
      });
      expect({ status: res.status, body: await res.json() }).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    } finally {
      await strict.stop();
    }
    // The instance that still looks finds it.
    expect((await oidc.refreshTokenGrant(rp, plain)).refresh_token).toBeDefined();
  });

  it.skipIf(!enabled)('moves to a new token_id key version without ending the tokens stored under the previous one', async () => {
    const { tokens, client } = await signIn();
    const tokenId = (v: number, previousVersion?: number) => (c: Harness['config']) => ({ ...c, keys: { ...c.keys, purposes: { ...c.keys.purposes, tokenId: { version: v, unhashedLookups: true, ...(previousVersion ? { previousVersion } : {}) } } } });
    const refresh = (at: Harness, value: string) =>
      fetch(`${at.url}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(value)}`,
      });
    const withoutPrevious = await startHarness({ share: h, overrides: tokenId(2) });
    const moving = await startHarness({ share: h, overrides: tokenId(2, 1) });
    try {
      expect((await refresh(withoutPrevious, tokens.refresh_token!)).status).toBe(400);
      const res = await refresh(moving, tokens.refresh_token!);
      expect(res.status).toBe(200);
      const rotated = ((await res.json()) as { refresh_token: string }).refresh_token;
      const raw = new h.yihao.services.Adapter('RefreshToken');
      expect(await raw.find(storedTokenId(moving, rotated))).toBeDefined();
      expect(await raw.find(storedTokenId(h, rotated))).toBeUndefined();
      expect((await refresh(withoutPrevious, rotated)).status).toBe(200);
    } finally {
      await withoutPrevious.stop();
      await moving.stop();
    }
  });
});
