/**
 * The edge limits counted in memory (src/http/bounded-memory-limiter.ts), attacked after they were
 * bounded: the same refusals as before, with no Redis and with Redis down. Found by this second
 * look (it failed before the spill table): one address cleared its own count by flooding from
 * 10,000 other /64s, which pushed its window out.
 */
import type { Context } from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { createRateLimits } from '../../src/http/rate-limits.js';
import { MAX_KEYS } from '../../src/http/bounded-memory-limiter.js';
import { startHarness, type Harness } from '../support/harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Koa context as far as rate-limits.ts reads and writes it. */
function fakeCtx(ip: string) {
  const headers: Record<string, string> = {};
  return { ip, status: 404, body: undefined as unknown, type: '', headers, set: (k: string, v: string) => (headers[k.toLowerCase()] = v) };
}
type Fake = ReturnType<typeof fakeCtx>;

/** One failed client authentication from `ip` through the limit middleware; the status answered. */
async function failOnce(mw: (ctx: Context, next: () => Promise<void>) => Promise<unknown>, ip: string): Promise<Fake> {
  const ctx = fakeCtx(ip);
  await mw(ctx as unknown as Context, async () => {
    ctx.status = 401;
    ctx.body = { error: 'invalid_client' };
  });
  return ctx;
}
const failed = { failed: (ctx: Context) => ctx.status === 401 };
const v6 = (i: number) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;

/** A Redis client whose server is gone (nothing listens): every command fails at once. */
function deadRedis() {
  const { default: Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const r = new Redis({ host: '127.0.0.1', port: 1, enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  return r;
}

const stores = [
  { name: 'no Redis', redis: () => undefined },
  { name: 'Redis down (insurance limiter)', redis: deadRedis },
] as const;

describe.each(stores)('edge limits counted in memory ($name)', ({ redis }) => {
  const clients: { disconnect(): void }[] = [];
  const limits = () => {
    const r = redis();
    if (r) clients.push(r);
    return createRateLimits({ redis: r as never, prefix: 'memory-limits:' });
  };
  afterAll(() => clients.forEach((c) => c.disconnect()));

  it('refuses the N-th failure from one address with 429 and a Retry-After within the window, and keeps refusing it', async () => {
    const mw = limits().limit('client-auth', { points: 5, durationSeconds: 60 }, failed);
    const statuses: number[] = [];
    let last: Fake | undefined;
    for (let i = 0; i < 5; i++) statuses.push((last = await failOnce(mw, '198.51.100.7')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
    const retry = Number(last!.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(59);
    expect(retry).toBeLessThanOrEqual(60);
    // The refusal is kept (refusals map): the request is not even run.
    let ran = false;
    const ctx = fakeCtx('198.51.100.7');
    await mw(ctx as unknown as Context, async () => {
      ran = true;
    });
    expect(ctx.status).toBe(429);
    expect(ran).toBe(false);
    // Another address has its own budget.
    expect((await failOnce(mw, '198.51.100.8')).status).toBe(401);
  });

  it('starts a fresh window once the duration has passed', async () => {
    const mw = limits().limit('client-auth', { points: 2, durationSeconds: 1 }, failed);
    expect((await failOnce(mw, '198.51.100.9')).status).toBe(401);
    expect((await failOnce(mw, '198.51.100.9')).status).toBe(429);
    await sleep(1_200);
    expect((await failOnce(mw, '198.51.100.9')).status).toBe(401);
    expect((await failOnce(mw, '198.51.100.9')).status).toBe(429);
  });

  it("holds a per-key budget (a counter staff member's revocations): the 21st in the window is refused with the time to wait", async () => {
    const perStaff = limits().perKey('counter-device-revocations', { points: 20, durationSeconds: 86_400 });
    for (let i = 0; i < 20; i++) expect(await perStaff('staff-1')).toBeUndefined();
    const wait = await perStaff('staff-1');
    expect(wait).toBeGreaterThan(86_000);
    expect(await perStaff('staff-2')).toBeUndefined();
  });

  it('an attacker with 10,001 /64s (a /48 has 65,536) cannot evict its own window to get more than N failures per address per window', async () => {
    const points = 5;
    const mw = limits().limit('device-code', { points, durationSeconds: 900 }, failed);
    const attacker = v6(0);
    // N-1 guesses, stopping short of a refusal (which the refusals map would remember).
    for (let i = 0; i < points - 1; i++) expect((await failOnce(mw, attacker)).status).toBe(401);
    // One guess each from MAX_KEYS other /64s of the attacker's own: each is a guess too.
    for (let i = 1; i <= MAX_KEYS; i++) await failOnce(mw, v6(i));
    // Back at the first /64 in the same window: its budget was already spent but for one.
    const statuses: number[] = [];
    for (let i = 0; i < points; i++) statuses.push((await failOnce(mw, attacker)).status);
    // A secure limiter refuses the first of these (the address's N-th failure in the window).
    expect(statuses[0]).toBe(429);
  });

  it('the cycle repeats: 10,001 /64s rotated get unbounded guesses within one window (more than 10,001 × N)', async () => {
    const points = 3;
    const mw = limits().limit('device-code', { points, durationSeconds: 900 }, failed);
    const addresses = MAX_KEYS + 1;
    let accepted = 0;
    // Three rounds of N-1 guesses from each address, round-robin, all within the window.
    for (let round = 0; round < 3; round++) {
      for (let a = 0; a < addresses; a++) {
        for (let g = 0; g < points - 1; g++) if ((await failOnce(mw, v6(0x20000 + a))).status === 401) accepted++;
      }
    }
    // A limiter that keeps its promise judges at most (N-1) failures per address per window.
    expect(accepted).toBeLessThanOrEqual(addresses * (points - 1));
  }, 60_000);
});

describe('through the whole server (SQLite, behind a trusted proxy): the edge limit at /token still refuses the N-th failure and resets', () => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };
  beforeAll(async () => {
    h = await startHarness({
      overrides: (c) => ({ ...c, trustProxy: true, rateLimits: { ...c.rateLimits, clientAuthFailures: { points: 3, durationSeconds: 2 } } }),
    });
    client = await h.client({ redirectUris: ['https://rp.example.gov.cn/cb'] });
  });
  afterAll(async () => h?.close());

  const introspect = (ip: string, secret: string) =>
    fetch(new URL('/token/introspection', h.issuer), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`,
        'x-forwarded-for': ip,
      },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });

  it('the 3rd wrong secret is 429 with Retry-After, the right secret too while refused, and the address is judged again after the window', async () => {
    const s: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) s.push((last = await introspect('203.0.113.40', 'wrong')).status);
    expect(s).toEqual([401, 401, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await introspect('203.0.113.40', client.client_secret!)).status).toBe(429);
    await sleep(2_300);
    expect((await introspect('203.0.113.40', client.client_secret!)).status).toBe(200);
  });
});
