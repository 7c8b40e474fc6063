import { describe, expect, it } from 'vitest';
import { createPasswordHasher, isOverloaded, storedHashWithin } from '../../src/accounts/password-hasher.js';
import { mallocArenasUnbounded } from '../../src/accounts/malloc-arenas.js';

// config/default.json's cost: the tests run what production runs.
const settings = { memoryKiB: 19456, iterations: 2, parallelism: 1, maxConcurrent: 2, maxQueued: 50 };
const password = 'correct horse battery staple';

// Made by the `argon2` package (node-argon2 0.45), which Yihao used before @node-rs/argon2, as rows in
// the accounts table hold them.
const storedBefore = {
  argon2idDefault: '$argon2id$v=19$m=19456,p=1,t=2$wDlM5jDF2xVp/Zzx0KbGFQ$V5yvJDA4w9Z+xEC/rZ3CbJyy8QV4WKE6oe1E6I9HGyI',
  argon2iOtherCost: '$argon2i$v=19$m=19456,p=1,t=3$roZW0lL5WmzvCM8JoQl5wQ$g4UFaonH7uUUB2uYqn7w5GWrMoG/Jm2PsVrGw9D79ZI',
  argon2dV19: '$argon2d$v=19$m=19456,p=1,t=2$D4b10L4zWG3KN+6AcuDvvQ$hkXvyGG4cQchbCSScDQTpLNQunoCtWtYEFPgOnXiU2s',
  argon2idP2: '$argon2id$v=19$m=19456,p=2,t=2$fz1ACnXBmBgCs+xk36b0VA$fMTHczs0u5K4e53uwKm3QknsgI7BLaYL7Qw9RC/4gig',
  argon2idV16: '$argon2id$v=16$m=19456,p=1,t=2$ddxEFOjbnH3jZnklC8DxsQ$5u0JZ2bAqG3WAzDt5ZsFdtRJ2cQPsrVCw9/Rk62rFPI',
  argon2idLongHash:
    '$argon2id$v=19$m=19456,p=1,t=2$xgb7kx/cETrLrXp62fL+NQ$W7Q+IN4IEZQfsh4k+K5baBljfBim9yiDBVG+G0zEb8JKjuKJtSt0SKGyss+tMqYs4C74rm4x1rKU69UGMQ/KMg',
  argon2idAssociatedData: '$argon2id$v=19$m=19456,p=1,t=2,data=eWloYW8tYXNzb2NpYXRlZC1kYXRh$c0pOqEp+8ZPswVHJTRM+hQ$ewHjuv22vcja0KeWzZQ89OBTdoyE9lA3jWBlaBq81TQ',
};

