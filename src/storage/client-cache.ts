import type { Adapter, AdapterPayload } from './adapter-types.js';
import type { RedisClient } from './redis.js';

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
  const subscriber = redis?.duplicate();
  if (subscriber) {
    subscriber.on('error', () => undefined); // the TTL still bounds staleness while it reconnects
    subscriber.on('message', (_channel: string, id: string) => entries.delete(id));
    void subscriber.subscribe(channel).catch(() => undefined);
  }

  const invalidate = async (id: string) => {
    entries.delete(id);
    await redis?.publish(channel, id);
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
          const payload = await inner.find(id);
          if (payload) {
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
