/**
 * One store for the servers under test: a temp data directory (secrets, SQLite file) and, for
 * PostgreSQL + Redis, a fresh schema and Redis key prefix. All of it is removed at cleanup.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import knexFactory, { type Knex } from 'knex';
import { loadConfig, type Config } from '../src/config/index.js';
import { freePort, reachable } from './children.js';
import { knobs, RESOURCE, RESOURCE_SCOPE, type Backend } from './knobs.js';
import { onCleanup } from './lifecycle.js';

export interface Store {
  backend: Backend;
  dataDir: string;
  /** As the Yihao children see it (the parent uses it to seal citizen IDs with the same keys). */
  config: Config;
  issuer: string;
  /** The environment of Yihao instance `n` (0, 1, ...): its own port and PostgreSQL application_name. */
  instanceEnv(n: number): Promise<{ env: Record<string, string>; base: string; appName: string | undefined }>;
  /** PostgreSQL only: the schema and an admin connection to it. */
  schema?: string;
  admin?: Knex;
  /** PostgreSQL only: the pids of the backends serving connections with this application_name. */
  dbPids?(appName: string): Promise<number[]>;
}

/** Which backends this run covers: both by default when PostgreSQL and Redis answer. */
export async function chooseBackends(): Promise<Backend[]> {
  const wanted = knobs.backend;
  if (knobs.serverNode && wanted !== 'postgres+redis') throw new Error('BENCH_NODE needs BENCH_BACKEND=postgres+redis (better-sqlite3 is built for the node that installed it)');
  if (wanted === 'sqlite') return ['sqlite'];
  const servicesUp = (await reachable(knobs.pgUrl, 5432)) && (await reachable(knobs.redisUrl, 6379));
  if (wanted === 'postgres+redis') {
    if (!servicesUp) throw new Error(`BENCH_BACKEND=postgres+redis but ${knobs.pgUrl} or ${knobs.redisUrl} is not reachable`);
    return ['postgres+redis'];
  }
  if (wanted !== 'auto') throw new Error(`BENCH_BACKEND must be auto, sqlite or postgres+redis, not ${wanted}`);
  if (!servicesUp) console.log(`PostgreSQL (${knobs.pgUrl}) or Redis (${knobs.redisUrl}) does not answer: SQLite only`);
  return servicesUp ? ['postgres+redis', 'sqlite'] : ['sqlite'];
}

async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(knobs.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

const withAppName = (url: string, appName: string) => {
  const u = new URL(url);
  u.searchParams.set('application_name', appName);
  return u.toString();
};

/** A fresh store; `extraConfig` is merged into Yihao's config file (after BENCH_CONFIG_JSON). */
export async function prepareStore(backend: Backend, extraConfig: Record<string, unknown> = {}): Promise<Store> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'yihao-bench-'));
  onCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const configFile = join(dataDir, 'bench-config.json');
  const fromEnv = knobs.configJson ? (JSON.parse(knobs.configJson) as Record<string, unknown>) : {};
  writeFileSync(configFile, JSON.stringify({ ...fromEnv, ...extraConfig, resourceServers: { [RESOURCE]: { scope: RESOURCE_SCOPE, accessTokenFormat: 'jwt', clients: ['*'] } } }));

  const firstPort = await freePort();
  // Every instance issues tokens as the first one, as instances behind one load balancer do.
  const issuer = `http://127.0.0.1:${firstPort}`;
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    ISSUER: issuer,
    YIHAO_DATA_DIR: dataDir,
    YIHAO_CONFIG: configFile,
    UV_THREADPOOL_SIZE: knobs.threadpool,
    ...(knobs.logLevel ? { LOG_LEVEL: knobs.logLevel } : {}),
  };
  let schema: string | undefined;
  let admin: Knex | undefined;
  if (backend === 'postgres+redis') {
    schema = `bench_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const prefix = `yihao-bench:${schema}:`;
    const connection = knexFactory({ client: 'pg', connection: knobs.pgUrl, searchPath: [schema], pool: { min: 0, max: 2 } });
    admin = connection;
    await connection.raw(`create schema "${schema}"`);
    onCleanup(async () => {
      await connection.raw(`drop schema if exists "${schema}" cascade`);
      await connection.destroy();
    });
    onCleanup(() => deleteRedisPrefix(prefix));
    Object.assign(env, { DATABASE_URL: knobs.pgUrl, REDIS_URL: knobs.redisUrl, YIHAO_REDIS_PREFIX: prefix, BENCH_PG_SCHEMA: schema });
  }
  // Also writes <dataDir>/secrets.json once, which the children then read.
  const config = loadConfig({ ...env, PORT: String(firstPort) });

  const store: Store = {
    backend,
    dataDir,
    config,
    issuer,
    async instanceEnv(n) {
      const port = n === 0 ? firstPort : await freePort();
      const appName = schema ? `${schema}_${n}` : undefined;
      return {
        env: { ...env, PORT: String(port), ...(appName ? { DATABASE_URL: withAppName(knobs.pgUrl, appName) } : {}) },
        base: `http://127.0.0.1:${port}`,
        appName,
      };
    },
    ...(schema && admin ? { schema, admin } : {}),
  };
  if (admin) {
    const connection = admin;
    store.dbPids = async (appName) =>
      ((await connection.raw('select pid from pg_stat_activity where application_name = ?', [appName])) as { rows: { pid: number }[] }).rows.map((r) => r.pid);
  }
  return store;
}
