/**
 * Memory a stranger can make one instance keep. Every in-process structure keyed by
 * something a request controls (a path, a method, a client_id, a grant_type, an address) is fed
 * many distinct keys over HTTP, and its size is measured directly (the metrics output's series, the
 * in-memory limiter's windows), not the process's RSS. Found by a review (the two request-memo
 * tests failed before): without Redis, or while it was down, the edge limits kept a record with a
 * timer for every address for its window, and each timer pinned its request's memo and what it
 * read (src/http/bounded-memory-limiter.ts now).
 */
import { queryObjects, setFlagsFromString } from 'node:v8';
import { MAX_KEYS, Window } from '../../src/http/bounded-memory-limiter.js';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import * as oidc from 'openid-client';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const TOKEN = 'metrics-token-stranger-0123456789abcdef01';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

const live = (ctor: new (...a: never[]) => unknown): number => {
  gc();
  return queryObjects(ctor as never, { format: 'count' }) as number;
};

/** Runs `n` requests, `width` at a time. */
async function flood(n: number, width: number, one: (i: number) => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        const res = await one(i);
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  return statuses;
}

const rand = (i: number) => `${i.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
/** A fresh IPv6 /64 for request i (a stranger behind a trusted proxy, or with a /32 to spend). */
const v6 = (i: number) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;

describe('metrics: a stranger cannot add Prometheus series', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, metricsToken: TOKEN, trustProxy: true }) });
  });
  afterAll(async () => h?.close());

  const series = async () => {
    const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    // The process's own metrics (GC kinds, heap spaces) are not keyed by requests.
    return text.split('\n').filter((l) => l && !l.startsWith('#') && !/^yihao_(nodejs|process)_/.test(l));
  };

  /** One round of every request shape whose parts a stranger picks. */
  const round = (i: number): Promise<Response> => {
    const ip = `198.51.${(i >> 8) & 255}.${i & 255}`;
    const headers = { 'x-forwarded-for': ip };
    switch (i % 6) {
      case 0:
        return fetch(`${h.url}/no/such/${rand(i)}?x=${rand(i)}`, { headers });
      case 1:
        return fetch(`${h.url}/${rand(i)}`, { method: `M${rand(i).toUpperCase()}`, headers });
      case 2:
        return fetch(`${h.url}/token`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: `urn:x:${rand(i)}`, client_id: `c-${rand(i)}`, client_secret: 'x' }),
        });
      case 3:
        return fetch(`${h.url}/auth?client_id=${rand(i)}&response_type=${rand(i)}&scope=openid&redirect_uri=https://x.example/${rand(i)}`, { headers, redirect: 'manual' });
      case 4:
        return fetch(`${h.url}/interaction/${rand(i)}/${rand(i)}`, { method: 'POST', headers, redirect: 'manual' });
      default:
        return fetch(`${h.url}/admin/api/v1/${rand(i)}`, { headers: { ...headers, authorization: `Bearer ${rand(i)}` } });
    }
  };

  it('random paths, methods, grant types, client ids and error codes add no series: the line count after 3,000 more is the same as after 600', async () => {
    await flood(600, 8, round);
    await series();
    const before = await series();
    await flood(3000, 8, (i) => round(i + 600));
    const after = await series();
    expect(after.length).toBe(before.length);
  }, 120_000);
});

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('edge limits: what one instance keeps per stranger address ($name)', ({ name, enabled }) => {
  let h: Harness;
  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, trustProxy: true }) });
  });
  afterAll(async () => h?.close());

  /** A wrong user code at /device (400, counted against the sign-in failure budget for 15 minutes), from a fresh /64 each. */
  const wrongCode = (i: number) =>
    fetch(`${h.url}/device`, {
      method: 'POST',
      headers: { 'x-forwarded-for': v6(i), 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ user_code: 'BCDF-GHJK' }),
    });

  it.runIf(enabled)('wrong /device codes from more fresh /64s than a limiter keeps: it holds at most MAX_KEYS windows, whatever the flood', async () => {
    const N = name === 'sqlite' ? MAX_KEYS + 2_000 : 3_000;
    const windows0 = live(Window);
    const heap0 = process.memoryUsage().heapUsed;
    const statuses = await flood(N, 16, wrongCode);
    const kept = live(Window) - windows0;
    const bytesPerKey = Math.max(0, (process.memoryUsage().heapUsed - heap0) / N);
    console.log(JSON.stringify({ backend: name, kept, bytesPerKey: Math.round(bytesPerKey) }));
    expect(new Set(statuses)).toEqual(new Set([400]));
    // With Redis, nothing is kept in memory at all; without it, the cap holds (the old limiter kept
    // a record, with a timer pinning its request, for every address for its 15-minute window).
    expect(kept).toBeLessThanOrEqual(name === 'sqlite' ? MAX_KEYS : 0);
  }, 150_000);

  it.runIf(enabled)('a record kept past the request does not pin the request: no request memo (4 Maps: records, uids, values, notes) survives per stranger', async () => {
    const N = 2_000;
    const maps0 = live(Map);
    await flood(N, 16, (i) => wrongCode(0x100000 + i));
    const perRequest = (live(Map) - maps0) / N;
    console.log(JSON.stringify({ backend: name, mapsRetainedPerRequest: perRequest }));
    expect(perRequest).toBeLessThan(1);
  }, 120_000);

  it.runIf(enabled)('wrong passwords from 200 fresh /64s: what each kept failure holds for the 15-minute window stays small (no Interaction, session or account read pinned with it)', async () => {
    const client = await h.client({ redirectUris: ['http://127.0.0.1:9/cb'] });
    const rp = await relyingParty(h, client);
    const browser = new ScriptedBrowser();
    const { res, url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid' }), {}, new URL(h.issuer).origin);
    const page = await res.text();
    const csrf = formField(page, 'csrf')!;
    const action = new URL(formAction(page, '/login')!, url);
    const N = 200;
    const heap0 = (gc(), process.memoryUsage().heapUsed);
    const maps0 = live(Map);
    const statuses = await flood(N, 4, (i) =>
      browser.request(action, { form: { csrf, identifier: syntheticCitizenId(), password: `wrong-Aa1-${i}` }, headers: { 'x-forwarded-for': v6(0x200000 + i) } }),
    );
    const mapsPerRequest = (live(Map) - maps0) / N;
    const bytesPerKey = (process.memoryUsage().heapUsed - heap0) / N;
    console.log(JSON.stringify({ backend: name, statuses: [...new Set(statuses)], mapsPerRequest, bytesPerKey: Math.round(bytesPerKey) }));
    expect(new Set(statuses)).toEqual(new Set([401]));
    expect(mapsPerRequest).toBeLessThan(1);
  }, 150_000);
});
