/**
 * Attacks on the named prepared statements on PostgreSQL (src/storage/pg-leases.ts), from a helper's
 * review: retries that could apply a write twice, rows leaking between statements, migrations and
 * type changes under prepared plans, transactions on connections that carry them, a server that
 * forgets them, values in the warnings. Each test asserts the safe behaviour: it fails when the
 * attack works. 3c failed before the class-42 retry; 1b held its first version to a flaw (a
 * statement's own runtime 26000 turned naming off).
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { statements } from '../../src/storage/statements.js';
import { accountStore } from '../../src/accounts/account-store.js';
import { allowedBefore } from '../../src/oidc/remembered-consent.js';
import { sqlAdapter, tokenContextQueries } from '../../src/storage/sql-adapter.js';
import { accountKey } from '../../src/storage/oidc-adapter.js';
import { requestMemo, withRequestMemo } from '../../src/storage/request-memo.js';
import { AlreadyConsumedError } from '../../src/storage/adapter-types.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const logs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** A fresh schema with its own pool (its own naming state). */
async function fresh(poolMax: number, withMigrations = true): Promise<{ db: Database; schema: string; warnings: string[] }> {
  const made = await createPgSchema();
  const warnings: string[] = [];
  const db = openDatabase({
    url: PG_URL,
    dataDir: tmpdir(),
    schema: made.schema,
    poolMax,
    log: { warn: (m) => (warnings.push(m), logs.push(m)), error: (m) => (warnings.push(m), logs.push(m)) },
  });
  cleanups.push(async () => {
    await db.destroy();
    await made.drop();
  });
  if (withMigrations) await migrate(db);
  return { db, schema: made.schema, warnings };
}

const pids = async (db: Database) =>
  ((await statements(db).all<{ name: string }>('select name from pg_prepared_statements where name like ?', ['yihao_%'])) as { name: string }[]).map((r) => r.name);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Citizen {
  id: string;
  sub: string;
  citizenId: string;
  index: string;
  name: string;
  phone: string;
}

/** Phone numbers are unique per account: a counter, not a citizen ID's first digits (region and birth date, shared often enough to collide). */
let phones = 0;

async function seedAccount(db: Database, sub = randomUUID()): Promise<Citizen> {
  const citizenId = syntheticCitizenId();
  const phone = `+86139${String(++phones).padStart(8, '0')}`;
  const c: Citizen = { id: randomUUID().replaceAll('-', ''), sub, citizenId, index: `idx-${citizenId}`, name: `Name ${citizenId}`, phone };
  const now = Date.now();
  await db('accounts').insert({
    id: c.id,
    sub: c.sub,
    status: 'active',
    citizen_index: c.index,
    citizen_sealed: `sealed-${citizenId}`,
    name: c.name,
    phone: c.phone,
    assurance: 'registry',
    assurance_at: now,
    created_at: now,
    updated_at: now,
  });
  await db('credentials').insert({ id: randomUUID().replaceAll('-', ''), account_id: c.id, type: 'password', secret: `hash-${citizenId}`, created_at: now, last_used_at: null });
  return c;
}

