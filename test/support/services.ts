import { randomBytes } from 'node:crypto';
import net from 'node:net';
import knexFactory from 'knex';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const required = process.env.YIHAO_REQUIRE_SERVICES === '1';

function reachable(url: string, fallbackPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || fallbackPort) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

const ignore = () => undefined;
const quiet = { warn: ignore, error: ignore, debug: ignore, deprecate: ignore };

/** A URL fit for a message: a password in TEST_DATABASE_URL or TEST_REDIS_URL stays out of the output. */
const withoutPassword = (url: string) => {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.href;
};

/**
 * The tests' PostgreSQL database, made when the server is there but the database is not (a fresh
 * server has only `postgres`). Returns why it cannot be used, or undefined when it can.
 */
export async function ensureTestDatabase(url: string): Promise<string | undefined> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const probe = async (connection: string, sql: string, bindings: string[] = []) => {
    const db = knexFactory({ client: 'pg', connection, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 5_000, log: quiet });
    try {
      return (await db.raw(sql, bindings)) as { rows: unknown[] };
    } finally {
      await db.destroy();
    }
  };
  // knex would print each refused connection with its stack; the one line below says it instead.
  const reason = (e: unknown) => `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message.split('\n')[0]}`;
  try {
    await probe(url, 'select 1');
    return undefined;
  } catch (e) {
    // 3D000: the database does not exist. Anything else (authentication, permissions) is for the operator.
    if ((e as { code?: string }).code !== '3D000' || !name) return `cannot use database "${name}" (${reason(e)})`;
  }
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  try {
    await probe(maintenance.href, 'create database ??', [name]);
    console.warn(`\n*** created the PostgreSQL database "${name}" for the tests ***\n`);
    return undefined;
  } catch (e) {
    // Another test worker made it at the same moment (42P04 duplicate_database, or 23505 on pg_database).
    const code = (e as { code?: string }).code;
    if (code === '42P04' || code === '23505') return undefined;
    return `database "${name}" does not exist and cannot be created (${reason(e)}); create it, or point TEST_DATABASE_URL at one`;
  }
}

/**
 * Whether a suite that needs `service` can run. Missing services skip with a loud message, or
 * fail the run where CI sets YIHAO_REQUIRE_SERVICES=1.
 */
export async function serviceAvailable(service: 'postgres' | 'redis'): Promise<boolean> {
  const ok = service === 'postgres' ? await reachable(PG_URL, 5432) : await reachable(REDIS_URL, 6379);
  const problem = !ok ? 'is not reachable' : service === 'postgres' ? await ensureTestDatabase(PG_URL) : undefined;
  if (!problem) return true;
  const msg = `${service} ${problem} (${withoutPassword(service === 'postgres' ? PG_URL : REDIS_URL)})`;
  if (required) throw new Error(`${msg} and YIHAO_REQUIRE_SERVICES=1`);
  console.warn(`\n*** SKIPPING ${service} suites: ${msg} ***\n`);
  return false;
}

export const pgAvailable = await serviceAvailable('postgres');
export const redisAvailable = await serviceAvailable('redis');

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

/** A fresh PostgreSQL schema; drop() removes it and everything in it. */
export async function createPgSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = uniqueName('t');
  const admin = knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 } });
  await admin.raw(`create schema "${schema}"`);
  return {
    schema,
    async drop() {
      await admin.raw(`drop schema if exists "${schema}" cascade`);
      await admin.destroy();
    },
  };
}
