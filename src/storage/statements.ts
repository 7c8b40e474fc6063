import type { Database } from './database.js';
import { isPostgres } from './database.js';
import { leasedQuery } from './pg-leases.js';

interface SqliteStatement {
  all(...params: unknown[]): unknown[];
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): { changes: number };
}

/** What `idleConnection` reads of knex's tarn pool. */
interface IdlePool {
  numUsed(): number;
  numPendingAcquires(): number;
  free?: { resource?: unknown }[];
}

export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  transaction<T>(fn: () => T): { immediate(): T };
}

/**
 * Hand-written statements for the hot queries, without knex's query builder and runner (12-14% of
 * the main thread on them). SQL text uses `?` placeholders on both backends. On PostgreSQL each is
 * one named prepared statement on a connection of knex's pool, kept between statements
 * (pg-leases.ts), so that the server plans it once per connection; a statement that reads whole
 * rows names their columns (a prepared `*` breaks when a migration adds one). On SQLite they run
 * on the pool's one better-sqlite3 connection as prepared statements cached on
 * that connection, instead of being prepared again on every call. Each statement still fires knex's
 * `query` event, so the round-trip counter (bench and tests) sees them as it sees knex's own.
 */
export function statements(db: Database) {
  const pg = isPostgres(db);
  const cache = new WeakMap<SqliteConnection, Map<string, SqliteStatement>>();

  const prepared = (conn: SqliteConnection, sql: string): SqliteStatement => {
    let byText = cache.get(conn);
    if (!byText) cache.set(conn, (byText = new Map()));
    let statement = byText.get(sql);
    if (!statement) byText.set(sql, (statement = conn.prepare(sql)));
    db.emit('query', { sql, direct: true });
    return statement;
  };

  /**
   * The pool's one SQLite connection when nobody holds it and nobody waits for it. A statement on it
   * then needs no acquire (two timed pending operations in tarn, about 30 µs): better-sqlite3 is
   * synchronous, so nothing can begin on the connection while `fn` runs, and a transaction that
   * holds it (knex's, or another `onSqlite`) shows as used, which sends the call the pool's way.
   * Reads tarn's free list, so anything unexpected there also goes the pool's way.
   */
  const idleConnection = (): SqliteConnection | undefined => {
    const pool = (db.client as { pool?: IdlePool }).pool;
    if (!pool || typeof pool.numUsed !== 'function' || pool.numUsed() !== 0 || pool.numPendingAcquires() !== 0 || !Array.isArray(pool.free) || pool.free.length !== 1) return undefined;
    return pool.free[0]?.resource as SqliteConnection | undefined;
  };

  /** Runs `fn` on the SQLite connection; better-sqlite3 is synchronous, so nothing interleaves. `fn` must not await. */
  async function onSqlite<T>(fn: (statement: (sql: string) => SqliteStatement, conn: SqliteConnection) => T): Promise<T> {
    const idle = idleConnection();
    if (idle) return fn((sql) => prepared(idle, sql), idle);
    const conn = (await db.client.acquireConnection()) as SqliteConnection;
    try {
      return fn((sql) => prepared(conn, sql), conn);
    } finally {
      await db.client.releaseConnection(conn);
    }
  }

  const pgText = new Map<string, string>();
  /** `?` placeholders become `$1`, `$2`... */
  const pgStatement = (sql: string): string => {
    let text = pgText.get(sql);
    if (text === undefined) {
      let n = 0;
      pgText.set(sql, (text = sql.replace(/\?/g, () => `$${++n}`)));
    }
    return text;
  };

  const query = pg ? leasedQuery(db) : undefined;
  function onPg(sql: string, params: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }> {
    db.emit('query', { sql, direct: true });
    return query!(pgStatement(sql), params);
  }

  return {
    pg,
    /** Every row the query returns. */
    async all<T>(sql: string, params: unknown[]): Promise<T[]> {
      if (pg) return (await onPg(sql, params)).rows as T[];
      return onSqlite((statement) => statement(sql).all(...params) as T[]);
    },
    /** The first row, or undefined. */
    async first<T>(sql: string, params: unknown[]): Promise<T | undefined> {
      if (pg) return (await onPg(sql, params)).rows[0] as T | undefined;
      return onSqlite((statement) => statement(sql).get(...params) as T | undefined);
    },
    /** How many rows a write changed. */
    async run(sql: string, params: unknown[]): Promise<number> {
      if (pg) return (await onPg(sql, params)).rowCount ?? 0;
      return onSqlite((statement) => statement(sql).run(...params).changes);
    },
    /** SQLite only: `fn` gets the connection's cached statements (and the connection, for its transactions). */
    onSqlite,
  };
}
export type Statements = ReturnType<typeof statements>;
