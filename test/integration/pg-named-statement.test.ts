/**
 * A prepared statement's later runs on a connection reuse the result's shape from its first run
 * instead of asking the server to describe it again (src/storage/pg-named-statement.ts). What must
 * hold: every run answers exactly what node-postgres's own Query answers (types, nulls, counts, row
 * order), a statement parsed anew is described anew, and a run that cannot be sent or that fails
 * leaves the connection as usable as before.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNamedStatement, type StatementClient } from '../../src/storage/pg-named-statement.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';

const pg = createRequire(import.meta.url)('pg') as typeof import('pg');

interface Spied {
  client: import('pg').Client & StatementClient;
  /** Describe, Parse and Bind messages written so far. */
  sent: { describe: number; parse: number; bind: number };
}

describe.skipIf(!pgAvailable)('named statements on PostgreSQL', () => {
  let drop: () => Promise<void>;
  let schema: string;
  const clients: import('pg').Client[] = [];

  async function connect(): Promise<Spied> {
    const client = new pg.Client({ connectionString: PG_URL }) as Spied['client'];
    await client.connect();
    clients.push(client);
    await client.query(`set search_path to ${schema}`);
    const connection = (client as unknown as { connection: Record<'describe' | 'parse' | 'bind', (...a: unknown[]) => unknown> }).connection;
    const sent = { describe: 0, parse: 0, bind: 0 };
    for (const message of ['describe', 'parse', 'bind'] as const) {
      const original = connection[message].bind(connection);
      connection[message] = (...a: unknown[]) => {
        sent[message]++;
        return original(...a);
      };
    }
    return { client, sent };
  }

  /** node-postgres's own answer to the same statement, unnamed. */
  const reference = async (client: import('pg').Client, text: string, values: unknown[]) => {
    const { rows, rowCount } = await client.query({ text, values });
    return { rows, rowCount };
  };

  beforeAll(async () => {
    const made = await createPgSchema();
    drop = made.drop;
    schema = made.schema;
    const { client } = await connect();
    await client.query(
      `create table kinds (id int primary key, big bigint, flag boolean, doc jsonb, at timestamptz, bytes bytea, tags text[], label text, ratio numeric)`,
    );
    await client.query(
      `insert into kinds values (1, 9007199254740991, true, '{"a":[1,"二"]}', '2026-12-07T10:00:00Z', '\\x00ff', '{a,"b c"}', '张三', 1.5), (2, null, null, null, null, null, null, null, null), (3, -1, false, '[]', '1970-01-01T00:00:00Z', '\\x', '{}', '', 0)`,
    );
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => undefined);
    await drop?.();
  });

  it('answers as node-postgres does, for every column type, null, and any number of rows, on the first run and after', async () => {
    const { client, sent } = await connect();
    const cases: [string, unknown[]][] = [
      ['select * from kinds order by id', []],
      ['select * from kinds where id = $1', [2]],
      ['select * from kinds where id = $1', [99]],
      ['select id, label from kinds where label = $1 or $1::text is null order by id', [null]],
      ['select $1::text as same, $2::int as n, $3::jsonb as doc', ['引号"\'\\', 7, JSON.stringify({ x: 1 })]],
    ];
    const expected = [];
    for (const [text, values] of cases) expected.push(await reference(client, text, values));
    const before = { ...sent };
    for (const [i, [text, values]] of cases.entries()) {
      for (let run = 0; run < 3; run++) expect(await runNamedStatement(client, `t_types_${i}`, text, values)).toEqual(expected[i]);
    }
    // Each statement parsed and described once, however many runs.
    expect({ parse: sent.parse - before.parse, describe: sent.describe - before.describe, bind: sent.bind - before.bind }).toEqual({ parse: cases.length, describe: cases.length, bind: cases.length * 3 });
  });

  it('counts rows of inserts, updates and deletes, with and without returning, and describes a statement without columns once', async () => {
    const { client, sent } = await connect();
    await client.query('create table counted (n int)');
    const before = sent.describe;
    for (let i = 0; i < 3; i++) expect(await runNamedStatement(client, 't_insert', 'insert into counted values ($1), ($1)', [i])).toEqual({ rows: [], rowCount: 2 });
    expect(sent.describe - before).toBe(1);
    expect(await runNamedStatement(client, 't_update', 'update counted set n = n + 10 where n < $1 returning n', [2])).toEqual({ rows: [{ n: 10 }, { n: 10 }, { n: 11 }, { n: 11 }], rowCount: 4 });
    expect(await runNamedStatement(client, 't_delete', 'delete from counted where n >= $1', [10])).toEqual({ rows: [], rowCount: 4 });
    expect(await runNamedStatement(client, 't_count', 'select count(*)::int as n from counted', [])).toEqual({ rows: [{ n: 2 }], rowCount: 1 });
  });

  it('keeps each statement its own shape when several run one after another on one connection', async () => {
    const { client } = await connect();
    const a = 'select id, label from kinds where id = $1';
    const b = 'select big, flag, doc from kinds where id = $1';
    // node-postgres's answers as the reference: int8's parser is process-wide (database.ts sets it to Number).
    const expected = [(await reference(client, b, [1])).rows, (await reference(client, a, [1])).rows];
    expect(expected[1]).toEqual([{ id: 1, label: '张三' }]);
    expect(expected[0]).toMatchObject([{ flag: true, doc: { a: [1, '二'] } }]);
    for (let i = 0; i < 20; i++) {
      const r = await (i % 2 ? runNamedStatement(client, 't_a', a, [1]) : runNamedStatement(client, 't_b', b, [1]));
      expect(r.rows).toEqual(expected[i % 2]);
    }
  });

  it('describes a statement again when it is parsed again on its connection (after the server forgot it)', async () => {
    const { client, sent } = await connect();
    const text = 'select id, label from kinds where id = $1';
    expect((await runNamedStatement(client, 't_again', text, [1])).rows).toEqual([{ id: 1, label: '张三' }]);
    await client.query('deallocate t_again');
    await expect(runNamedStatement(client, 't_again', text, [1])).rejects.toMatchObject({ code: '26000' });
    // node-postgres forgets it too once told: the next run parses, and so describes, anew.
    delete (client as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements.t_again;
    const described = sent.describe;
    expect((await runNamedStatement(client, 't_again', text, [3])).rows).toEqual([{ id: 3, label: '' }]);
    expect(sent.describe - described).toBe(1);
  });

  it('refuses a value it cannot send before writing anything, and the connection answers the next statement', async () => {
    const { client, sent } = await connect();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const before = { ...sent };
    await expect(runNamedStatement(client, 't_unsendable', 'select $1::jsonb as doc', [circular])).rejects.toThrow();
    expect(sent).toEqual(before);
    expect(await runNamedStatement(client, 't_unsendable', 'select $1::jsonb as doc', [{ fine: true }])).toEqual({ rows: [{ doc: { fine: true } }], rowCount: 1 });
  });

  it('fails a run the server refuses with the server error, and the next run on the connection is answered rightly', async () => {
    const { client } = await connect();
    await expect(runNamedStatement(client, 't_div', 'select 1 / $1::int as q', [0])).rejects.toMatchObject({ code: '22012' });
    expect(await runNamedStatement(client, 't_div', 'select 1 / $1::int as q', [1])).toEqual({ rows: [{ q: 1 }], rowCount: 1 });
    await expect(runNamedStatement(client, 't_syntax', 'select from where', [])).rejects.toMatchObject({ code: '42601' });
    expect(await runNamedStatement(client, 't_ok', 'select 2 as two', [])).toEqual({ rows: [{ two: 2 }], rowCount: 1 });
  });

  it('refuses a row whose width differs from the shape it keeps, rather than mislabel its columns', async () => {
    const { client } = await connect();
    const text = 'select id, label from kinds where id = $1';
    await runNamedStatement(client, 't_width', text, [1]);
    // Another statement under the same name on the server (what a stale shape would meet): the
    // server answers two columns in another order, three here, never read as the kept two.
    await client.query('deallocate t_width');
    await client.query(`prepare t_width (int) as select id, label, big from kinds where id = $1`);
    await expect(runNamedStatement(client, 't_width', text, [1])).rejects.toThrow(/3 columns/);
    expect(await runNamedStatement(client, 't_fine', 'select 1 as one', [])).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
  });
});

