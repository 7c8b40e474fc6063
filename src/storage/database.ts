import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import { migrations } from '../../migrations/index.js';

/**
 * The PostgreSQL driver, loaded when a database URL is configured (the embedded default never needs
 * it); knex loads the same module. BIGINT (epoch ms) columns come back as numbers, as they do from
 * SQLite.
 */
function loadPg(): void {
  const pg = createRequire(import.meta.url)('pg') as typeof import('pg');
  pg.types.setTypeParser(20, (v) => Number(v));
}

export type Database = Knex;

/** Where knex's own warnings go, instead of console.log (which would corrupt JSON logs and CLI output). */
export interface DatabaseLog {
  warn(message: string): void;
  error(message: string): void;
}

export interface DatabaseOptions {
  /** postgres:// URL; unset means the embedded SQLite file under dataDir. */
  url?: string | undefined;
  dataDir: string;
  /** PostgreSQL schema to use (tests isolate themselves this way). */
  schema?: string;
  poolMax?: number;
  log?: DatabaseLog;
  /**
   * PostgreSQL only: a connection whose query gets no byte back for this long is cut (see
   * cutWhenUnanswered), and a new connection that has not connected in this long fails.
   */
  stallMs?: number | undefined;
  /**
   * SQLite only: how long a statement waits for another process's write lock (the CLI's). The wait
   * holds the event loop (better-sqlite3 is synchronous), so a server keeps it short and answers
   * 503 past it; the CLI, which serves no one meanwhile, waits longer.
   */
  busyTimeoutMs?: number | undefined;
}

/**
 * The database file readable by its owner only: a data directory that already existed (`mkdir data`,
 * a volume) keeps its own mode, and the file would otherwise take the umask's (0644). SQLite gives
 * its -wal and -shm files the database file's mode. Best effort on a file this user does not own.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      // Not ours to change: the operator's arrangement.
    }
  }
}

/** The parts of node-postgres's Client that the stall guard reads (node-postgres 8). */
interface PgConnection {
  connection: { stream: Socket };
  _getActiveQuery?: () => unknown;
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
}

/**
 * A database host that is lost or cut off (a fail-over whose old primary vanished, a partition)
 * resets nothing: node-postgres would wait for the operating system, about 15 minutes, on every
 * query in flight and on every pooled connection it hands out next. So a connection that has a
 * query out and has heard nothing for `ms` is destroyed: its queries fail now (a 503 for the
 * request), knex drops it from the pool, and the next query opens a new connection, to wherever
 * the database is by then (test/integration/database-stall.test.ts). Idle time in the pool does
 * not count. The cost: a statement that runs `ms` without sending a byte is cut too, which is why
 * migrations and the CLI run without the guard.
 */
function cutWhenUnanswered(conn: PgConnection, ms: number): void {
  const socket = conn.connection.stream;
  const busy = () => Boolean(conn._getActiveQuery ? conn._getActiveQuery() : conn._activeQuery) || (conn._queryQueue?.length ?? 0) > 0;
  // Node restarts this timer on every byte either way, and fires it once per silence.
  socket.setTimeout(ms);
  socket.on('timeout', () => {
    // ETIMEDOUT: a store that is not reachable (storage/dependency-failure.ts), so the request gets a 503.
    if (busy()) socket.destroy(Object.assign(new Error(`PostgreSQL sent nothing for ${ms} ms`), { code: 'ETIMEDOUT' }));
  });
}

const quietLog: DatabaseLog = { warn: () => undefined, error: () => undefined };

// Statement values (names, phone numbers, sealed data) must never reach an error message or a log.
const common = (opts: DatabaseOptions) => {
  const log = opts.log ?? quietLog;
  return {
    compileSqlOnError: false,
    log: { warn: (m: unknown) => log.warn(String(m)), error: (m: unknown) => log.error(String(m)), deprecate: (m: unknown) => log.warn(String(m)), debug: () => undefined },
  };
};

export function openDatabase(opts: DatabaseOptions): Database {
  if (opts.url) {
    loadPg();
    const searchPath = opts.schema ? [opts.schema] : undefined;
    const stallMs = opts.stallMs;
    return knexFactory({
      ...common(opts),
      client: 'pg',
      connection: stallMs ? { connectionString: opts.url, connectionTimeoutMillis: stallMs, keepAlive: true } : opts.url,
      searchPath,
      pool: {
        min: 0,
        max: opts.poolMax ?? 10,
        ...(stallMs
          ? {
              afterCreate(conn: PgConnection, done: (err: Error | null, conn: unknown) => void) {
                cutWhenUnanswered(conn, stallMs);
                done(null, conn);
              },
            }
          : {}),
      },
    });
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const filename = join(opts.dataDir, 'yihao.sqlite');
  ownerOnly(filename);
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  return knexFactory({
    ...common(opts),
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        // WAL lets the CLI and a running server use the file together; the busy timeout covers the overlap.
        conn.pragma('journal_mode = WAL');
        conn.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
        conn.pragma('foreign_keys = ON');
        done(null, conn);
      },
    },
  });
}

export const isPostgres = (db: Database): boolean => db.client.config.client === 'pg';

const migrationSource: Knex.MigrationSource<readonly [string, Knex.Migration]> = {
  getMigrations: async () => [...migrations],
  getMigrationName: ([name]) => name,
  getMigration: async ([, m]) => m,
};

/** Applies pending migrations; returns the names it applied. */
export async function migrate(db: Database): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
