import { createHash } from 'node:crypto';
import type { Database } from './database.js';
import { runNamedStatement, type StatementClient } from './pg-named-statement.js';

/** The parts of a node-postgres connection from knex's pool that a lease uses. */
export interface PgConnection extends StatementClient {
  query(config: { text: string; values: unknown[]; queryMode: 'extended' }): Promise<{ rows: unknown[]; rowCount: number | null }>;
  query(submittable: object): unknown;
  /** Set by knex when the connection errs or ends: it is not to be used again (the pool drops it). */
  __knex__disposed?: unknown;
  /** node-postgres 8's transaction status from the server's last ReadyForQuery: I idle, T in a transaction block, E a failed one. */
  _txStatus?: string | null;
}

/**
 * Whether an error is the statement's own (a constraint, a syntax error): a SQLSTATE outside
 * connection exceptions (08) and operator intervention (57, a terminated backend). Anything else
 * (a socket error, a terminated connection) leaves the connection broken, even before knex hears of
 * its end.
 */
const statementError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && !code.startsWith('57');
};

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
 * A statement takes a kept connection that has nothing in flight. While fewer than `max` are kept
 * it takes one more from the pool; at `max` it waits for a kept one (first come, first served),
 * and never for the pool: the statements hold `max` connections at most, and a transaction that
 * holds one of the others while it awaits a plain statement cannot starve (a review found that it
 * did while statements went to the pool for more). With `max` 0 (a pool of one) nothing is kept.
 *
 * Kept connections go back to the pool after `IDLE_MS` unused, as soon as anything goes wrong on
 * them (the pool then validates them, and knex drops a broken one), and when the pool is being
 * destroyed; one that is broken, or was left inside a transaction block, is marked for the pool
 * to drop. So a database restart or a stalled host (database.ts cutWhenUnanswered) costs the
 * statements in flight, and the next statement runs on a fresh connection (pooled connections
 * were handed out again until knex heard of their end, a review found).
 */
export function pgLeases(db: Database, max: number) {
  const kept: Lease[] = [];
  /** Statements waiting for a kept connection; `undefined`: none was handed over, try again. */
  const waiters: ((lease: Lease | undefined) => void)[] = [];
  let acquiring = 0;
  let sweeper: NodeJS.Timeout | undefined;
  let closing = false;

  const giveBack = (lease: Lease) => {
    const at = kept.indexOf(lease);
    if (at !== -1) kept.splice(at, 1);
    void db.client.releaseConnection(lease.conn);
    // Room for one more: a waiting statement tries again.
    waiters.shift()?.(undefined);
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
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });

  const usable = (lease: Lease) => !lease.returning && !lease.conn.__knex__disposed;

  async function take(): Promise<Lease> {
    for (;;) {
      for (const lease of kept) {
        if (lease.busy === 0 && usable(lease)) {
          lease.busy = 1;
          return lease;
        }
      }
      if (closing || max === 0) {
        // Nothing is kept: a connection of the pool for this statement alone, as before.
        const conn = (await db.client.acquireConnection()) as PgConnection;
        return { conn, busy: 1, idleSince: Date.now(), returning: true };
      }
      if (kept.length + acquiring < max) {
        acquiring++;
        let conn: PgConnection;
        try {
          conn = (await db.client.acquireConnection()) as PgConnection;
        } finally {
          acquiring--;
        }
        const lease: Lease = { conn, busy: 1, idleSince: Date.now(), returning: closing };
        if (!closing) {
          kept.push(lease);
          sweeper ??= setInterval(sweep, IDLE_MS).unref();
        }
        return lease;
      }
      const handed = await new Promise<Lease | undefined>((resolve) => waiters.push(resolve));
      if (handed) return handed;
    }
  }

  function done(lease: Lease, failure: { err: unknown } | undefined): void {
    lease.idleSince = Date.now();
    if (failure) lease.returning = true;
    // Broken, or left inside a transaction block (a `begin` of its own): the pool is to drop it,
    // not hand it to the next user; knex's own mark would come only with the socket's end.
    const tx = lease.conn._txStatus;
    if ((failure && !statementError(failure.err)) || tx === 'T' || tx === 'E') {
      lease.returning = true;
      lease.conn.__knex__disposed ??= failure?.err ?? new Error('the connection was left inside a transaction block');
    }
    if (!usable(lease)) {
      lease.busy = 0;
      giveBack(lease);
      return;
    }
    const next = waiters.shift();
    // Straight to the next waiting statement, still marked busy.
    if (next) next(lease);
    else lease.busy = 0;
  }

  /** Runs one statement on a kept (or pooled) connection, as the prepared statement `name` when given. */
  async function run(text: string, values: unknown[], name: string | undefined): Promise<{ rows: unknown[]; rowCount: number | null }> {
    const lease = await take();
    let failure: { err: unknown } | undefined;
    try {
      // Always the extended protocol, also without parameters: one command per statement, so none
      // can open a transaction block that outlives it (the simple protocol runs `begin; ...`).
      return await (name === undefined ? lease.conn.query({ text, values, queryMode: 'extended' }) : runNamedStatement(lease.conn, name, text, values));
    } catch (err) {
      // A refused statement leaves the connection usable, but a broken one does not: either way it
      // goes back to the pool (which drops a broken one), and the next statement takes another.
      failure = { err };
      // Its prepared statements may have been planned for a schema that has changed: the pool is
      // to drop it, and with it every stale plan it holds.
      if (name !== undefined && stalePlan(err)) lease.conn.__knex__disposed ??= err;
      throw err;
    } finally {
      done(lease, failure);
    }
  }

  const prepared = preparedNames();

  /** A named statement's failure: run again unnamed where its plan went stale or the server forgot it; else its own error. */
  function retried(err: unknown, text: string, values: unknown[], name: string): Promise<{ rows: unknown[]; rowCount: number | null }> {
    // A statement that failed changed nothing (each runs alone, never inside a transaction
    // block), so running it again is safe.
    if (stalePlan(err)) return run(text, values, undefined);
    if (codeOf(err) === NO_SUCH_STATEMENT && String((err as Error).message).includes(`"${name}"`)) {
      prepared.stop();
      (db.client as { logger?: { warn?(m: string): void } }).logger?.warn?.(
        'PostgreSQL forgot a prepared statement on a connection that had prepared it (a pooler in transaction mode without prepared-statement support?): statements are no longer prepared by name',
      );
      return run(text, values, undefined);
    }
    throw err;
  }

  // Not async itself: an async frame here was three more promises per statement, each through the async hooks.
  return function query(text: string, values: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }> {
    const name = prepared.nameOf(text);
    if (name === undefined) return run(text, values, undefined);
    return run(text, values, name).catch((err: unknown) => retried(err, text, values, name));
  };
}

