import { randomBytes } from 'node:crypto';
import type { Adapter, AdapterPayload } from './adapter-types.js';
import type { RedisClient } from './redis.js';

// How long a write waits for every instance to confirm it dropped the client (a stuck one is the TTL's).
const ACK_WAIT_MS = 2_000;

export interface ClientCacheOptions {
  /** How long a read may be reused; bounds staleness when no invalidation arrives. */
  ttlMs: number;
  maxEntries: number;
  /** With Redis, a write on one instance drops the entry on every instance at once. */
  redis?: RedisClient | undefined;
  channel: string;
}

/**
 * Client metadata is read on every token request and changes rarely: one SQL round trip per
 * request was the largest cost of a client_credentials token. Only hits are cached (an unknown
 * client_id costs a query, but cannot fill memory), and writes invalidate.
 */
export function createClientCache({ ttlMs, maxEntries, redis, channel }: ClientCacheOptions) {
  const entries = new Map<string, { payload: AdapterPayload; until: number }>();
  // Bumped by every invalidation: a read that was in flight when one arrived may hold the old
  // metadata, and must not put it back into the cache.
  let epoch = 0;
  // A suspension is refused "at once" on every instance: the writer waits until each subscriber
  // that PUBLISH reached has dropped its entry and said so on the ack channel (bounded wait).
  const ackChannel = `${channel}:ack`;
  const waiting = new Map<string, { got: number; need: number; done: () => void }>();
  const subscriber = redis?.duplicate();
  if (subscriber) {
    subscriber.on('error', () => undefined); // the TTL still bounds staleness while it reconnects
    subscriber.on('message', (from: string, message: string) => {
      const space = message.indexOf(' ');
      if (from === ackChannel) {
        const w = waiting.get(message);
        if (w && ++w.got >= w.need) w.done();
        return;
      }
      // "<nonce> <client id>"; a bare id from an older instance during a rolling upgrade.
      const [nonce, id] = space < 0 ? [undefined, message] : [message.slice(0, space), message.slice(space + 1)];
      entries.delete(id);
      epoch++;
      if (nonce) void redis!.publish(ackChannel, nonce).catch(() => undefined);
    });
    void subscriber.subscribe(channel, ackChannel).catch(() => undefined);
  }

  const invalidate = async (id: string) => {
    entries.delete(id);
    epoch++;
    if (!redis) return;
    const nonce = randomBytes(9).toString('base64url');
    let timer: NodeJS.Timeout | undefined;
    const acked = new Promise<void>((resolve) => {
      waiting.set(nonce, { got: 0, need: Number.POSITIVE_INFINITY, done: resolve });
      timer = setTimeout(resolve, ACK_WAIT_MS);
    });
    try {
      // On a Cluster, PUBLISH counts only the subscribers on the node that took it: the wait covers
      // those, and the others rely on delivery within milliseconds (and the TTL at worst).
      const receivers = await redis.publish(channel, `${nonce} ${id}`);
      const w = waiting.get(nonce)!;
      w.need = receivers;
      if (w.got >= w.need) w.done();
      await acked;
    } finally {
      clearTimeout(timer);
      waiting.delete(nonce);
    }
  };

  return {
    /** Wraps the Client model's adapter. */
    wrap(inner: Adapter): Adapter {
      return {
        async find(id) {
          const hit = entries.get(id);
          // The same object each time: oidc-provider hashes it to find its Client instance and never
          // writes to it; handing out copies cost more than the lookup saved.
          if (hit && hit.until > Date.now()) return hit.payload;
          const seen = epoch;
          const payload = await inner.find(id);
          if (payload && seen === epoch) {
            if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
            entries.set(id, { payload, until: Date.now() + ttlMs });
          }
          return payload;
        },
        async upsert(id, payload, expiresIn) {
          await inner.upsert(id, payload, expiresIn);
          await invalidate(id);
        },
        async destroy(id) {
          await inner.destroy(id);
          await invalidate(id);
        },
        findByUid: (uid) => inner.findByUid(uid),
        findByUserCode: (code) => inner.findByUserCode(code),
        consume: (id) => inner.consume(id),
        revokeByGrantId: (grantId) => inner.revokeByGrantId(grantId),
      };
    },
    async close(): Promise<void> {
      await subscriber?.quit().catch(() => undefined);
    },
  };
}
export type ClientCache = ReturnType<typeof createClientCache>;
