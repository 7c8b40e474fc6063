/**
 * Attacks on src/storage/pg-named-statement.ts: its kept result shapes and its re-plans (at a
 * statement's 50th run on a connection, then at each fourfold growth). Each test asserts the safe
 * behaviour and fails when the attack works. The A tests (a run that fails after its Parse
 * succeeded, then a mislabelled or mistyped row) and E2 (a column named `__proto__`) failed before
 * their fixes.
 */
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNamedStatement, type StatementClient } from '../../src/storage/pg-named-statement.js';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { statements } from '../../src/storage/statements.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';

const pg = createRequire(import.meta.url)('pg') as typeof import('pg');
type Client = import('pg').Client & StatementClient;

describe.skipIf(!pgAvailable)('prepared statements under attack (pg-named-statement)', () => {
  let drop: () => Promise<void>;
  let schema: string;
  const clients: import('pg').Client[] = [];
  const dbs: Database[] = [];

  async function connect(): Promise<Client> {
    const client = new pg.Client({ connectionString: PG_URL }) as Client;
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    await client.query(`set search_path to ${schema}`);
    return client;
  }
  const conn = (c: Client) => (c as unknown as { connection: { parsedStatements: Record<string, string>; submittedNamedStatements: Record<string, string> } }).connection;
  const settle = <T>(p: Promise<T>) => p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e: e as { code?: string; message: string } }));

  beforeAll(async () => {
    const made = await createPgSchema();
    drop = made.drop;
    schema = made.schema;
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    for (const d of dbs) await d.destroy().catch(() => undefined);
    await drop?.();
  });

  /** Runs `name` until its next run is the re-plan run (run 50). */
  async function upTo49(c: Client, name: string, text: string, values: unknown[]) {
    for (let i = 1; i <= 49; i++) await runNamedStatement(c, name, text, values);
  }

  for (const stage of ['execution', 'bind'] as const) {
    it(`A-${stage}: columns reordered (drop+add) before run 50, run 50 fails at ${stage}: run 51 must not mislabel columns`, async () => {
      const c = await connect();
      const t = `swap_${stage}`;
      await c.query(`create table ${t} (id int primary key, a text, b text)`);
      await c.query(`insert into ${t} values (1, 'A', 'B')`);
      const text = `select * from ${t} where id = $1 and 1 / $2::int > 0`;
      const name = `rv_swap_${stage}`;
      await upTo49(c, name, text, [1, 1]);
      expect((await runNamedStatement(c, name, text, [1, 1])).rows).toBeDefined(); // run 50? no: this is run 50
      // ^ that was run 50 (re-planned fine). Get to the next re-plan run: 200 (50*4).
      for (let i = 51; i <= 199; i++) await runNamedStatement(c, name, text, [1, 1]);
      // Schema change: select * now returns (id, b, a).
      await c.query(`alter table ${t} drop column a`);
      await c.query(`alter table ${t} add column a text`);
      await c.query(`update ${t} set a = 'A'`);
      // Run 200 re-plans (Close + Parse + Bind + Describe + Execute) and fails.
      const bad = stage === 'execution' ? [1, 0] : ['not-an-int', 1];
      const failed = await settle(runNamedStatement(c, name, text, bad));
      expect(failed.ok).toBe(false);
      // Run 201: whatever comes back must be right (or an error), never a mislabelled row.
      const next = await settle(runNamedStatement(c, name, text, [1, 1]));
      if (next.ok) expect(next.v.rows).toEqual([{ id: 1, b: 'B', a: 'A' }].map((r) => ({ ...r })));
      if (next.ok) expect(next.v.rows[0]).toMatchObject({ a: 'A', b: 'B' });
    });
  }

  it('A-type: a column type change (int -> text) before a re-plan that fails at execution: the next run does not parse with the old parser', async () => {
    const c = await connect();
    await c.query(`create table typed (id int primary key, n int)`);
    await c.query(`insert into typed values (1, 5)`);
    const text = `select n from typed where id = $1 and 1 / $2::int > 0`;
    const name = 'rv_typed';
    await upTo49(c, name, text, [1, 1]);
    await c.query(`alter table typed alter column n type text using n::text`);
    const failed = await settle(runNamedStatement(c, name, text, [1, 0]));
    expect(failed.ok).toBe(false);
    const next = await settle(runNamedStatement(c, name, text, [1, 1]));
    const ref = await c.query({ text, values: [1, 1] });
    if (next.ok) expect(next.v.rows).toEqual(ref.rows); // [{ n: '5' }]
  });

  it('A-leases: the same through statements(db): a bad parameter at the 50th run, and the next read is not mislabelled', { timeout: 30_000 }, async () => {
    const made = await createPgSchema();
    const db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: made.schema, poolMax: 2 });
    dbs.push(db);
    const ddl = await connect();
    const q = `${made.schema}.pairs`;
    await ddl.query(`create table ${q} (id int primary key, a text, b text)`);
    await ddl.query(`insert into ${q} values (1, 'A', 'B')`);
    const s = statements(db);
    const sql = 'select * from pairs where id = ?';
    for (let i = 1; i <= 49; i++) await s.first(sql, [1]); // one kept connection (poolMax 2 -> max 1)
    await ddl.query(`alter table ${q} drop column a`);
    await ddl.query(`alter table ${q} add column a text`);
    await ddl.query(`update ${q} set a = 'A'`);
    // 50th run: a malformed id from a request fails at Bind (22P02), after the re-plan's Parse succeeded.
    expect((await settle(s.first(sql, ['x']))).ok).toBe(false);
    // The connection went back to the pool usable (a statement error) and comes back to the leases.
    const row = await s.first<{ a: string; b: string }>(sql, [1]);
    expect(row).toMatchObject({ a: 'A', b: 'B' });
    await made.drop().catch(() => undefined);
  });

  it('B: errors at parse / bind / execution at the re-plan run leave consistent bookkeeping and right answers', async () => {
    const c = await connect();
    await c.query(`create table b_t (id int primary key, v text)`);
    await c.query(`insert into b_t select g, 'v' || g from generate_series(1, 5) g`);
    const text = 'select v from b_t where id = $1 and 1 / $2::int > 0';
    // execution error at 50
    await upTo49(c, 'rv_b_exec', text, [1, 1]);
    expect((await settle(runNamedStatement(c, 'rv_b_exec', text, [1, 0]))).ok).toBe(false);
    for (let i = 0; i < 300; i++) expect((await runNamedStatement(c, 'rv_b_exec', text, [(i % 5) + 1, 1])).rows).toEqual([{ v: `v${(i % 5) + 1}` }]);
    // bind error at 50
    await upTo49(c, 'rv_b_bind', text, [1, 1]);
    expect((await settle(runNamedStatement(c, 'rv_b_bind', text, ['zz', 1]))).ok).toBe(false);
    for (let i = 0; i < 300; i++) expect((await runNamedStatement(c, 'rv_b_bind', text, [2, 1])).rows).toEqual([{ v: 'v2' }]);
    // parse error at 50 (table renamed away), then back
    const t2 = 'select v from b_t where id = $1';
    await upTo49(c, 'rv_b_parse', t2, [3]);
    await c.query('alter table b_t rename to b_t_gone');
    const e = await settle(runNamedStatement(c, 'rv_b_parse', t2, [3]));
    expect(e.ok).toBe(false);
    expect(e.ok ? '' : e.e.code).toBe('42P01');
    await c.query('alter table b_t_gone rename to b_t');
    for (let i = 0; i < 300; i++) expect((await runNamedStatement(c, 'rv_b_parse', t2, [3])).rows).toEqual([{ v: 'v3' }]);
    expect(conn(c).submittedNamedStatements).toEqual({});
    const server = await c.query(`select name from pg_prepared_statements where name like 'rv_b_%' order by name`);
    expect(server.rows.map((r) => r.name)).toEqual(['rv_b_bind', 'rv_b_exec', 'rv_b_parse']);
    expect(Object.keys(conn(c).parsedStatements).filter((n) => n.startsWith('rv_b_')).sort()).toEqual(['rv_b_bind', 'rv_b_exec', 'rv_b_parse']);
  });

  it('C: many queued statements on one client across re-plans all answer right', { timeout: 30_000 }, async () => {
    const c = await connect();
    await c.query(`create table c_t (id int primary key, v text)`);
    await c.query(`insert into c_t select g, 'v' || g from generate_series(1, 50) g`);
    const texts = ['select v from c_t where id = $1', 'select id, v from c_t where id = $1', 'update c_t set v = v where id = $1', 'select v as w, id as k from c_t where id <= $1 order by id'];
    const all: Promise<void>[] = [];
    for (let i = 0; i < 4000; i++) {
      const k = i % 4;
      const id = (i % 50) + 1;
      all.push(
        runNamedStatement(c, `rv_c_${k}`, texts[k]!, [id]).then((r) => {
          if (k === 0) expect(r.rows).toEqual([{ v: `v${id}` }]);
          if (k === 1) expect(r.rows).toEqual([{ id, v: `v${id}` }]);
          if (k === 2) expect(r).toEqual({ rows: [], rowCount: 1 });
          if (k === 3) {
            expect(r.rows.length).toBe(id);
            expect(r.rows[id - 1]).toEqual({ w: `v${id}`, k: id });
          }
        }),
      );
    }
    await Promise.all(all);
  });

  it('D: backend terminated at the re-plan run: fails, no hang', async () => {
    const c = await connect();
    const admin = await connect();
    const pid = (await c.query('select pg_backend_pid() as p')).rows[0].p as number;
    const text = 'select pg_sleep($1::float8) is null as x';
    await upTo49(c, 'rv_d', text, [0]);
    const p = settle(runNamedStatement(c, 'rv_d', text, [2]));
    await new Promise((r) => setTimeout(r, 300));
    await admin.query('select pg_terminate_backend($1)', [pid]);
    const r = await Promise.race([p, new Promise((r) => setTimeout(() => r('hang'), 5000))]);
    expect(r).not.toBe('hang');
    expect((r as { ok: boolean }).ok).toBe(false);
    // and a queued statement after it also fails instead of hanging
    const q = await Promise.race([settle(runNamedStatement(c, 'rv_d', text, [0])), new Promise((r) => setTimeout(() => r('hang'), 3000))]);
    expect(q).not.toBe('hang');
  });

  it('E: rowCount and rows equal node-postgres for many command kinds, first run and cached runs', async () => {
    const c = await connect();
    await c.query(`create table e_t (id serial primary key, v int)`);
    const cases: [string, unknown[]][] = [
      ['insert into e_t (v) select g from generate_series(1, $1::int) g', [3]],
      ['insert into e_t (v) values ($1) returning id > 0 as ok', [7]],
      ['update e_t set v = v + 0 where v <= $1', [100]],
      ['select v from e_t where v = $1', [-1]],
      ['with x as (insert into e_t (v) values ($1) returning v) select count(*)::int as n from x', [9]],
      ['with x as (update e_t set v = v where v = $1 returning v) select * from x', [7]],
      ['delete from e_t where v = $1', [-5]],
      ['values ($1::int), (2), (3)', [1]],
      ['select $1::text as "a b", null::int as "NULL", $1::text as a', ['x']],
      ['merge into e_t using (select $1::int as v) s on e_t.v = s.v when matched then update set v = e_t.v', [7]],
      ['select repeat($1::text, 3000000) as big', ['ab']],
      ['select 1 as a, 2 as a', []],
    ];
    for (const [i, [text, values]] of cases.entries()) {
      for (let run = 0; run < 3; run++) {
        const ref = await c.query({ text, values });
        const got = await runNamedStatement(c, `rv_e_${i}`, text, values);
        expect({ text, rowCount: got.rowCount }).toEqual({ text, rowCount: ref.rowCount });
        expect(got.rows).toEqual(ref.rows);
      }
    }
  });

  it('E2: a column named __proto__ is a row property as node-postgres makes it (low severity: names come from fixed SQL)', async () => {
    const c = await connect();
    const text = `select g as "__proto__", '{"polluted":true}'::jsonb as j from generate_series(1, $1::int) g`;
    const ref = await c.query({ text, values: [2] });
    const got = await runNamedStatement(c, 'rv_e2', text, [2]);
    expect(got.rows).toEqual(ref.rows);
  });

  it('F: a no-column statement, then (on a new connection name reuse is impossible) a column one: shapes stay apart', async () => {
    const c = await connect();
    await c.query(`create table f_t (id int)`);
    for (let i = 0; i < 60; i++) expect(await runNamedStatement(c, 'rv_f_ins', 'insert into f_t values ($1)', [i])).toEqual({ rows: [], rowCount: 1 });
    for (let i = 0; i < 60; i++) expect((await runNamedStatement(c, 'rv_f_sel', 'select id as other_name from f_t where id = $1', [i])).rows).toEqual([{ other_name: i }]);
  });

  it('G: search_path change between runs answers from the new schema, never mislabelled', async () => {
    const c = await connect();
    await c.query(`create schema if not exists ${schema}_g2`);
    await c.query(`create table g_t (id int, a text, b text)`);
    await c.query(`insert into g_t values (1, 'A', 'B')`);
    await c.query(`create table ${schema}_g2.g_t (id int, b text, a text)`);
    await c.query(`insert into ${schema}_g2.g_t values (1, 'B2', 'A2')`);
    const text = 'select * from g_t where id = $1';
    for (let i = 0; i < 10; i++) await runNamedStatement(c, 'rv_g', text, [1]);
    await c.query(`set search_path to ${schema}_g2`);
    const r = await settle(runNamedStatement(c, 'rv_g', text, [1]));
    if (r.ok) expect(r.v.rows[0]).toMatchObject({ a: 'A2', b: 'B2' });
    await c.query(`set search_path to ${schema}`);
    await c.query(`drop schema ${schema}_g2 cascade`);
  });
});