describe.skipIf(!pgAvailable)('attacks on prepared statements', () => {
  // ---- 1. A retried statement must not apply a write twice ----
  it('1a. a named write that fails with 0A000 during execution (after writing) is applied once', async () => {
    const { db } = await fresh(2, false);
    const sql = statements(db);
    await db.raw('create table probe (id text primary key, n int)');
    await db.raw('create sequence calls');
    // Raises `code` on its first call only: the statement's own effects are then rolled back.
    await db.raw(
      `create function boom_once(code text) returns int language plpgsql as $$ begin if nextval('calls') = 2 then raise exception 'boom' using errcode = code; end if; return 1; end $$`,
    );
    const write = 'insert into probe (id, n) values (?, boom_once(?))';
    await sql.run(write, ['warm', '0A000']); // prepares it (call 1)
    await sql.run(write, ['once', '0A000']); // call 2 raises 0A000 after the insert, retried unnamed
    const rows = await db('probe').where({ id: 'once' });
    expect(rows).toHaveLength(1);
    expect(Number((await db.raw(`select last_value from calls`)).rows[0].last_value)).toBe(3);
  });

  it("1b. a named write whose own execution raises 26000 (after writing) fails once, unapplied, and naming goes on", async () => {
    const { db, warnings } = await fresh(2, false);
    const sql = statements(db);
    await db.raw('create table probe (id text primary key)');
    await db.raw('create table counter (n int)');
    await db.raw('insert into counter values (0)');
    await db.raw('create sequence calls');
    await db.raw(
      `create function boom_once(code text) returns int language plpgsql as $$ begin if nextval('calls') = 2 then raise exception 'boom' using errcode = code; end if; return 1; end $$`,
    );
    const write = 'with w as (insert into probe (id) values (?) returning 1), c as (update counter set n = n + 1 returning 1) select boom_once(?) as b from w, c';
    await sql.first(write, ['warm', '26000']);
    // The statement's own error (not the server forgetting it): answered as it is, never run again.
    await expect(sql.first(write, ['once', '26000'])).rejects.toMatchObject({ code: '26000' });
    expect(await db('probe').where({ id: 'once' })).toHaveLength(0);
    expect((await db('counter').first()).n).toBe(1);
    expect(warnings.some((w) => w.includes('no longer prepared'))).toBe(false);
    await sql.first(write, ['after', '26000']);
    expect((await pids(db)).length).toBeGreaterThan(0);
  });

  it('1c. refresh rotation (consumeThenUpsert) under a stale plan (0A000 at Bind) consumes once, saves once', async () => {
    const { db } = await fresh(2);
    const Adapter = sqlAdapter(db);
    const rt = new Adapter('RefreshToken');
    const exp = 3600;
    await rt.upsert('rt-0', { accountId: 'a', grantId: 'g' }, exp);
    await rt.upsert('rt-warm', { accountId: 'a', grantId: 'g' }, exp);
    await rt.consumeThenUpsert('rt-warm', 'rt-warm-next', { accountId: 'a', grantId: 'g' }, exp); // prepares the statement
    // Another instance's migration changes the type of the column the statement returns.
    await db.raw('alter table oidc_models alter column id type text');
    await rt.consumeThenUpsert('rt-0', 'rt-1', { accountId: 'a', grantId: 'g' }, exp);
    const rows = await db('oidc_models').where({ model: 'RefreshToken' }).whereIn('id', ['rt-0', 'rt-1']).orderBy('id');
    expect(rows.map((r: { id: string; consumed_at: unknown }) => [r.id, r.consumed_at !== null])).toEqual([
      ['rt-0', true],
      ['rt-1', false],
    ]);
    await expect(rt.consumeThenUpsert('rt-0', 'rt-2', { accountId: 'a', grantId: 'g' }, exp)).rejects.toBeInstanceOf(AlreadyConsumedError);
    expect(await db('oidc_models').where({ model: 'RefreshToken', id: 'rt-2' })).toHaveLength(0);
  });

  // ---- 2. No data leaking between statements ----
  it('2a. concurrent reads retried after a stale plan each get their own row', async () => {
    const { db } = await fresh(8);
    const store = accountStore(db);
    const people: Citizen[] = [];
    for (let i = 0; i < 12; i++) people.push(await seedAccount(db));
    // Prepared on every kept connection.
    await Promise.all(people.map((p) => store.bySub(p.sub)));
    await Promise.all(people.map((p) => store.byCitizenIndexWithPassword([p.index])));
    await db.raw('alter table accounts alter column name type text');
    const asks = Array.from({ length: 200 }, (_, i) => people[i % people.length]!);
    const got = await Promise.all(asks.map((p, i) => (i % 2 ? store.bySub(p.sub) : store.byCitizenIndexWithPassword([p.index]))));
    got.forEach((row, i) => {
      expect(row?.sub).toBe(asks[i]!.sub);
      expect(row?.name).toBe(asks[i]!.name);
    });
  });

  it('2b. a table swapped under a prepared plan (rename + recreate) is read, not the old one', async () => {
    const { db } = await fresh(2);
    const store = accountStore(db);
    const p = await seedAccount(db);
    expect((await store.bySub(p.sub))?.name).toBe(p.name);
    await db.raw('alter table credentials drop constraint if exists credentials_account_id_foreign');
    await db.raw('alter table accounts rename to accounts_old');
    await db.raw('create table accounts (like accounts_old including all)');
    await db.raw(`insert into accounts select * from accounts_old`);
    await db('accounts').where({ sub: p.sub }).update({ name: 'Changed' });
    expect((await store.bySub(p.sub))?.name).toBe('Changed');
    expect((await store.byCitizenIndexWithPassword([p.index]))?.name).toBe('Changed');
  });

  it('2c. distinct texts never share a name', async () => {
    const { db } = await fresh(2, false);
    const sql = statements(db);
    for (let i = 0; i < 40; i++) expect(await sql.first(`select ?::int + ${i} as n`, [1])).toEqual({ n: 1 + i });
    const rows = await sql.all<{ name: string; statement: string }>('select name, statement from pg_prepared_statements where name like ?', ['yihao_%']);
    const byName = new Map<string, Set<string>>();
    for (const r of rows) byName.set(r.name, (byName.get(r.name) ?? new Set()).add(r.statement));
    for (const texts of byName.values()) expect(texts.size).toBe(1);
    expect(rows.length).toBeGreaterThanOrEqual(41);
  });

  // ---- 3. Migrations under prepared plans: the sign-in reads ----
  it('3a. sign-in reads keep returning the right rows after columns are added to accounts and oidc_models', async () => {
    const { db, warnings } = await fresh(2);
    const store = accountStore(db);
    const lookup = allowedBefore(db);
    const ctx = tokenContextQueries(db, { sessionsInSql: true });
    const Adapter = sqlAdapter(db);
    const p = await seedAccount(db);
    const grant = new Adapter('Grant');
    await grant.upsert('g1', { accountId: p.sub, clientId: 'c1', openid: { scope: 'openid' } }, 3600);
    await db('account_index').insert({ model: 'Grant', id: 'g1', account_id: p.sub, expires_at: Date.now() + 3_600_000, client_id: 'c1' });
    await new Adapter('RefreshToken').upsert('r1', { accountId: p.sub, grantId: 'g1' }, 3600);

    const readAll = async () => {
      const a = await store.byCitizenIndexWithPassword([p.index]);
      const b = await store.bySub(p.sub);
      const c = await ctx.find('RefreshToken', 'r1');
      const d = await ctx.context('g1', p.sub);
      const e = await withRequestMemo(async () => {
        await lookup.prefetch(p.sub, 'c1');
        const account = await requestMemo()!.values.get(accountKey(p.sub));
        return { account, allowed: await lookup.find(p.sub, 'c1') };
      });
      return { a, b, c, d, e };
    };
    const before = await readAll();
    expect(before.a?.password_secret).toBe(`hash-${p.citizenId}`);
    expect(before.e.allowed?.scope).toBe('openid');
    expect((before.e.account as { sub: string }).sub).toBe(p.sub);

    await db.raw(`alter table accounts add column extra text default 'x'`);
    await db.raw(`alter table oidc_models add column extra text default 'y'`);
    await db.raw(`alter table credentials add column extra text default 'z'`);
    const after = await readAll();
    expect(after).toEqual(before);
    expect(warnings).toEqual([]);
  });

  it('3b. sign-in reads survive a column type change of a selected column (0A000 at Bind)', async () => {
    const { db } = await fresh(2);
    const store = accountStore(db);
    const p = await seedAccount(db);
    const before = await store.byCitizenIndexWithPassword([p.index]);
    await store.bySub(p.sub);
    await db.raw('alter table accounts alter column phone type text');
    await db.raw('alter table credentials alter column secret type varchar(500)');
    expect(await store.byCitizenIndexWithPassword([p.index])).toEqual(before);
    expect((await store.bySub(p.sub))?.phone).toBe(p.phone);
  });

  it('3c. bySub survives a type change of the column it filters on (accounts.sub -> uuid)', async () => {
    const { db } = await fresh(2);
    const store = accountStore(db);
    const p = await seedAccount(db);
    expect((await store.bySub(p.sub))?.id).toBe(p.id);
    await db.raw('alter table accounts alter column sub type uuid using sub::uuid');
    // Unnamed, the parameter would be typed uuid and this works; the prepared plan keeps `$1` varchar.
    const once = await store.bySub(p.sub).then((r) => r?.id, (e: { code?: string; message?: string }) => `error ${e.code}: ${e.message}`);
    const twice = await store.bySub(p.sub).then((r) => r?.id, (e: { code?: string; message?: string }) => `error ${e.code}: ${e.message}`);
    // The same statement unnamed (as before the change) answers.
    const unnamed = (await db.raw('select a.id from accounts a where a.sub = ?', [p.sub])).rows[0]?.id;
    expect(unnamed).toBe(p.id);
    expect([once, twice]).toEqual([p.id, p.id]);
  });

  // ---- 4. Transactions on connections that carry prepared statements ----
  it('4. knex transactions on connections with prepared statements, and never on a stale-plan connection', async () => {
    const { db } = await fresh(2);
    const sql = statements(db);
    const store = accountStore(db);
    const p = await seedAccount(db);
    await store.bySub(p.sub);
    const stalePid = (await sql.first<{ pid: number }>('select pg_backend_pid() as pid', []))!.pid;
    // The kept connection goes back to the pool, prepared statements and all; a transaction takes it.
    await sleep(1_300);
    // Two transactions at once: between them they hold both of the pool's connections.
    let open!: () => void;
    const gate = { promise: new Promise<void>((r) => (open = r)), resolve: () => open() };
    let entered = 0;
    const both = await Promise.all(
      [0, 1].map((k) =>
        db.transaction(async (trx) => {
          const pid = (await trx.raw('select pg_backend_pid() as pid')).rows[0].pid as number;
          const prepared = (await trx.raw(`select count(*)::int as n from pg_prepared_statements where name like 'yihao_%'`)).rows[0].n as number;
          if (++entered === 2) gate.resolve();
          await gate.promise;
          if (k === 0) await trx('accounts').where({ sub: p.sub }).update({ name: 'InTrx' });
          // An error inside the transaction, recovered by a savepoint, on a connection with prepared statements.
          await trx.transaction(async (inner) => inner.raw('select 1/0')).catch(() => undefined);
          return { pid, prepared };
        }),
      ),
    );
    expect(both.map((b) => b.pid)).toContain(stalePid);
    expect(both.some((b) => b.prepared > 0)).toBe(true);
    expect((await store.bySub(p.sub))?.name).toBe('InTrx');

    // A stale plan (0A000) drops its connection: no transaction gets it afterwards.
    await db.raw('alter table accounts alter column name type text');
    const stalePids = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const before = (await sql.first<{ pid: number }>('select pg_backend_pid() as pid', []))!.pid;
      stalePids.add(before);
      await store.bySub(p.sub);
    }
    await sleep(1_300);
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(
        await db.transaction(async (trx) => {
          await trx('accounts').where({ sub: p.sub }).update({ updated_at: Date.now() });
          return (await trx.raw('select pg_backend_pid() as pid')).rows[0].pid as number;
        }),
      );
    }
    // The connection that saw 0A000 (the first of stalePids) is gone.
    expect(seen).not.toContain([...stalePids][0]);
    expect((await store.bySub(p.sub))?.name).toBe('InTrx');
  });

  // ---- 5. The server forgets the statements while many are in flight ----
  it('5. after DEALLOCATE on every kept connection, 300 concurrent statements all answer correctly', async () => {
    const { db, warnings } = await fresh(8);
    const sql = statements(db);
    const store = accountStore(db);
    const people: Citizen[] = [];
    for (let i = 0; i < 10; i++) people.push(await seedAccount(db));
    const slowAsk = (n: number) => sql.first<{ n: number }>('select ?::int + 1 as n, pg_sleep(0.05) as s', [n]);
    // Four statements at once: four kept connections, each with its statements prepared.
    await Promise.all([1, 2, 3, 4].map(slowAsk));
    await Promise.all(people.map((p) => store.bySub(p.sub)));
    await Promise.all([1, 2, 3, 4].map(() => sql.run('deallocate all', [])));
    const asks = Array.from({ length: 300 }, (_, i) => i);
    const results = await Promise.allSettled(
      asks.map((i) => (i % 3 === 0 ? slowAsk(i).then((r) => r?.n) : store.bySub(people[i % people.length]!.sub).then((r) => r?.sub))),
    );
    results.forEach((r, i) => {
      expect(r.status).toBe('fulfilled');
      if (r.status === 'fulfilled') expect(r.value).toBe(i % 3 === 0 ? i + 1 : people[i % people.length]!.sub);
    });
    expect(warnings.every((w) => w.includes('no longer prepared by name'))).toBe(true);
    // A run that re-planned its statement (pg-named-statement.ts) just then may have prepared it
    // again before naming stopped: cleared, and from now on nothing is prepared by name.
    await Promise.all([1, 2, 3, 4].map(() => sql.run('deallocate all', [])));
    await Promise.all(asks.slice(0, 60).map((i) => (i % 3 === 0 ? slowAsk(i) : store.bySub(people[i % people.length]!.sub))));
    expect(await pids(db)).toEqual([]);
  });

  // ---- 6. No statement values in errors or warnings ----
  it('6. warnings from the retries carry no statement values', () => {
    const joined = logs.join('\n');
    expect(joined).not.toMatch(/\d{17}[\dX]/);
    expect(joined).not.toMatch(/sealed-|hash-|Name \d/);
  });

  // ---- extra: a client-side Bind failure must not turn naming off for everyone ----
  it('x. a value that fails to serialize on one statement does not make the server forget it (naming goes on)', async () => {
    const { db, warnings } = await fresh(2, false);
    const sql = statements(db);
    const text = 'select ?::text as v';
    expect(await sql.first(text, ['a'])).toEqual({ v: 'a' });
    const bad = { toPostgres: () => { throw new Error('cannot serialize'); } };
    await expect(sql.first(text, [bad])).rejects.toThrow();
    expect(await sql.first(text, ['b'])).toEqual({ v: 'b' });
    expect(warnings.filter((w) => w.includes('no longer prepared'))).toEqual([]);
    expect((await pids(db)).length).toBeGreaterThan(0);
  });
});
