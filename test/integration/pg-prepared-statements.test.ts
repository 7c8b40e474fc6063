/**
 * The hand-written statements run as named prepared statements on PostgreSQL (src/storage/pg-leases.ts),
 * so the server plans each once per connection. What must still hold: a migration by another
 * instance that changes a table under a prepared plan costs no request, nor does a server (or a
 * pooler) that forgets the statements, and the rows read whole name every column of their table.
 */
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { statements } from '../../src/storage/statements.js';
import { ACCOUNT_COLUMNS } from '../../src/accounts/account-store.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';

describe('the accounts columns the hot statements name', () => {
  it('are every column of the migrated table (SQLite)', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const db = openDatabase({ dataDir: mkdtempSync(join(tmpdir(), 'yihao-columns-')) });
    try {
      await migrate(db);
      const columns = (await db.raw(`select name from pragma_table_info('accounts')`)) as { name: string }[];
      expect(columns.map((c) => c.name).sort()).toEqual([...ACCOUNT_COLUMNS].sort());
    } finally {
      await db.destroy();
    }
  });
});

describe.skipIf(!pgAvailable)('prepared statements on PostgreSQL', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let schema: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    const made = await createPgSchema();
    drop = made.drop;
    schema = made.schema;
    // A pool of two keeps one connection: every statement below runs on it, one after another.
    db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema, poolMax: 2, log: { warn: (m) => warnings.push(m), error: () => undefined } });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
  });

  it('are every column of the migrated accounts table', async () => {
    const rows = await db('information_schema.columns').where({ table_schema: schema, table_name: 'accounts' }).select('column_name');
    expect(rows.map((r: { column_name: string }) => r.column_name).sort()).toEqual([...ACCOUNT_COLUMNS].sort());
  });

  it('prepares each statement once on its connection', async () => {
    const sql = statements(db);
    for (let i = 0; i < 3; i++) expect(await sql.first('select ?::int as n', [i])).toEqual({ n: i });
    const prepared = await sql.all<{ name: string; statement: string }>('select name, statement from pg_prepared_statements where statement like ?', ['%as n%']);
    expect(prepared).toHaveLength(1);
    expect(prepared[0]!.name).toMatch(/^yihao_/);
  });

  it("answers a statement whose table another instance's migration changed under its plan", async () => {
    const sql = statements(db);
    await db.schema.createTable('prepared_probe', (t) => {
      t.string('id').primary();
      t.string('v');
    });
    await db('prepared_probe').insert({ id: 'a', v: 'x' });
    const read = () => sql.first<Record<string, unknown>>('select * from prepared_probe where id = ?', ['a']);
    expect(await read()).toEqual({ id: 'a', v: 'x' });
    // A column added under the prepared `select *`: its cached plan no longer has the result type.
    await db.schema.alterTable('prepared_probe', (t) => {
      t.string('w');
    });
    expect(await read()).toEqual({ id: 'a', v: 'x', w: null });
    expect(await read()).toEqual({ id: 'a', v: 'x', w: null });
  });

  it('goes on unnamed when the server forgets the statements it prepared', async () => {
    const sql = statements(db);
    const ask = (n: number) => sql.first<{ n: number }>('select ?::int + 1 as n', [n]);
    expect(await ask(1)).toEqual({ n: 2 });
    // What a pooler in transaction mode does: the next statement reaches a session without them.
    await sql.run('deallocate all', []);
    expect(await ask(2)).toEqual({ n: 3 });
    expect(await ask(3)).toEqual({ n: 4 });
    expect(warnings.some((w) => w.includes('no longer prepared by name'))).toBe(true);
    const prepared = await sql.all('select name from pg_prepared_statements', []);
    expect(prepared).toEqual([]);
  });
});
