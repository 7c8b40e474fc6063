/**
 * A store that fails in the middle of a token request, after the request has spent its one-time
 * artifact (an authorization code, a refresh token) but before the tokens it was spent for went
 * out. oidc-provider treats a second use of a spent artifact as theft and revokes its grant, so
 * the relying party's retry of a request that answered 503 must find the artifact unspent, not
 * lose the citizen's grant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, oauthError, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import net from 'node:net';
import { pgAvailable, REDIS_URL, redisAvailable } from '../support/services.js';

/**
 * A TCP proxy to Redis that, once told to, holds back the first chunk that mentions `marker` and
 * everything sent after it on that connection for `ms` (a path that stalls mid-request, in order).
 */
async function stallingProxy() {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let stall: { marker: string; ms: number } | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    let releaseAt = 0;
    client.on('data', (chunk: Buffer) => {
      if (stall && chunk.includes(stall.marker)) {
        releaseAt = Date.now() + stall.ms;
        stall = undefined;
      }
      const wait = releaseAt - Date.now();
      if (wait <= 0) return void upstream.write(chunk);
      setTimeout(() => upstream.write(chunk), wait);
    });
    client.on('end', () => upstream.end());
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stallAt: (marker: string, ms: number) => void (stall = { marker, ms }),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a token request that fails after spending its code or refresh token ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let proxy: Awaited<ReturnType<typeof stallingProxy>> | undefined;

  beforeAll(async () => {
    if (!enabled) return;
    if (name === 'sqlite') h = await startHarness();
    else {
      proxy = await stallingProxy();
      const redis = `redis://127.0.0.1:${proxy.port}`;
      h = await startHarness({ backend: name, overrides: (c) => ({ ...c, redisUrl: redis, redis: { kind: 'standalone', url: redis } }) });
    }
    rp = await relyingParty(h, await h.client({ name: '公积金查询', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' }));
  });
  afterAll(async () => {
    await h?.close();
    await proxy?.close();
  });

  async function authorize() {
    const citizen = await h.citizen();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await authorizationUrl(rp, verifier, { state });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    return () => oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
  }

  /**
   * The database refuses to store records of `model` until the returned function is called: on
   * PostgreSQL as a server shutting down does (57P01, a 503), on SQLite with an error of its own (a 500).
   */
  async function refuseToStore(model: 'RefreshToken' | 'AccessToken'): Promise<() => Promise<void>> {
    const db = h.yihao.stores.db;
    if (name === 'sqlite') {
      await db.raw(`create trigger injected_fault before insert on oidc_models when new.model = '${model}' begin select raise(abort, 'injected fault'); end`);
      return async () => void (await db.raw('drop trigger injected_fault'));
    }
    await db.raw(`create or replace function injected_fault() returns trigger language plpgsql as $$
      begin
        if new.model = '${model}' then raise exception 'terminating connection due to administrator command' using errcode = '57P01'; end if;
        return new;
      end $$`);
    await db.raw('create trigger injected_fault before insert on oidc_models for each row execute function injected_fault()');
    return async () => void (await db.raw('drop trigger injected_fault on oidc_models'));
  }

  /** The request failed on the server's side (a 503 where a store went away, a 500 otherwise). */
  const serverFailure = (err: unknown) => expect((err as { cause?: { status?: number } }).cause?.status).toBeGreaterThanOrEqual(500);

  it.skipIf(!enabled)('gives the code back when storing the tokens failed, so that the retry gets them and the grant lives', async () => {
    const redeem = await authorize();
    const heal = await refuseToStore('RefreshToken');
    let failed: unknown;
    try {
      failed = await redeem().catch((e: unknown) => e);
    } finally {
      await heal();
    }
    serverFailure(failed);

    const tokens = await redeem();
    expect(tokens.refresh_token).toBeDefined();
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    // The grant was not revoked as for a reused code: the refresh token works.
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(rp, refreshed.access_token)).active).toBe(true);
    // Still one use only: the code that got its tokens is spent (and its reuse revokes as before).
    expect(await oauthError(redeem())).toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('takes a refresh token rotation back when the access token could not be stored, so that the retry refreshes', { timeout: 60_000 }, async () => {
    const tokens = await (await authorize())();
    let failed: unknown;
    if (proxy) {
      // Redis stalls once the refresh token has been rotated (in PostgreSQL): the access token's save
      // reaches it only after the command timeout (5 s) gave up on it.
      proxy.stallAt(':AccessToken:', 7_000);
      failed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!).catch((e: unknown) => e);
      // The held commands arrive, in order; then Redis answers at once again.
      await new Promise((r) => setTimeout(r, 3_000));
    } else {
      const heal = await refuseToStore('AccessToken');
      try {
        failed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!).catch((e: unknown) => e);
      } finally {
        await heal();
      }
    }
    serverFailure(failed);

    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(rp, refreshed.access_token)).active).toBe(true);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    // The rotation that did go out stands: the old refresh token is spent now.
    expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
  });
});
