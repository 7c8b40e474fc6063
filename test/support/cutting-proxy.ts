import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { REDIS_URL, uniqueName } from './services.js';

/**
 * A TCP proxy (to Redis unless told otherwise) that, when armed, drops the next reply and cuts the connection; and that,
 * while holding, delivers what the client sends only `ms` later (a stalled path: the client gives
 * up on a command that Redis then runs anyway); and that, while dropping, loses it.
 */
export async function cuttingProxy(to: string = REDIS_URL) {
  const target = new URL(to);
  const sockets = new Set<net.Socket>();
  const upstreams = new Set<net.Socket>();
  let armed = false;
  let cuts = 0;
  let holdMs = 0;
  let dropping = false;
  // Connections opened before the last `silenceOpen` hear nothing and pass nothing on, for good.
  let era = 0;
  const server = net.createServer((client) => {
    const born = era;
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    // In order, as on a stalled TCP path: a chunk is never delivered before one sent earlier, also
    // when the hold ends (Redis answers in the order it receives, and the client matches replies
    // to its commands in the order it sent them).
    let releasedAt = 0;
    client.on('data', (chunk: Buffer) => {
      if (dropping || born !== era) return;
      const at = Math.max(Date.now() + holdMs, releasedAt);
      releasedAt = at;
      if (at <= Date.now()) return void upstream.write(chunk);
      setTimeout(() => upstream.write(chunk), at - Date.now());
    });
    client.on('end', () => upstream.end());
    // Redis closing the connection (CLIENT KILL, a restart) reaches the client, as on a real path;
    // not once silenced (its host is lost: nothing reaches the client any more).
    upstream.on('close', () => {
      if (born === era) client.destroy();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (born !== era) return;
      if (!armed) return void client.write(chunk);
      armed = false;
      cuts++;
      client.destroy();
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: () => void (armed = true),
    /** From now on, what clients send reaches Redis `ms` later (0: at once again). */
    hold: (ms: number) => void (holdMs = ms),
    /** While on, what clients send is lost on the way (whole commands: they are small). */
    drop: (on: boolean) => void (dropping = on),
    /** The connections open now go silent for good, without a reset (their host is lost); new ones go through. */
    silenceOpen: () => void era++,
    cuts: () => cuts,
    /** The local ports of the proxy's open connections to Redis: how Redis's CLIENT LIST names this proxy's clients. */
    upstreamPorts: () => [...upstreams].map((u) => u.localPort).filter((p): p is number => p !== undefined),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * For a describe block: a Redis client through a cutting proxy (with the options Yihao uses,
 * src/storage/redis.ts, under which ioredis resends unanswered commands after a reconnect), a
 * direct client to look at what Redis holds, and a key prefix of the block's own, removed after.
 */
export function redisBehindCuttingProxy() {
  const s = {} as { proxy: Awaited<ReturnType<typeof cuttingProxy>>; viaProxy: Redis; impatient: Redis; direct: Redis; prefix: string };
  s.prefix = `${uniqueName('yihao_resend')}:`;
  beforeAll(async () => {
    s.proxy = await cuttingProxy();
    s.viaProxy = new Redis({ host: '127.0.0.1', port: s.proxy.port, maxRetriesPerRequest: 3, commandTimeout: 5_000, enableAutoPipelining: true });
    // Yihao's options, with a command timeout short enough for a test (Yihao's is 5 s): a caller that gives up on a held step.
    s.impatient = new Redis({ host: '127.0.0.1', port: s.proxy.port, maxRetriesPerRequest: 3, commandTimeout: 300, enableAutoPipelining: true });
    s.direct = new Redis(REDIS_URL);
    await s.viaProxy.ping();
    await s.impatient.ping();
  });
  afterAll(async () => {
    const keys = await s.direct.keys(`${s.prefix}*`);
    if (keys.length) await s.direct.del(...keys);
    s.viaProxy?.disconnect();
    s.impatient?.disconnect();
    s.direct?.disconnect();
    await s.proxy?.close();
  });
  return s;
}

/** Waits until `check` holds, generously for a loaded machine (abandoned steps are retried with backoff). */
export async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (let waited = 0; waited < ms && !(await check()); waited += 100) await new Promise((s) => setTimeout(s, 100));
}
