/**
 * A hostile or flaky network between Yihao and Redis: when a connection drops after a command
 * reached Redis but before its reply came back, ioredis sends the command again on the new
 * connection, and Redis runs it twice. A lockout step run twice counts one sign-in attempt as two
 * guesses (a citizen throttled sooner for a network fault), or takes back two from the
 * account-wide count for one success. Each step must count once however often it arrives.
 */
import { describe, expect, it } from 'vitest';
import { redisLockoutStore } from '../../src/accounts/lockout-redis.js';
import { redisBehindCuttingProxy, until } from '../support/cutting-proxy.js';
import { redisAvailable } from '../support/services.js';

const policy = { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 };
const distributed = { maxFailures: 50, windowSeconds: 3600, familiarSeconds: 86_400 };

describe.skipIf(!redisAvailable)('lockout steps resent after a dropped reply (Redis)', () => {
  const r = redisBehindCuttingProxy();

  const counts = async (subject: string, ip: string) => ({
    pair: Number((await r.direct.hget(`${r.prefix}lockout:{${subject}}:ip:${ip}`, 'n')) ?? 0),
    all: Number((await r.direct.get(`${r.prefix}lockout:{${subject}}:all`)) ?? 0),
  });

  it('counts an attempt once when its reply was lost and the step ran again', async () => {
    const store = redisLockoutStore(r.viaProxy, r.prefix, policy, distributed);
    r.proxy.arm();
    const answer = await store.begin('acc-begin', '203.0.113.7', Date.now());
    expect(r.proxy.cuts()).toBe(1);
    expect(answer).toMatchObject({ nextAt: expect.any(Number), lockedNow: false });
    expect(await counts('acc-begin', '203.0.113.7')).toEqual({ pair: 1, all: 1 });
  });

  it('takes back one attempt for one success when its reply was lost', async () => {
    const store = redisLockoutStore(r.viaProxy, r.prefix, policy, distributed);
    const now = Date.now();
    await store.begin('acc-succeed', '203.0.113.8', now);
    await store.begin('acc-succeed', '203.0.113.9', now);
    expect((await counts('acc-succeed', '203.0.113.8')).all).toBe(2);
    r.proxy.arm();
    await store.succeed('acc-succeed', '203.0.113.8', now);
    expect(r.proxy.cuts()).toBe(2);
    expect(await counts('acc-succeed', '203.0.113.8')).toEqual({ pair: 0, all: 1 });
  });
});

/**
 * A stalled path to Redis (a fail-over, a slow master): the sign-in gives up on its lockout step
 * and answers 503, never checking the password, but Redis runs the step once the path clears.
 * Citizens who retried through the stall would each find themselves throttled afterwards for
 * guesses they never made.
 */
describe.skipIf(!redisAvailable)('lockout steps that arrive after the caller gave up (Redis)', () => {
  const r = redisBehindCuttingProxy();

  const counts = async (subject: string, ip: string) => ({
    pair: Number((await r.direct.hget(`${r.prefix}lockout:{${subject}}:ip:${ip}`, 'n')) ?? 0),
    all: Number((await r.direct.get(`${r.prefix}lockout:{${subject}}:all`)) ?? 0),
  });

  it('does not count attempts whose first step timed out, however late Redis runs it', async () => {
    const store = redisLockoutStore(r.impatient, r.prefix, policy, distributed);
    r.proxy.hold(700);
    for (let i = 0; i < policy.maxFailures; i++) await expect(store.begin('acc-stalled', '203.0.113.20', Date.now())).rejects.toThrow();
    r.proxy.hold(0);
    // Each step reaches Redis 700 ms after it was sent, long after the caller gave up.
    await new Promise((s) => setTimeout(s, 1_000));
    await until(async () => (await counts('acc-stalled', '203.0.113.20')).all === 0);
    expect(await counts('acc-stalled', '203.0.113.20')).toEqual({ pair: 0, all: 0 });
    // The citizen's next attempt is answered at once, as a first one.
    const patient = redisLockoutStore(r.viaProxy, r.prefix, policy, distributed);
    expect(await patient.begin('acc-stalled', '203.0.113.20', Date.now())).toMatchObject({ nextAt: expect.any(Number), lockedNow: false });
    expect(await counts('acc-stalled', '203.0.113.20')).toEqual({ pair: 1, all: 1 });
  });

  it('takes back a verified attempt once Redis answers again, when its success step never arrived', async () => {
    const store = redisLockoutStore(r.impatient, r.prefix, policy, distributed);
    const patient = redisLockoutStore(r.viaProxy, r.prefix, policy, distributed);
    const now = Date.now();
    await patient.begin('acc-late-success', '203.0.113.21', now);
    await patient.begin('acc-late-success', '203.0.113.22', now);
    r.proxy.drop(true);
    await expect(store.succeed('acc-late-success', '203.0.113.21', now)).rejects.toThrow();
    r.proxy.drop(false);
    await until(async () => (await counts('acc-late-success', '203.0.113.21')).all === 1);
    expect(await counts('acc-late-success', '203.0.113.21')).toEqual({ pair: 0, all: 1 });
  });
});
