/**
 * The PostgreSQL suites' database (`test`, or TEST_DATABASE_URL) is made when the server has none,
 * instead of every suite failing with a stack trace; what cannot be fixed is said in one line.
 */
import { afterAll, describe, expect, it } from 'vitest';
import knexFactory from 'knex';
import { ensureTestDatabase, pgAvailable, PG_URL, uniqueName } from '../support/services.js';

const name = uniqueName('yihao_testdb');
const url = (() => {
  const u = new URL(PG_URL);
  u.pathname = `/${name}`;
  return u.href;
})();
const maintenance = knexFactory({ client: 'pg', connection: new URL('/postgres', PG_URL).href, pool: { min: 0, max: 1 } });
const exists = async () => ((await maintenance.raw('select 1 from pg_database where datname = ?', [name])) as { rows: unknown[] }).rows.length === 1;

describe.skipIf(!pgAvailable)('the tests’ PostgreSQL database', () => {
  afterAll(async () => {
    await maintenance.raw('drop database if exists ??', [name]);
    await maintenance.destroy();
  });

  it('is created when missing, and left alone when there', async () => {
    expect(await exists()).toBe(false);
    expect(await ensureTestDatabase(url)).toBeUndefined();
    expect(await exists()).toBe(true);
    expect(await ensureTestDatabase(url)).toBeUndefined();
    // Two test workers at once: neither fails.
    await maintenance.raw('drop database ??', [name]);
    expect(await Promise.all([ensureTestDatabase(url), ensureTestDatabase(url)])).toEqual([undefined, undefined]);
    expect(await exists()).toBe(true);
  });

  it('says in one line why a database it cannot make or enter is unusable', async () => {
    const stranger = new URL(url);
    stranger.username = 'no_such_role_here';
    const problem = await ensureTestDatabase(stranger.href);
    expect(problem).toMatch(/^cannot use database "[\w]+" \(28000: .*no_such_role_here/);
    expect(problem).not.toContain('\n');
  });
});