/**
 * A prepared statement that no longer fits its tables: "cached plan must not change result type"
 * (0A000) when a column it returns changed, or an error of class 42 (an operator or type that no
 * longer applies: a prepared statement keeps the parameter types of its first preparation, found
 * by a review with a column's type changed) when one it compares did. The same text unnamed is
 * planned afresh, and its own error, if it has one, is the answer.
 */
const stalePlan = (err: unknown): boolean => {
  const code = codeOf(err);
  return typeof code === 'string' && (code === '0A000' || code.startsWith('42'));
};
/** SQLSTATE 26000: the server does not know the prepared statement (a pooler that moved the session, a `DISCARD ALL`). */
const NO_SUCH_STATEMENT = '26000';
const codeOf = (err: unknown): unknown => (err as { code?: unknown } | undefined)?.code;

/** More distinct statement texts than this (there are a few dozen) are run unnamed: a guard against unbounded server memory. */
const MAX_NAMED = 256;

/**
 * Names for prepared statements, one per statement text (its hash: the same on every connection of
 * the pool, whoever prepared it there). PostgreSQL then parses and plans each
 * statement once per connection (and again as its runs grow, pg-named-statement.ts) instead of on every call: half of its CPU per refresh and most of
 * it per userinfo (bench/README.md). A statement that reads a table with `*` would break with
 * "cached plan must not change result type" once a migration adds a column, so the hot statements
 * name their columns (account-store.ts ACCOUNT_COLUMNS); should a plan go stale anyway (a column's
 * type changed), the statement runs again unnamed and its connection is dropped.
 */
function preparedNames() {
  const names = new Map<string, string>();
  let naming = true;
  return {
    nameOf(text: string): string | undefined {
      if (!naming) return undefined;
      let name = names.get(text);
      if (name === undefined && names.size < MAX_NAMED) names.set(text, (name = `yihao_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`));
      return name;
    },
    /** The server does not keep them: from now on every statement is unnamed. */
    stop() {
      naming = false;
    },
  };
}

const byDatabase = new WeakMap<Database, ReturnType<typeof pgLeases>>();

/** The one set of kept connections for `db`: up to half its pool (none for a pool of one). */
export function leasedQuery(db: Database): ReturnType<typeof pgLeases> {
  let query = byDatabase.get(db);
  if (!query) {
    const poolMax = (db.client.config as { pool?: { max?: number } }).pool?.max ?? 10;
    byDatabase.set(db, (query = pgLeases(db, Math.floor(poolMax / 2))));
  }
  return query;
}