describe.skipIf(!pgAvailable)('named statements on a table that grows', () => {
  let drop: () => Promise<void>;
  let client: import('pg').Client & StatementClient;

  beforeAll(async () => {
    const made = await createPgSchema();
    drop = made.drop;
    client = new pg.Client({ connectionString: PG_URL }) as typeof client;
    await client.connect();
    await client.query(`set search_path to ${made.schema}`);
    // Only the statement's own runs may re-plan it here: no ANALYZE from autovacuum mid-test.
    await client.query('create table tokens (model varchar(64) not null, id varchar(255) not null, payload text not null, primary key (model, id)) with (autovacuum_enabled = false)');
    await client.query(`insert into tokens select 'RefreshToken', 't' || i, '{}' from generate_series(1, 20) i`);
    await client.query('analyze tokens');
  });
  afterAll(async () => {
    await client?.end().catch(() => undefined);
    await drop?.();
  });

  const LOOKUP = 'select payload from tokens where model = $1 and id = $2';
  const planOf = async () => {
    const { rows } = await client.query(`explain (format json) execute t_lookup('RefreshToken', 't1')`);
    return JSON.stringify(rows[0]);
  };

  it('is planned again as its runs grow, so a plan made on a nearly empty table does not scan the grown one', async () => {
    for (let i = 0; i < 10; i++) expect((await runNamedStatement(client, 't_lookup', LOOKUP, ['RefreshToken', 't1'])).rows).toEqual([{ payload: '{}' }]);
    // What the server keeps after five runs on 20 rows: a generic plan that reads the whole table.
    expect(await planOf()).toContain('Seq Scan');
    await client.query(`insert into tokens select 'RefreshToken', 'g' || i, '{}' from generate_series(1, 60000) i`);
    for (let i = 0; i < 60; i++) await runNamedStatement(client, 't_lookup', LOOKUP, ['RefreshToken', `g${i + 1}`]);
    expect(await planOf()).toContain('Index Scan');
    expect((await runNamedStatement(client, 't_lookup', LOOKUP, ['RefreshToken', 'g60000'])).rows).toEqual([{ payload: '{}' }]);
  });
});
