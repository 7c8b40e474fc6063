/**
 * A network fault between Yihao and Redis must not turn a one-time step into a refusal. When a
 * connection drops after a script reached Redis but before its reply came back, ioredis sends it
 * again on the next connection and Redis runs it again: a code's consume then found the code
 * consumed (by itself) and the token request failed with invalid_grant, and a replay check found
 * the proof it had just recorded and called it a replay. Each call must answer as it did the first
 * time, while a second, different call of the same step is still refused.
 */
import { describe, expect, it } from 'vitest';
import { AlreadyConsumedError, ReplayDetectedError } from '../../src/storage/adapter-types.js';
import { redisAdapter } from '../../src/storage/redis-adapter.js';
import { redisBehindCuttingProxy, until } from '../support/cutting-proxy.js';
import { redisAvailable } from '../support/services.js';

describe.skipIf(!redisAvailable)('one-time steps resent after a dropped reply (Redis adapter)', () => {
  const r = redisBehindCuttingProxy();

  it('consumes a code once and answers as the first run did; a second consume is still refused', async () => {
    const Codes = new (redisAdapter(r.viaProxy, r.prefix))('AuthorizationCode');
    await Codes.upsert('code-1', { jti: 'code-1', grantId: 'g-1', kind: 'AuthorizationCode' }, 60);
    r.proxy.arm();
    await expect(Codes.consume('code-1')).resolves.toBeUndefined();
    expect(r.proxy.cuts()).toBe(1);
    expect(await Codes.find('code-1')).toMatchObject({ consumed: expect.any(Number) });
    await expect(Codes.consume('code-1')).rejects.toBeInstanceOf(AlreadyConsumedError);
  });

  it('records a proof once and answers as the first run did; the same proof again is still a replay', async () => {
    const Replays = new (redisAdapter(r.viaProxy, r.prefix))('ReplayDetection');
    r.proxy.arm();
    await expect(Replays.upsert('jti-1', { jti: 'jti-1', iat: 1 }, 60)).resolves.toBeUndefined();
    expect(r.proxy.cuts()).toBe(2);
    await expect(Replays.upsert('jti-1', { jti: 'jti-1', iat: 1 }, 60)).rejects.toBeInstanceOf(ReplayDetectedError);
  });
});

/**
 * A stalled path to Redis (a fail-over, a slow master): the token request gives up on the code's
 * consume and answers 503 without issuing anything, but Redis runs the consume once the path
 * clears. The relying party's retry then finds the code used, and oidc-provider takes it for a
 * replayed code: invalid_grant, and the grant's tokens revoked. The citizen has to sign in again.
 */
describe.skipIf(!redisAvailable)('a consume that arrives after the caller gave up (Redis adapter)', () => {
  const r = redisBehindCuttingProxy();

  it('gives the code back, so that the retry of the token request can use it, once', async () => {
    const Codes = new (redisAdapter(r.impatient, r.prefix))('AuthorizationCode');
    const Patient = new (redisAdapter(r.viaProxy, r.prefix))('AuthorizationCode');
    await Patient.upsert('code-2', { jti: 'code-2', grantId: 'g-2', kind: 'AuthorizationCode' }, 60);
    r.proxy.hold(700);
    await expect(Codes.consume('code-2')).rejects.toThrow();
    r.proxy.hold(0);
    // The consume reaches Redis 700 ms after it was sent, long after the caller gave up.
    await new Promise((s) => setTimeout(s, 1_000));
    await until(async () => (await r.direct.hget(`${r.prefix}{oidc}:AuthorizationCode:code-2`, 'consumed')) === null);
    expect(await Patient.find('code-2')).not.toHaveProperty('consumed');
    await expect(Patient.consume('code-2')).resolves.toBeUndefined();
    await expect(Patient.consume('code-2')).rejects.toBeInstanceOf(AlreadyConsumedError);
  });
});
