import { randomBytes } from 'node:crypto';
import type { Adapter, AdapterPayload } from './adapter-types.js';
import type { Redis } from 'ioredis';
import { REDIS_STALL_MS, type RedisClient } from './redis.js';
import { backgroundWork } from './request-memo.js';

// How long a write waits for every instance to confirm it dropped the client (a stuck one is the TTL's).
const ACK_WAIT_MS = 2_000;

export interface ClientCacheOptions {
  /** How long a read may be reused; bounds staleness when no invalidation arrives. */
  ttlMs: number;
  maxEntries: number;
  /** With Redis, a write on one instance drops the entry on every instance at once. */
  redis?: RedisClient | undefined;
  channel: string;
  /** How long the subscriber may miss its own heartbeat before it is opened anew (Redis's stall limit). */
  silentMs?: number;
  /** How often the cache sends itself a heartbeat through Redis. */
  heartbeatMs?: number;
  /** Where a deaf subscriber is reported (a log line). */
  onError?: (err: Error) => void;
}

/**
 * Client metadata is read on every token request and changes rarely: one SQL round trip per
 * request was the largest cost of a client_credentials token. Only hits are cached (an unknown
 * client_id costs a query, but cannot fill memory), and writes invalidate.
 */
export function createClientCache({ ttlMs, maxEntries, redis, channel, silentMs = REDIS_STALL_MS, heartbeatMs = silentMs / 4, onError = () => undefined }: ClientCacheOptions) {
  // Until when (this process's monotonic clock: a wall clock stepped back would keep entries for as
  // long as the step) each entry may be reused.
  const entries = new Map<string, { payload: AdapterPayload; until: number }>();
  // Bumped by every invalidation: a read that was in flight when one arrived may hold the old
  // metadata, and must not put it back into the cache.
  let epoch = 0;
  const forgetAll = () => {
    entries.clear();
    epoch++;
  };
  // A suspension is refused "at once" on every instance: the writer waits until each subscriber
  // that PUBLISH reached has dropped its entry and said so on the ack channel (bounded wait).
  const ackChannel = `${channel}:ack`;
  const waiting = new Map<string, { got: number; need: number; done: () => void }>();
  // ioredis subscribes a reconnected connection again with a SUBSCRIBE whose promise it leaves
  // unhandled (event_handler.js, readyHandler): closed for good before Redis answers (a shutdown
  // during an outage), it rejects unhandled, which Node turns into an exit. A standalone or Sentinel
  // subscriber is subscribed here instead, on every `ready`, its failure handled. (A Cluster's
  // subscriber keeps ioredis's own, which handles its errors.)
  const standalone = redis !== undefined && !('nodes' in redis);
  const subscriber = standalone ? (redis as Redis).duplicate({ autoResubscribe: false }) : redis?.duplicate();
  const hearing = subscriber && redis ? listenForOwnHeartbeat(redis, subscriber, { channel, silentMs, heartbeatMs, onError, onDeaf: forgetAll, onHearingAgain: forgetAll }) : undefined;
  if (subscriber) {
    subscriber.on('error', () => undefined); // the TTL still bounds staleness while it reconnects
    subscriber.on('message', (from: string, message: string) => {
      const space = message.indexOf(' ');
      if (hearing?.isHeartbeat(from, message)) return;
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
    // A first heartbeat as soon as the subscription stands, so that the cache starts keeping entries.
    const subscribe = () => void subscriber.subscribe(channel, ackChannel, hearing!.channel).then(hearing!.beat, () => undefined);
    if (standalone) subscriber.on('ready', subscribe);
    else subscribe();
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
      // An instance whose subscriber went silent serves its copy until it expires: said, not hidden.
      if (w.got < w.need) onError(new Error(`client cache: ${w.need - w.got} of ${w.need} instances did not confirm dropping a changed client within ${ACK_WAIT_MS} ms; they serve their copy at most ${ttlMs} ms more`));
    } finally {
      clearTimeout(timer);
      waiting.delete(nonce);
    }
  };

  return {
    /** The one object kept for this client while it is fresh, without a read; else undefined. */
    cached(id: string): AdapterPayload | undefined {
      const hit = entries.get(id);
      return hit && hit.until > performance.now() ? hit.payload : undefined;
    },
    /** Wraps the Client model's adapter. */
    wrap(inner: Adapter): Adapter {
      return {
        async find(id) {
          const hit = entries.get(id);
          // The same object each time: oidc-provider finds its Client instance by it (oidc/
          // internals.ts clientsByPayload). Handing out copies cost more than the lookup saved, so it
          // is frozen, all the way down: code that wrote to the client it found would otherwise change
          // it for every request after (a review found that nothing stopped it).
          if (hit && hit.until > performance.now()) return hit.payload;
          const seen = epoch;
          const found = await inner.find(id);
          if (!found) return found;
          const payload = deepFreeze(found);
          // While the subscriber cannot hear, a change elsewhere would not reach this entry: keep none.
          if (seen === epoch && hearing?.deaf !== true) {
            if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
            entries.set(id, { payload, until: performance.now() + ttlMs });
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
      hearing?.stop();
      await subscriber?.quit().catch(() => undefined);
    },
  };
}
export type ClientCache = ReturnType<typeof createClientCache>;

/**
 * Whether the subscriber still hears Redis. A subscriber only listens: no command of its own ever
 * waits on it, so a connection whose Redis host was lost without a reset (a managed Redis failing
 * over behind the same address, a partition) looks open and hears nothing for about 15 minutes,
 * and the new Redis does not know it at all. So the cache sends itself a heartbeat through Redis,
 * on a channel only it listens on. When a heartbeat Redis took has not come back within `silentMs`,
 * or Redis says nobody listens on that channel, the subscriber is deaf: it is opened anew (ioredis
 * subscribes again), and until a heartbeat is heard again the cache keeps nothing, since a change
 * made meanwhile on another instance would not reach it.
 */
function listenForOwnHeartbeat(
  redis: RedisClient,
  subscriber: RedisClient,
  { channel, silentMs, heartbeatMs, onError, onDeaf, onHearingAgain }: { channel: string; silentMs: number; heartbeatMs: number; onError: (err: Error) => void; onDeaf: () => void; onHearingAgain: () => void },
) {
  const own = `${channel}:heartbeat:${randomBytes(9).toString('base64url')}`;
  // Deaf until the first heartbeat is heard: the subscription itself is not confirmed before then.
  let deaf = true;
  // When (this process's monotonic clock) the oldest heartbeat that Redis took, and that no heartbeat
  // heard since was sent after, was sent.
  let unheardSince: number | undefined;
  // Heartbeats sent and not heard yet: a random word each, and when it was sent. Only these count as
  // heard. The channel is no secret (PUBSUB CHANNELS lists it): a message anyone else publishes on it
  // is ignored, and nothing in a message is trusted to say when it was sent (a review: one heartbeat
  // dated years ahead, or the wall clock stepped back, switched this check off for that long).
  const outstanding = new Map<string, number>();
  let sending = false;
  const becomeDeaf = (why: string) => {
    unheardSince = undefined;
    outstanding.clear();
    if (!deaf) onDeaf();
    deaf = true;
    const err = new Error(`client cache: the Redis subscriber ${why}: opening it anew`);
    onError(err);
    // Not disconnect(): its goodbye would wait on a lost host for as long as the silence itself.
    if ('stream' in subscriber && subscriber.stream) subscriber.stream.destroy(err);
    else subscriber.disconnect(true);
  };
  const beat = async () => {
    if (sending) return;
    sending = true;
    try {
      const sentAt = performance.now();
      if (unheardSince !== undefined && sentAt - unheardSince >= silentMs) return becomeDeaf(`heard none of its heartbeats for ${silentMs} ms`);
      // Not subscribed yet (connecting, or subscribing again): nothing to judge.
      if (subscriber.status !== 'ready') return;
      // One lost on the way is superseded by any later one heard; past the silence limit none is waited for.
      for (const [word, at] of outstanding) if (sentAt - at > 2 * silentMs) outstanding.delete(word);
      const word = randomBytes(9).toString('base64url');
      outstanding.set(word, sentAt);
      const receivers = await backgroundWork(() => redis.publish(own, word));
      // A subscriber that has not been heard on its connection may still be subscribing. On a
      // Cluster the count covers only the node that took the PUBLISH (the message still reaches
      // every node): a 0 proves nothing there, and the heartbeat is waited for all the same.
      const cluster = 'nodes' in redis;
      if (receivers === 0 && !cluster) {
        outstanding.delete(word);
        if (!deaf && subscriber.status === 'ready') becomeDeaf('is not known to Redis');
        return;
      }
      // (Its message may have come back before PUBLISH's own answer did.)
      if (outstanding.has(word)) unheardSince ??= sentAt;
    } catch {
      // Redis did not take the heartbeat: the main connection's trouble, watched in redis.ts.
    } finally {
      sending = false;
    }
  };
  const timer = setInterval(() => void beat(), heartbeatMs);
  timer.unref();
  // A closed connection hears nothing: what changed meanwhile is lost with it.
  subscriber.on('close', () => {
    unheardSince = undefined;
    outstanding.clear();
    if (!deaf) onDeaf();
    deaf = true;
  });
  return {
    channel: own,
    beat: () => void beat(),
    get deaf() {
      return deaf;
    },
    /** Whether the message came on the heartbeat channel (then it is nothing else); it counts only if this cache sent it. */
    isHeartbeat(from: string, message: string): boolean {
      if (from !== own) return false;
      const sentAt = outstanding.get(message);
      if (sentAt === undefined) return true;
      for (const [word, at] of outstanding) if (at <= sentAt) outstanding.delete(word);
      if (unheardSince !== undefined && unheardSince <= sentAt) unheardSince = undefined;
      if (deaf) {
        deaf = false;
        onHearingAgain();
      }
      return true;
    },
    stop: () => clearInterval(timer),
  };
}

/** `value`, with every object and array in it frozen. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
