/**
 * The hand-written statements keep connections of knex's pool between statements on PostgreSQL
 * (src/storage/pg-leases.ts). What they must not do with them: hold more than half the pool, keep
 * using one the server has closed, or hold one past shutdown or past a second of quiet.
 */
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { statements } from '../../src/storage/statements.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';

interface TarnPool {
  numUsed(): number;
  numFree(): number;
}

describe.skipIf(!pgAvailable)('kept PostgreSQL connections', () => {
  let db: Database;
  let admin: Database;
  let drop: () => Promise<void>;
  const pool = () => (db.client as { pool: TarnPool }).pool;

  beforeAll(async () => {
    const schema = await createPgSchema();
    drop = schema.drop;
    db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: schema.schema, poolMax: 4 });
    await migrate(db);
    admin = openDatabase({ url: PG_URL, dataDir: tmpdir(), poolMax: 1 });
  });
  afterAll(async () => {
    await admin?.destroy();
    await db?.destroy();
    await drop?.();
  });

  const pid = async (sql: ReturnType<typeof statements>) => (await sql.first<{ pid: number }>('select pg_backend_pid() as pid', []))!.pid;

  it('keeps at most half the pool, however many statements run at once, and leaves the rest to transactions', async () => {
    const sql = statements(db);
    const pids = await Promise.all(Array.from({ length: 12 }, () => pid(sql)));
    expect(new Set(pids).size).toBeGreaterThanOrEqual(1);
    // Kept ones are used by the statements; the pool has the rest (4 at most) for everyone else.
    expect(pool().numUsed()).toBeLessThanOrEqual(2);
    await db.transaction(async (trx) => {
      await trx.raw('select 1');
      await Promise.all([pid(sql), pid(sql)]);
    });
    // A statement after the transaction is served by a kept connection again.
    expect(await pid(sql)).toBeTypeOf('number');
  });

  it('stops using a connection the server closed: the next statements run on a fresh one', async () => {
    const sql = statements(db);
    const before = await pid(sql);
    await admin.raw('select pg_terminate_backend(?)', [before]);
    // The server's notice arrives on its own time: a statement sent before it may fail, as it
    // would have on a pooled connection; the ones after it must not.
    let after: number | undefined;
    for (let i = 0; i < 20 && after === undefined; i++) {
      after = await pid(sql).catch(() => undefined);
      if (after === undefined) await sleep(50);
    }
    expect(after).toBeTypeOf('number');
    expect(after).not.toBe(before);
    for (let i = 0; i < 5; i++) expect(await pid(sql)).not.toBe(before);
  });

  it('gives kept connections back to the pool after a quiet second, and on shutdown', { timeout: 30_000 }, async () => {
    const sql = statements(db);
    await Promise.all([pid(sql), pid(sql)]);
    expect(pool().numUsed()).toBeGreaterThan(0);
    // Back within about two seconds; polled, with room for a loaded machine's late timers.
    const until = Date.now() + 15_000;
    while (pool().numUsed() > 0 && Date.now() < until) await sleep(100);
    expect(pool().numUsed()).toBe(0);

    const other = openDatabase({ url: PG_URL, dataDir: tmpdir(), poolMax: 2 });
    await pid(statements(other));
    // Resolves (the pool waits for every used connection): nothing kept holds it open.
    await other.destroy();
  });
});
