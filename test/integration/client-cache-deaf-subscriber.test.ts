/**
 * The client cache's subscriber is the other half of "a suspension is refused at once on every
 * instance": another instance's change reaches this one as a Redis message. A subscriber only
 * listens, so no command of its own ever waits on it, and a connection whose Redis host was lost
 * without a reset (a managed Redis failing over behind the same address, a partition) stays open
 * and silent for about 15 minutes. All that while the instance would hear no change and keep
 * serving what it cached, and after the fail-over the new Redis would not know it at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createClientCache, type ClientCache } from '../../src/storage/client-cache.js';
import { openRedis } from '../../src/storage/redis.js';
import { clientTable as table } from '../support/client-table.js';
import { cuttingProxy, until } from '../support/cutting-proxy.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';

describe.skipIf(!redisAvailable)('the client cache when its subscriber goes deaf', () => {
  const channel = `${uniqueName('yihao_cache_deaf')}:client-changed`;
  const toClose: (() => Promise<unknown> | void)[] = [];
  afterAll(async () => {
    for (const close of toClose.reverse()) await close();
  });

  async function twoInstances() {
    const proxy = await cuttingProxy();
    // This instance reaches Redis through the proxy; the writer reaches it directly.
    const errors: Error[] = [];
    const hereRedis = openRedis(`redis://127.0.0.1:${proxy.port}`, (e) => void errors.push(e), { stallMs: 1_000 });
    const thereRedis = openRedis(REDIS_URL);
    const clients = table();
    clients.rows.set('app', { client_id: 'app', suspended: false });
    // The entry lives a minute: only the cache's own handling can make the change show here sooner.
    const options = { ttlMs: 60_000, maxEntries: 100, channel, silentMs: 1_000, heartbeatMs: 250 };
    const here: ClientCache = createClientCache({ ...options, redis: hereRedis, onError: (e) => void errors.push(e) });
    const there: ClientCache = createClientCache({ ...options, redis: thereRedis });
    toClose.push(
      () => proxy.close(),
      () => hereRedis.disconnect(),
      () => thereRedis.disconnect(),
      () => here.close(),
      () => there.close(),
    );
    const seenHere = here.wrap(clients);
    const writtenThere = there.wrap(clients);
    const suspendedHere = async () => (await seenHere.find('app'))?.suspended === true;
    return { proxy, errors, clients, seenHere, writtenThere, suspendedHere };
  }

  it('hears a change made on another instance at once while Redis is well', async () => {
    const { seenHere, writtenThere, suspendedHere } = await twoInstances();
    await until(async () => (await seenHere.find('app')) !== undefined);
    await new Promise((r) => setTimeout(r, 500)); // subscribed
    expect(await suspendedHere()).toBe(false);
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    expect(await suspendedHere()).toBe(true);
  }, 30_000);

  it('notices a silent subscriber, opens it anew, and drops what it cached meanwhile', async () => {
    const { proxy, errors, clients, seenHere, writtenThere, suspendedHere } = await twoInstances();
    await new Promise((r) => setTimeout(r, 500)); // subscribed
    expect(await suspendedHere()).toBe(false); // cached here

    // The host behind Redis's address is lost: this instance's open connections hear nothing more.
    proxy.silenceOpen();
    // Changed on the other instance: its message cannot reach this one's silent subscriber.
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    // Well within the cached entry's minute: the deaf subscriber is noticed, and the cache no longer
    // answers from what it held while it could not hear (15 s is a margin for a loaded machine).
    await until(suspendedHere, 15_000);
    expect(await suspendedHere()).toBe(true);

    // Listening and keeping entries again: a change behind both caches' backs is not seen here
    // (the entry is held), and the next change made on the other instance is heard at once.
    let n = 0;
    const marker = async () => (await seenHere.find('app'))?.n;
    await until(async () => {
      const before = await marker();
      clients.rows.set('app', { client_id: 'app', suspended: false, n: ++n });
      return (await marker()) === before;
    }, 15_000);
    const held = await marker();
    clients.rows.set('app', { client_id: 'app', suspended: false, n: ++n });
    expect(await marker()).toBe(held);
    await writtenThere.upsert('app', { client_id: 'app', suspended: true });
    expect(await suspendedHere()).toBe(true);
    // Said in the log, once per loss.
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/subscriber heard none of its heartbeats/));
  }, 45_000);
});