/** Samples the hasher's load on every turn of the event loop until `work` settles. */
async function watchLoad<T>(hasher: ReturnType<typeof createPasswordHasher>, work: Promise<T>) {
  let maxRunning = 0;
  let settled = false;
  const done = work.finally(() => (settled = true));
  while (!settled) {
    maxRunning = Math.max(maxRunning, hasher.load().running);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { result: await done, maxRunning };
}

describe('password hasher', () => {
  const hasher = createPasswordHasher(settings);

  it('hashes as argon2id at the configured cost and verifies the password it hashed', async () => {
    const hash = await hasher.hash(password);
    // The PHC string's own order (m, t, p); node-argon2 wrote m, p, t, and both are read (below).
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await hasher.verify(hash, password)).toBe(true);
  });

  it('refuses a wrong password', async () => {
    const hash = await hasher.hash(password);
    expect(await hasher.verify(hash, `${password}!`)).toBe(false);
    expect(await hasher.verify(hash, '')).toBe(false);
  });

  it('still verifies the hashes that existing rows hold, of other types and costs', async () => {
    for (const stored of Object.values(storedBefore)) {
      expect(await hasher.verify(stored, password)).toBe(true);
      expect(await hasher.verify(stored, 'Correct horse battery staple')).toBe(false);
    }
  });

  it('treats a malformed stored hash as a failed check, never a throw', async () => {
    const good = storedBefore.argon2idDefault;
    const malformed = [
      '',
      'not-a-hash',
      good.slice(0, 40), // truncated
      good.replace('$argon2id$', '$argon2x$'),
      good.replace('m=19456', 'm=0'),
      good.replace('t=2', 't=0'),
      good.replace(/\$[^$]+$/, '$%%%'), // digest not base64
      '$2b$10$abcdefghijklmnopqrstuuJ0123456789abcdefghijklmnopqrst', // bcrypt
    ];
    for (const stored of malformed) expect(await hasher.verify(stored, password), stored).toBe(false);
  });

  it('refuses a stored hash whose cost would hang the queue or exhaust memory, after only a decoy check', async () => {
    const good = storedBefore.argon2idDefault;
    const ruinous = [
      good.replace('t=2', 't=-1'), // read by argon2 as 2^32-1 passes: a slot held for days
      good.replace('t=2', 't=4294967295'),
      good.replace('m=19456', 'm=4194304'), // 4 GiB
      good.replace('m=19456', 'm=1048576').replace('t=2', 't=1'), // 1 GiB, beyond 16x the configured memory
      good.replace('t=2', 't=64'), // 32x the configured work
      good.replace('p=1', 'p=255'),
    ];
    for (const stored of ruinous) expect(await hasher.verify(stored, password), stored).toBe(false);
    // Up to 16x the configured cost is still checked: rows made under a higher setting keep working.
    const costlier = createPasswordHasher({ ...settings, memoryKiB: 19456 * 2, iterations: 4 });
    expect(await hasher.verify(await costlier.hash(password), password)).toBe(true);
  });

  it('bounds passes on their own: a tiny memory with many passes and lanes is no cheaper to check than m·t says', () => {
    const within = storedHashWithin(settings);
    const good = storedBefore.argon2idDefault;
    // m·t within 16x the configured work, but each pass costs per lane: half a second or more a check.
    expect(within(good.replace('m=19456,p=1,t=2', 'm=128,p=16,t=4864'))).toBe(false);
    expect(within(good.replace('m=19456,p=1,t=2', 'm=1024,p=16,t=608'))).toBe(false);
    expect(within(good.replace('t=2', 't=33'))).toBe(false);
    // Rows made under a costlier setting (up to 16x) are still checked, in any parameter order.
    expect(within(good.replace('t=2', 't=32'))).toBe(true);
    expect(within('$argon2id$v=19$m=38912,t=4,p=1$c2FsdHNhbHRzYWx0$ZGlnZXN0ZGlnZXN0ZGlnZXN0')).toBe(true);
    for (const stored of Object.values(storedBefore)) expect(within(stored), stored).toBe(true);
  });

  it('answers an unknown identifier with a real, failed verify (verifyNothing)', async () => {
    expect(await hasher.verifyNothing(password)).toBe(false);
    expect(await hasher.verifyNothing('decoy-password-never-matches')).toBe(false);
  });

  it('never runs more than maxConcurrent hashes at once: the rest wait in its own queue', async () => {
    const hasher = createPasswordHasher(settings); // no decoy yet: verifyNothing queues its making
    const hash = storedBefore.argon2idDefault;
    const checks = [
      ...Array.from({ length: 5 }, (_, i) => hasher.verify(hash, i % 2 ? password : 'wrong')),
      hasher.hash(password),
      hasher.verifyNothing(password),
    ];
    expect(hasher.load()).toEqual({ running: 2, queued: 5, maxConcurrent: 2, maxQueued: 50 });
    const { result, maxRunning } = await watchLoad(hasher, Promise.all(checks));
    expect(maxRunning).toBe(2);
    expect(result.slice(0, 5)).toEqual([false, true, false, true, false]);
    expect(await hasher.verify(result[5] as string, password)).toBe(true);
    expect(result[6]).toBe(false);
    expect(hasher.load()).toMatchObject({ running: 0, queued: 0 });
  });

  it('sheds past maxQueued: refused at once with a Retry-After, and a reserved place holds its turn until spent or released', async () => {
    const small = createPasswordHasher({ ...settings, maxConcurrent: 1, maxQueued: 2 });
    const place = small.reserve(); // a sign-in admitted, still counting its guess
    const work = [small.hash(password), small.verify(storedBefore.argon2idDefault, password)];
    expect(small.load()).toMatchObject({ running: 1, queued: 2 });
    const refused = await small.hash(password).catch((e: unknown) => e);
    expect(isOverloaded(refused) && refused.status === 503 && refused.retryAfterSeconds >= 1).toBe(true);
    expect(() => small.reserve()).toThrow(/busy/);
    place.release();
    place.release(); // idempotent
    const next = small.reserve();
    expect(await next.verify(storedBefore.argon2idDefault, password)).toBe(true);
    await Promise.all(work);
    await expect(next.hash(password)).rejects.toThrow(/spent once/);
    expect(small.load()).toEqual({ running: 0, queued: 0, maxConcurrent: 1, maxQueued: 2 });
  });

  it('runs one hash at a time when maxConcurrent is 1, including the decoy for verifyNothing', async () => {
    const single = createPasswordHasher({ ...settings, maxConcurrent: 1 });
    const work = Promise.all([single.verifyNothing(password), single.verify(storedBefore.argon2idDefault, password), single.hash(password)]);
    const { result, maxRunning } = await watchLoad(single, work);
    expect(maxRunning).toBe(1);
    expect(result.slice(0, 2)).toEqual([false, true]);
  });
});

describe('malloc arenas', () => {
  it('are unbounded on glibc unless MALLOC_ARENA_MAX or the glibc tunable bounds them', () => {
    expect(mallocArenasUnbounded({}, '2.36')).toBe(true);
    expect(mallocArenasUnbounded({ MALLOC_ARENA_MAX: '' }, '2.36')).toBe(true);
    expect(mallocArenasUnbounded({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }, '2.36')).toBe(true);
    expect(mallocArenasUnbounded({ MALLOC_ARENA_MAX: '1' }, '2.36')).toBe(false);
    expect(mallocArenasUnbounded({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1' }, '2.36')).toBe(false);
  });

  it('are not a concern where the process does not run on glibc', () => {
    expect(mallocArenasUnbounded({}, undefined)).toBe(false);
  });

});
