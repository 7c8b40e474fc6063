/**
 * The hand-written statements on SQLite (src/storage/statements.ts) use the pool's one connection
 * without acquiring it when nobody holds it. A statement issued while a transaction holds the
 * connection must still wait for it: run inside it, a write would be rolled back with it, and a
 * read would see what it had not committed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { statements } from '../../src/storage/statements.js';

describe('hand-written statements on SQLite', () => {
  let dir: string;
  let db: Database;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-statements-'));
    db = openDatabase({ dataDir: dir });
    await db.schema.createTable('kv', (t) => t.string('k').primary());
  });
  afterAll(async () => {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('waits for a transaction that holds the connection: its write is not rolled back with it, and its read sees nothing uncommitted', async () => {
    const sql = statements(db);
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const rolledBack = db
      .transaction(async (trx) => {
        await trx('kv').insert({ k: 'uncommitted' });
        opened();
        await finished;
        throw new Error('rolled back');
      })
      .catch((e: Error) => e.message);
    await open;
    // Issued while the transaction is open and holds the connection.
    const write = sql.run(`insert into kv (k) values (?)`, ['outside']);
    const read = sql.first<{ n: number }>(`select count(*) as n from kv where k = ?`, ['uncommitted']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    finish();
    expect(await rolledBack).toBe('rolled back');
    expect(await write).toBe(1);
    expect((await read)?.n).toBe(0);
    expect((await db('kv').select('k')).map((r: { k: string }) => r.k)).toEqual(['outside']);
    // With the connection idle again, statements run at once.
    expect((await sql.first<{ n: number }>(`select count(*) as n from kv`, []))?.n).toBe(1);
  });
});
