import * as argon2 from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_PASSWORD, seedAccounts, seededCitizenId } from '../../bench/seed-accounts.js';
import { createCitizenIdVault, parseCitizenId } from '../../src/identity/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

// `npm run bench:scale` measures sign-ins against seeded accounts; they must be accounts a citizen could really sign in to.
describe('bench seeding: citizen IDs', () => {
  it('derives distinct, valid citizen IDs, also across the wrap from one sequence number to the next', () => {
    // 10 regions x 20,454 birth dates: the sequence number moves on at i = 204,540.
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);
    const indexes = [...range(0, 210_000), ...range(990_000, 1_000_000)];
    expect(new Set(indexes.map(seededCitizenId)).size).toBe(indexes.length);
    for (const i of [0, 1, 9, 10, 204_539, 204_540, 999_999]) expect(parseCitizenId(seededCitizenId(i))).toBe(seededCitizenId(i));
  });
});

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];

describe.each(backends)('bench seeding (%s)', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend });
    // Cheap parameters: argon2.verify reads them from the hash, and this test is about the rows.
    const hash = await argon2.hash(SEED_PASSWORD, { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 });
    await seedAccounts(h.yihao.stores.db, createCitizenIdVault(h.config.secrets), hash, 0, 250);
  });
  afterAll(() => h?.close());

  it('stores accounts that sign in with the seed password and open to their own citizen ID', async () => {
    for (const i of [0, 123, 249]) {
      const check = await h.yihao.accounts.verifyPassword(seededCitizenId(i), SEED_PASSWORD, '127.0.0.1');
      expect(check.ok).toBe(true);
      if (!check.ok) continue;
      expect(check.account.status).toBe('active');
      expect(check.account.citizenId()).toBe(seededCitizenId(i));
      expect((await h.yihao.accounts.findBySub(check.account.sub))?.id).toBe(check.account.id);
    }
    expect((await h.yihao.accounts.verifyPassword(seededCitizenId(250), SEED_PASSWORD, '127.0.0.1')).ok).toBe(false);
  });

  it('refuses a second account for a seeded citizen ID', async () => {
    await expect(h.yihao.accounts.create({ citizenId: seededCitizenId(7), name: '测试', password: 'another-password-1' })).rejects.toMatchObject({ code: 'duplicate_citizen_id' });
  });
});
