/**
 * A store that is up but refuses the work, because it is full or has no connection left to give, is
 * a store failure like one that went away: the request is answered 503 with Retry-After (a client
 * or a browser tries again), the log says a store failed rather than "unhandled error", and service
 * comes back on its own once the store has room. A refresh token spent before the store refused is
 * given back, so the relying party's retry succeeds.
 *
 * Real refusals, not simulated ones: a private redis-server under `noeviction` (what
 * docs/operations.md asks for) whose `maxmemory` is brought below what it holds, so it answers OOM; and a PostgreSQL
 * role whose connection limit is reached, which answers SQLSTATE 53300 exactly as a server at
 * `max_connections` does.
 */
import { afterAll, describe, expect, it } from 'vitest';
import knexFactory from 'knex';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { PG_URL, pgAvailable, redisAvailable, uniqueName } from '../support/services.js';
import { logCapture } from '../support/log-capture.js';
import { hasRedisServer, yihaoOnPrivateRedis } from '../support/private-redis.js';


/** A complete sign-in at `h` through openid-client: the tokens, with a refresh token. */
async function signIn(h: Harness, rp: oidc.Configuration): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
  const citizen = await h.citizen();
  const verifier = oidc.randomPKCECodeVerifier();
  const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
  return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
}

/**
 * A refresh as a relying party sends it, answered as it is (no client library's error mapping), to
 * this instance (a second instance shares the first one's issuer).
 */
async function refresh(h: Harness, client: { client_id: string; client_secret?: string }, refreshToken: string): Promise<Response> {
  return fetch(`${h.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
  });
}

const storeFailures = (log: ReturnType<typeof logCapture>) => log.entries().filter((e) => e.msg === 'a store is not reachable');
const unhandled = (log: ReturnType<typeof logCapture>) => log.entries().filter((e) => e.level === 50 || e.level === 'error');

describe.skipIf(!pgAvailable || !redisAvailable || !hasRedisServer)('a store with no room left', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('answers 503 with Retry-After while Redis is full (OOM under noeviction), gives the refresh token back, and recovers once there is room', async () => {
    const log = logCapture('info');
    const { h, url, close } = await yihaoOnPrivateRedis(log.logger);
    cleanups.push(close);
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const tokens = await signIn(h, rp);

    // Full: the limit now below what Redis holds, with nothing it may evict. Filling it with values
    // gets there too, but leaves it at the edge, where a freed client buffer lets the next write in.
    const filler = new Redis(url, { maxRetriesPerRequest: 1 });
    cleanups.push(async () => filler.disconnect());
    const used = Number(/used_memory:(\d+)/.exec(await filler.info('memory'))![1]);
    await filler.config('SET', 'maxmemory', String(Math.floor(used / 2)));
    await expect(filler.set('one-more', 'x')).rejects.toThrow(/^OOM /);

    // The refresh spends its token in PostgreSQL, then cannot store the access token in Redis.
    const refused = await refresh(h, client, tokens.refresh_token!);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
    // A browser starting a sign-in (its interaction is written to Redis) gets the error page, not a 500.
    const page = await fetch(await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { redirect: 'manual' });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(unhandled(log)).toEqual([]);
    expect(storeFailures(log).length).toBeGreaterThanOrEqual(2);

    // Room again: the same refresh token works (it was given back), and so does a new sign-in.
    await filler.config('SET', 'maxmemory', '0');
    const retried = await refresh(h, client, tokens.refresh_token!);
    expect(retried.status).toBe(200);
    expect((await signIn(h, rp)).access_token).toBeTruthy();
  });

  it('answers 503 with Retry-After while PostgreSQL has no connection to give (SQLSTATE 53300), and recovers once it has', async () => {
    const first = await startHarness({ backend: 'postgres+redis' });
    cleanups.push(() => first.close());
    // A role of its own, not a superuser (superusers are exempt from connection limits), with the
    // rights the app needs on the schema the first instance migrated.
    const role = uniqueName('lim');
    const admin = knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 } });
    cleanups.push(async () => {
      await admin.raw(`alter role "${role}" connection limit -1`).catch(() => undefined);
      await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where usename = ?', [role]).catch(() => undefined);
      await admin.raw(`drop owned by "${role}"`).catch(() => undefined);
      await admin.raw(`drop role if exists "${role}"`).catch(() => undefined);
      await admin.destroy();
    });
    const schema = first.env.TEST_SCHEMA!;
    await admin.raw(`create role "${role}" login nosuperuser`);
    await admin.raw(`grant usage on schema "${schema}" to "${role}"`);
    await admin.raw(`grant all on all tables in schema "${schema}" to "${role}"`);
    await admin.raw(`grant all on all sequences in schema "${schema}" to "${role}"`);
    const roleUrl = new URL(PG_URL);
    roleUrl.username = role;
    roleUrl.password = '';

    const log = logCapture('info');
    const h = await startHarness({ share: first, logger: log.logger, overrides: (c) => ({ ...c, databaseUrl: roleUrl.href }) });
    cleanups.push(() => h.close());
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const tokens = await signIn(h, rp);

    // The role's limit is reached: its connections are ended, and no new one is let in.
    await admin.raw(`alter role "${role}" connection limit 0`);
    await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where usename = ?', [role]);
    // The first answers may still come from a connection that outlived the change (a refresh that
    // succeeds rotates the token: the next one uses its successor), or meet one ended under it (a
    // 503 too); asked until a request has met the refusal itself, every other answer must be a 503.
    let current = tokens.refresh_token!;
    const statuses: number[] = [];
    const refused = () => storeFailures(log).some((e) => /too many connections/.test(String(e.error)));
    for (const deadline = Date.now() + 20_000; !refused() && Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const res = await refresh(h, client, current);
      statuses.push(res.status);
      if (res.status === 200) current = ((await res.json()) as { refresh_token: string }).refresh_token;
      if (res.status === 503) expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    expect({ statuses: [...new Set(statuses.filter((s) => s !== 200))], unhandled: unhandled(log).map((e) => e.msg), refused: refused() }).toEqual({ statuses: [503], unhandled: [], refused: true });

    await admin.raw(`alter role "${role}" connection limit -1`);
    await expect.poll(async () => (await refresh(h, client, current)).status, { timeout: 20_000, interval: 250 }).toBe(200);
  });
});
