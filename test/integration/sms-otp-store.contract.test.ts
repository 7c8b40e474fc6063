import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisOtpStore, createSqlOtpStore, type OtpStore } from '../../src/sms/index.js';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import type { Redis } from 'ioredis';
import { openRedis } from '../../src/storage/redis.js';
import { PG_URL, REDIS_URL, createPgSchema, pgAvailable, redisAvailable, uniqueName } from '../support/services.js';

/** One backend, reachable through two independent connections (two instances of the server). */
interface Backend {
  store: OtpStore;
  other: OtpStore;
  db?: Database;
  close(): Promise<void>;
}

async function openSqlite(): Promise<Backend> {
  const dataDir = await mkdtemp(join(tmpdir(), 'yihao-sms-store-'));
  const db = openDatabase({ dataDir });
  await migrate(db);
  const second = openDatabase({ dataDir });
  return {
    store: createSqlOtpStore(db),
    other: createSqlOtpStore(second),
    db,
    async close() {
      await db.destroy();
      await second.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const pg = await createPgSchema();
  const db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: pg.schema, poolMax: 5 });
  await migrate(db);
  const second = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: pg.schema, poolMax: 5 });
  return {
    store: createSqlOtpStore(db),
    other: createSqlOtpStore(second),
    db,
    async close() {
      await db.destroy();
      await second.destroy();
      await pg.drop();
    },
  };
}

async function deleteRedisKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 200 }) as AsyncIterable<string[]>) {
    if (keys.length) await redis.del(...keys);
  }
}

async function openRedisBackend(): Promise<Backend> {
  const prefix = `${uniqueName('yihao_sms_test')}:`;
  const a = openRedis(REDIS_URL);
  const b = openRedis(REDIS_URL);
  return {
    store: createRedisOtpStore(a, { prefix }),
    other: createRedisOtpStore(b, { prefix }),
    async close() {
      await deleteRedisKeys(a, prefix);
      await a.quit();
      await b.quit();
    },
  };
}

const backends = [
  { name: 'sqlite', enabled: true, sql: true, open: openSqlite },
  { name: 'postgres', enabled: pgAvailable, sql: true, open: openPostgres },
  { name: 'redis', enabled: redisAvailable, sql: false, open: openRedisBackend },
];

const newKey = () => randomBytes(32).toString('base64url');
const T0 = Date.UTC(2026, 10, 30, 8, 0, 0);
const MINUTE = 60_000;
const code = (hash: string, at = T0) => ({ codeHash: hash, createdAt: at, expiresAt: at + 5 * MINUTE });

