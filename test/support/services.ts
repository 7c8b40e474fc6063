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

/**
 * Whether a suite that needs `service` can run. Missing services skip with a loud message, or
 * fail the run where CI sets YIHAO_REQUIRE_SERVICES=1.
 */
export async function serviceAvailable(service: 'postgres' | 'redis'): Promise<boolean> {
  const ok = service === 'postgres' ? await reachable(PG_URL, 5432) : await reachable(REDIS_URL, 6379);
  if (ok) return true;
  const msg = `${service} is not reachable (${service === 'postgres' ? PG_URL : REDIS_URL})`;
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
