/**
 * Attacks on the client cache's freshness (a helper's review). The client cache (src/storage/client-cache.ts) promises that a
 * change made on one instance reaches every instance at once where Redis is configured, and that a
 * subscriber that cannot hear (a Redis host lost without a reset) is noticed by its own heartbeat
 * within `silentMs`, after which the cache keeps nothing until it hears again. These attacks try to
 * make an instance keep serving a client that another instance changed (suspended). The first two
 * failed before (a heartbeat trusted the time in its message; elapsed times were read off the wall
 * clock), and the third before the docs said what holds for an instance that does not confirm.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { createClientCache, type ClientCache } from '../../src/storage/client-cache.js';
import { openRedis } from '../../src/storage/redis.js';
import { clientTable as table } from '../support/client-table.js';
import { cuttingProxy, until } from '../support/cutting-proxy.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';

describe.skipIf(!redisAvailable)('client cache freshness under attack', () => {
  const toClose: (() => Promise<unknown> | void)[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    for (const close of toClose.reverse()) await close();
  });

  async function twoInstances(yihaosOwn = false) {
    const channel = `${uniqueName('yihao_cache_fresh')}:client-changed`;
    const proxy = await cuttingProxy();
    const hereRedis = openRedis(`redis://127.0.0.1:${proxy.port}`, () => undefined, yihaosOwn ? {} : { stallMs: 1_000 });
    const thereRedis = openRedis(REDIS_URL);
    // Someone who can publish on the shared Redis (another tenant's app, a compromised job).
    const attacker = new Redis(REDIS_URL);
    const clients = table();
    clients.rows.set('app', { client_id: 'app', suspended: false });
    // A long TTL, as in client-cache-deaf-subscriber.test.ts: only the cache's own handling can
    // make the change show here sooner.
    // (Or src/yihao.ts's own: a 5 s TTL and Redis's stall limit as `silentMs`.)
    const options = yihaosOwn ? { ttlMs: 5_000, maxEntries: 10_000, channel } : { ttlMs: 60_000, maxEntries: 100, channel, silentMs: 1_000, heartbeatMs: 250 };
    const reported: string[] = [];
    const here: ClientCache = createClientCache({ ...options, redis: hereRedis });
    const there: ClientCache = createClientCache({ ...options, redis: thereRedis, onError: (e) => reported.push(e.message) });
    toClose.push(
      () => proxy.close(),
      () => hereRedis.disconnect(),
      () => thereRedis.disconnect(),
      () => attacker.disconnect(),
      () => here.close(),
      () => there.close(),
    );
    const seenHere = here.wrap(clients);
    const writtenThere = there.wrap(clients);
    const suspendedHere = async () => (await seenHere.find('app'))?.suspended === true;
    await new Promise((r) => setTimeout(r, 500)); // subscribed
    // Listening and keeping entries: a change behind the caches' backs is not seen here.
    await until(async () => {
      clients.rows.set('app', { client_id: 'app', suspended: false, n: Math.random() });
      const a = (await seenHere.find('app'))?.n;
      clients.rows.set('app', { client_id: 'app', suspended: false, n: Math.random() });
      return (await seenHere.find('app'))?.n === a;
    });
    expect(await suspendedHere()).toBe(false);
    return { channel, proxy, attacker, clients, seenHere, writtenThere, suspendedHere, reported };
  }

  it('a publisher on the shared Redis cannot blind the heartbeat with one far-future beat, so a silent subscriber is still noticed', async () => {
    const { channel, proxy, attacker, writtenThere, suspendedHere } = await twoInstances();
    // The instance's own heartbeat channel is no secret: Redis lists it.
    const heartbeats = (await attacker.pubsub('CHANNELS', `${channel}:heartbeat:*`)) as string[];
    expect(heartbeats.length).toBe(2);
    for (const hb of heartbeats) await attacker.publish(hb, String(Date.now() + 10 * 365 * 24 * 3600 * 1000));
    await new Promise((r) => setTimeout(r, 300)); // delivered

    proxy.silenceOpen();
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    // The same margin client-cache-deaf-subscriber.test.ts gives an unspoofed cache (silentMs is 1 s).
    await until(suspendedHere, 15_000);
    expect(await suspendedHere()).toBe(true);
  }, 45_000);

  it('a clock stepped back (an NTP correction) does not blind the heartbeat, so a silent subscriber is still noticed', async () => {
    const { proxy, writtenThere, suspendedHere } = await twoInstances();
    // Heartbeats were heard at the true time; then the clock is corrected two minutes back.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 120_000);

    proxy.silenceOpen();
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    await until(suspendedHere, 15_000);
    expect(await suspendedHere()).toBe(true);
  }, 45_000);

  it("an operator's suspension made on one instance reaches another whose subscriber has gone silent within the cache's TTL, and the writer says it was not confirmed (Yihao's own cache settings)", async () => {
    const { proxy, writtenThere, suspendedHere, reported } = await twoInstances(true);
    proxy.silenceOpen();
    // docs/admin.md: every instance that hears Redis drops its copy before the command returns; one
    // whose subscriber has gone silent serves its copy until it expires (5 s), and the writer logs it.
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    const returned = performance.now();
    expect(reported.join('\n')).toMatch(/1 of 2 instances did not confirm dropping a changed client/);
    await until(suspendedHere, 15_000);
    // The TTL (5 s) with a margin for a loaded machine.
    expect(performance.now() - returned).toBeLessThan(5_000 + 3_000);
  }, 45_000);

  it('a subscriber killed through another Redis connection (CLIENT KILL) right before a suspension does not keep the old client', async () => {
    const { proxy, attacker, writtenThere, suspendedHere } = await twoInstances();
    // This instance's subscriber only (it reaches Redis through the proxy): other test files' caches
    // share this Redis, and `CLIENT KILL TYPE pubsub` would cut theirs too.
    const ports = new Set(proxy.upstreamPorts());
    const listed = String(await attacker.call('CLIENT', 'LIST', 'TYPE', 'pubsub')).split('\n');
    const ours = listed.filter((line) => ports.has(Number(/ addr=[^ ]*:(\d+) /.exec(` ${line} `)?.[1]))).map((line) => /(?:^| )id=(\d+)/.exec(line)![1]!);
    expect(ours.length).toBe(1);
    for (const id of ours) await attacker.client('KILL', 'ID', id);
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    // The closed socket is noticed at once; 2 s is a margin for a loaded machine (the heartbeat's
    // own check would take silentMs, 1 s, and more).
    await until(suspendedHere, 2_000);
    expect(await suspendedHere()).toBe(true);
  }, 45_000);
});
