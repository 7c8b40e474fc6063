/**
 * Redis that stops answering without closing the connection: its host is lost (a managed Redis
 * failing over behind the same address, a VM that died, a partition). Nothing resets the TCP
 * connection, so ioredis keeps sending every command into it: each one times out after 5 s, and
 * the operating system gives up on the connection only after about 15 minutes. Every request
 * that needs Redis answers 503 all that while, even once Redis is back at the same address. A
 * connection with commands waiting that has heard nothing for the stall limit must instead be
 * dropped and opened anew.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openRedis, type RedisClient } from '../../src/storage/redis.js';
import { cuttingProxy, until } from '../support/cutting-proxy.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';
import { Redis } from 'ioredis';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!redisAvailable)('Redis that stops answering', () => {
  const key = `${uniqueName('yihao_redis_stall')}:k`;
  const direct = new Redis(REDIS_URL);
  const opened: RedisClient[] = [];
  const proxies: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await direct.del(key);
    direct.disconnect();
    for (const r of opened) r.disconnect();
    for (const p of proxies) await p.close();
  });

  async function behindProxy(stallMs: number) {
    const proxy = await cuttingProxy();
    proxies.push(proxy);
    const errors: Error[] = [];
    const redis = openRedis(`redis://127.0.0.1:${proxy.port}`, (e) => void errors.push(e), { stallMs });
    opened.push(redis);
    let connections = 0;
    redis.on('connect', () => void connections++);
    await redis.ping();
    return { proxy, redis, errors, connections: () => connections };
  }

  it('drops a connection that hears nothing while commands wait, and serves again from a new one', async () => {
    const { proxy, redis, errors, connections } = await behindProxy(1_000);
    proxy.silenceOpen();
    // Sent into the silent connection; ioredis sends it again on the new one.
    const write = redis.set(key, 'after the stall').then(
      () => 'ok',
      (e: Error) => e.message,
    );
    // The limit is 1 s; 15 s is a margin for a loaded machine, and far below the operating system's.
    await until(async () => (await direct.get(key)) === 'after the stall', 15_000);
    expect(await direct.get(key)).toBe('after the stall');
    expect(['ok', 'Command timed out']).toContain(await write);
    expect(await redis.get(key)).toBe('after the stall');
    expect(connections()).toBe(2);
    // Said once, in the log, without the command's arguments.
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/heard nothing/));
    expect(errors.map((e) => e.message).join('\n')).not.toContain('after the stall');
  }, 30_000);

  it('keeps an idle connection, and one that answers slowly but answers', async () => {
    const { proxy, redis, connections } = await behindProxy(1_000);
    await sleep(2_500);
    expect(await redis.ping()).toBe('PONG');
    // Each command waits 600 ms on the way: slower than usual, never silent for the whole limit.
    proxy.hold(600);
    for (let i = 0; i < 4; i++) expect(await redis.ping()).toBe('PONG');
    proxy.hold(0);
    expect(connections()).toBe(1);
  }, 30_000);
});
