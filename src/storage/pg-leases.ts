import type { Database } from './database.js';

/** The parts of a node-postgres connection from knex's pool that a lease uses. */
export interface PgConnection {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  /** Set by knex when the connection errs or ends: it is not to be used again. */
  __knex__disposed?: unknown;
}

interface Lease {
  conn: PgConnection;
  /** 1 while a statement is in flight on it. */
  busy: number;
  idleSince: number;
  /** Goes back to the pool when its last statement ends (the pool is closing, or there was no room to keep it). */
  returning: boolean;
}

/** A connection no statement has used for this long goes back to knex's pool, for transactions and other instances' needs. */
const IDLE_MS = 1_000;

interface KnexPool {
  on(event: 'poolDestroyRequest', listener: () => void): void;
}

/**
 * Connections of knex's pool that the hand-written statements (statements.ts) keep between
 * statements, on PostgreSQL. Each trip through knex's pool (tarn's pending operation with its
 * timeout, knex's validation, the release) cost about 30 promises per statement, each through the
 * async hooks: more than the statement's own query (perf and a promise count, 2026-12-07).
 *
 * A statement takes a kept connection that has nothing in flight, else one from the pool, which it
 * keeps if fewer than `max` are kept. Kept connections go back to the pool after `IDLE_MS` unused,
 * as soon as anything goes wrong on them (the pool then validates them, and knex drops a broken
 * one), and when the pool is being destroyed. So transactions and migrations still get connections
 * from the pool, and a database restart or a stalled host (database.ts cutWhenUnanswered) costs the
 * statements in flight, as before, and nothing after.
 */
export function pgLeases(db: Database, max: number) {
  const kept: Lease[] = [];
  let sweeper: NodeJS.Timeout | undefined;
  let closing = false;

  const giveBack = (lease: Lease) => {
    const at = kept.indexOf(lease);
    if (at !== -1) kept.splice(at, 1);
    void db.client.releaseConnection(lease.conn);
  };

  const sweep = () => {
    const now = Date.now();
    for (const lease of [...kept]) if (lease.busy === 0 && now - lease.idleSince >= IDLE_MS) giveBack(lease);
    if (kept.length === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  (db.client as { pool?: KnexPool }).pool?.on('poolDestroyRequest', () => {
    closing = true;
    for (const lease of [...kept]) {
      if (lease.busy === 0) giveBack(lease);
      else lease.returning = true;
    }
  });

  /** A kept connection with nothing in flight, marked busy at once so that no other statement takes it too. */
  function takeKept(): Lease | undefined {
    for (const lease of kept) {
      if (lease.busy === 0 && !lease.returning && !lease.conn.__knex__disposed) {
        lease.busy = 1;
        return lease;
      }
    }
    return undefined;
  }

  async function takePooled(): Promise<Lease> {
    const conn = (await db.client.acquireConnection()) as PgConnection;
    const lease: Lease = { conn, busy: 1, idleSince: Date.now(), returning: closing || kept.length >= max };
    if (!lease.returning) {
      kept.push(lease);
      sweeper ??= setInterval(sweep, IDLE_MS).unref();
    }
    return lease;
  }

  /** Runs one statement on a kept (or pooled) connection. */
  return async function query(text: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }> {
    const lease = takeKept() ?? (await takePooled());
    let failed = false;
    try {
      return await lease.conn.query(text, values);
    } catch (err) {
      // A refused statement leaves the connection usable, but a broken one does not: either way the
      // pool decides (it validates what it gets back), and the next statement takes another.
      failed = true;
      throw err;
    } finally {
      lease.busy = 0;
      lease.idleSince = Date.now();
      if (failed) lease.returning = true;
      if (lease.returning) giveBack(lease);
    }
  };
}

const byDatabase = new WeakMap<Database, ReturnType<typeof pgLeases>>();

/** The one set of kept connections for `db`: up to half its pool (at least one). */
export function leasedQuery(db: Database): ReturnType<typeof pgLeases> {
  let query = byDatabase.get(db);
  if (!query) {
    const poolMax = (db.client.config as { pool?: { max?: number } }).pool?.max ?? 10;
    byDatabase.set(db, (query = pgLeases(db, Math.max(1, Math.floor(poolMax / 2)))));
  }
  return query;
}