describe.each(backends)('SMS code store contract ($name)', ({ enabled, sql, open }) => {
  let b: Backend;
  beforeAll(async () => {
    if (enabled) b = await open();
  });
  afterAll(async () => b?.close());

  describe.skipIf(!enabled)('codes', () => {
    it('says missing for a key that holds no code', async () => {
      expect(await b.store.claimAttempt(newKey(), T0, 5)).toEqual({ status: 'missing' });
      expect(await b.store.consume(newKey(), 'h', T0)).toBe(false);
    });

    it('claims an attempt on a live code and hands back its hash; consuming works once', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      expect(await b.store.claimAttempt(key, T0 + 1000, 5)).toEqual({ status: 'claimed', codeHash: 'hash-1' });
      expect(await b.store.consume(key, 'hash-1', T0 + 1000)).toBe(true);
      expect(await b.store.consume(key, 'hash-1', T0 + 1000)).toBe(false);
      expect(await b.store.claimAttempt(key, T0 + 2000, 5)).toEqual({ status: 'consumed' });
    });

    it('consumes only the code with the given hash', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      expect(await b.store.consume(key, 'hash-other', T0)).toBe(false);
      expect(await b.store.claimAttempt(key, T0, 5)).toMatchObject({ status: 'claimed' });
    });

    it('counts attempts up to the maximum, then says exhausted without counting more', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      for (let i = 0; i < 5; i++) expect((await b.store.claimAttempt(key, T0, 5)).status).toBe('claimed');
      expect(await b.store.claimAttempt(key, T0, 5)).toEqual({ status: 'exhausted' });
      expect(await b.store.claimAttempt(key, T0, 5)).toEqual({ status: 'exhausted' });
      // Raising the limit shows that the count stopped at 5: exactly one more is allowed under 6.
      expect((await b.store.claimAttempt(key, T0, 6)).status).toBe('claimed');
      expect((await b.store.claimAttempt(key, T0, 6)).status).toBe('exhausted');
    });

    it('says expired from the expiry time on, and keeps saying it (not missing)', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      expect((await b.store.claimAttempt(key, T0 + 5 * MINUTE - 1, 5)).status).toBe('claimed');
      expect(await b.store.claimAttempt(key, T0 + 5 * MINUTE, 5)).toEqual({ status: 'expired' });
      expect(await b.store.claimAttempt(key, T0 + 30 * MINUTE, 5)).toEqual({ status: 'expired' });
    });

    it('replaces a code: the new one starts with no attempts, and the old hash can no longer be consumed', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      for (let i = 0; i < 5; i++) await b.store.claimAttempt(key, T0, 5);
      await b.store.putCode(key, code('hash-2', T0 + MINUTE), T0 + MINUTE);
      expect(await b.store.consume(key, 'hash-1', T0 + MINUTE)).toBe(false);
      expect(await b.store.claimAttempt(key, T0 + MINUTE, 5)).toEqual({ status: 'claimed', codeHash: 'hash-2' });
      expect(await b.store.consume(key, 'hash-2', T0 + MINUTE)).toBe(true);
      await b.store.putCode(key, code('hash-3', T0 + 2 * MINUTE), T0 + 2 * MINUTE);
      expect(await b.store.claimAttempt(key, T0 + 2 * MINUTE, 5)).toEqual({ status: 'claimed', codeHash: 'hash-3' });
    });

    it('never counts more than the maximum attempts, even from two instances at once', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      const claims = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 ? b.store : b.other).claimAttempt(key, T0, 5)));
      expect(claims.filter((c) => c.status === 'claimed')).toHaveLength(5);
      expect(claims.filter((c) => c.status === 'exhausted')).toHaveLength(19);
    });

    it('lets exactly one of many concurrent consumers use a code', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      const won = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? b.store : b.other).consume(key, 'hash-1', T0)));
      expect(won.filter(Boolean)).toHaveLength(1);
    });

    it('keeps live codes when swept', async () => {
      const key = newKey();
      await b.store.putCode(key, code('hash-1'), T0);
      await b.store.sweep(T0 + MINUTE);
      expect((await b.store.claimAttempt(key, T0 + MINUTE, 5)).status).toBe('claimed');
    });
  });

  describe.skipIf(!enabled)('rolling-window throttles', () => {
    const limit = { max: 3, windowMs: 10_000 };

    it('hands out max slots per window, then says when the oldest leaves it', async () => {
      const key = newKey();
      for (const t of [0, 1000, 2000]) expect((await b.store.take(key, limit, T0 + t)).ok).toBe(true);
      expect(await b.store.take(key, limit, T0 + 2500)).toEqual({ ok: false, retryAfterMs: 7500 });
      // Rolling, not fixed: at T0+10s the first send has left the window, the second has not.
      expect((await b.store.take(key, limit, T0 + 10_000)).ok).toBe(true);
      expect(await b.store.take(key, limit, T0 + 10_500)).toEqual({ ok: false, retryAfterMs: 500 });
      expect((await b.store.take(key, limit, T0 + 11_000)).ok).toBe(true);
    });

    it('keeps keys apart', async () => {
      const [k1, k2] = [newKey(), newKey()];
      expect((await b.store.take(k1, { max: 1, windowMs: 60_000 }, T0)).ok).toBe(true);
      expect((await b.store.take(k1, { max: 1, windowMs: 60_000 }, T0)).ok).toBe(false);
      expect((await b.store.take(k2, { max: 1, windowMs: 60_000 }, T0)).ok).toBe(true);
    });

    it('gives a released slot back', async () => {
      const key = newKey();
      const first = await b.store.take(key, { max: 1, windowMs: 60_000 }, T0);
      expect(first.ok).toBe(true);
      expect((await b.store.take(key, { max: 1, windowMs: 60_000 }, T0 + 1)).ok).toBe(false);
      if (first.ok) await first.release();
      expect((await b.store.take(key, { max: 1, windowMs: 60_000 }, T0 + 2)).ok).toBe(true);
    });

    it('never hands out more than max slots to concurrent takers on two instances', async () => {
      const key = newKey();
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? b.store : b.other).take(key, { max: 5, windowMs: 60_000 }, T0 + i)));
      expect(results.filter((r) => r.ok)).toHaveLength(5);
    });

    it('works with the largest limit the configuration allows (1000 sends per window)', async () => {
      const key = newKey();
      const big = { max: 1000, windowMs: 60_000 };
      for (let i = 0; i < 3; i++) expect((await b.store.take(key, big, T0 + i)).ok).toBe(true);
    });

    it('keeps counting sends inside their window when swept', async () => {
      const key = newKey();
      await b.store.take(key, { max: 1, windowMs: 60_000 }, T0);
      await b.store.sweep(T0 + 30_000);
      expect((await b.store.take(key, { max: 1, windowMs: 60_000 }, T0 + 30_000)).ok).toBe(false);
    });
  });

  it.skipIf(!enabled || !sql)('SQL: sweeping removes codes past their retention and sends past their window', async () => {
    // (Redis expires both natively.)
    const key = newKey();
    await b.store.putCode(key, code('hash-1'), T0);
    await b.store.take(key, { max: 2, windowMs: 60_000 }, T0);
    expect(await b.store.sweep(T0 + 2 * 60 * MINUTE)).toBeGreaterThanOrEqual(3);
    expect(await b.store.claimAttempt(key, T0 + 2 * 60 * MINUTE, 5)).toEqual({ status: 'missing' });
    expect(await b.db!('sms_sends').where({ key })).toEqual([]);
  });
});
