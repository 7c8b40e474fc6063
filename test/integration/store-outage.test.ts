import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { freePort, startHarness, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { hasRedisServer, privateRedis } from '../support/private-redis.js';

describe.skipIf(!pgAvailable || !redisAvailable || !hasRedisServer)('a store goes away', () => {
  let h: Harness | undefined;
  let redis: { stop(): Promise<void> } | undefined;
  afterAll(async () => {
    await redis?.stop();
    await h?.close();
  });

  it('answers 503 with Retry-After while Redis is down, reports it in /readyz, and recovers on its own', async () => {
    const port = await freePort();
    redis = await privateRedis(port);
    h = await startHarness({ backend: 'postgres+redis', overrides: (c) => ({ ...c, redisUrl: `redis://127.0.0.1:${port}`, redis: { kind: 'standalone', url: `redis://127.0.0.1:${port}` } }) });
    const client = await h.client({ grantTypes: ['client_credentials'], scope: 'openid', redirectUris: [] });
    const rp = await relyingParty(h, client);
    const discovered = rp.serverMetadata().token_endpoint!;
    const token = () =>
      fetch(discovered, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      });
    expect((await token()).status).toBe(200);

    await redis.stop();
    const down = await token();
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
    const ready = await fetch(`${h.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { database: 'ok', redis: 'down' } });
    // A page that needs Redis (an authorization request starts an interaction there).
    const auth = await fetch(oidc.buildAuthorizationUrl(rp, { redirect_uri: 'http://127.0.0.1:9/cb', scope: 'openid', response_type: 'code' }), { redirect: 'manual' });
    expect([503, 400]).toContain(auth.status);

    redis = await privateRedis(port);
    await expect.poll(async () => (await token()).status, { timeout: 20_000, interval: 250 }).toBe(200);
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
  });

  it('names an unreachable Redis in one line at start-up, without its password', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'yihao-outage-'));
    try {
      const port = await freePort();
      const child = spawnSync(process.execPath, [join(root, 'dist', 'src', 'main.js')], {
        cwd: root,
        env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'silent', YIHAO_DATA_DIR: dir, PORT: String(await freePort()), REDIS_URL: `redis://:s3cret-pw@127.0.0.1:${port}` },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(child.status).toBe(1);
      // oidc-provider warns about Node.js 20 on its own line; ours is the only other one.
      const lines = child.stderr.trim().split('\n').filter((l) => !l.startsWith('oidc-provider WARNING'));
      expect(lines).toEqual([`yihao failed to start: Redis at redis://:***@127.0.0.1:${port} is not reachable`]);
      expect(child.stderr + child.stdout).not.toContain('s3cret-pw');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
