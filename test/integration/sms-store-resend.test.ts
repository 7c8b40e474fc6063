/**
 * SMS codes across a network fault between Yihao and Redis: a script whose reply was lost in a
 * dropped connection is sent again by ioredis and run again by Redis. A citizen's one try must
 * count once (a second count spends their attempts), their correct code must not be refused as
 * already used (by the first run), and their one send must not be refused as over the limit (by
 * itself). Different calls are still counted and refused as before.
 */
import { describe, expect, it } from 'vitest';
import { createRedisOtpStore } from '../../src/sms/redis-otp-store.js';
import { redisBehindCuttingProxy } from '../support/cutting-proxy.js';
import { redisAvailable } from '../support/services.js';

describe.skipIf(!redisAvailable)('SMS code steps resent after a dropped reply (Redis)', () => {
  const r = redisBehindCuttingProxy();
  const now = Date.now();

  it('counts one try once, and consumes the right code once with the answer of the first run', async () => {
    const store = createRedisOtpStore(r.viaProxy, { prefix: r.prefix });
    await store.putCode('c1', { codeHash: 'h1', createdAt: now, expiresAt: now + 300_000 }, now);
    r.proxy.arm();
    expect(await store.claimAttempt('c1', now, 5)).toEqual({ status: 'claimed', codeHash: 'h1' });
    expect(Number(await r.direct.hget(`${r.prefix}sms:code:c1`, 'att'))).toBe(1);
    r.proxy.arm();
    expect(await store.consume('c1', 'h1', now)).toBe(true);
    expect(r.proxy.cuts()).toBe(2);
    // Another call is another try, and the code is used.
    expect(await store.claimAttempt('c1', now, 5)).toEqual({ status: 'consumed' });
    expect(await store.consume('c1', 'h1', now)).toBe(false);
  });

  it('takes one send once: the last send a limit allows is not refused by its own resend', async () => {
    const store = createRedisOtpStore(r.viaProxy, { prefix: r.prefix });
    r.proxy.arm();
    expect(await store.take('t1', { max: 1, windowMs: 60_000 }, now)).toMatchObject({ ok: true });
    expect(r.proxy.cuts()).toBe(3);
    expect(await r.direct.zcard(`${r.prefix}sms:sends:t1`)).toBe(1);
    expect(await store.take('t1', { max: 1, windowMs: 60_000 }, now)).toMatchObject({ ok: false });
  });
});
