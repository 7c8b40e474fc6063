import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';

// BIGINT (epoch ms) columns come back as numbers, as they do from SQLite.
pg.types.setTypeParser(20, (v) => Number(v));

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
    const searchPath = opts.schema ? [opts.schema] : undefined;
    return knexFactory({
      ...common(opts),
      client: 'pg',
      connection: opts.url,
      searchPath,
      pool: { min: 0, max: opts.poolMax ?? 10 },
    });
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  return knexFactory({
    ...common(opts),
    client: 'better-sqlite3',
    connection: { filename: join(opts.dataDir, 'yihao.sqlite') },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        // WAL lets the CLI and a running server use the file together; the busy timeout covers the overlap.
        conn.pragma('journal_mode = WAL');
        conn.pragma('busy_timeout = 5000');
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
