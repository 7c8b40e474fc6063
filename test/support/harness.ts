import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { createYihao, openStores, type Stores, type Yihao } from '../../src/yihao.js';
import type { ClientInput, CreatedClient } from '../../src/clients/index.js';
import { createPgSchema, PG_URL, REDIS_URL, uniqueName } from './services.js';
import { syntheticCitizenId } from './citizen-ids.js';
import { freePort } from './free-port.js';

export type Backend = 'sqlite' | 'postgres+redis';

export { freePort };

export interface Harness {
  issuer: string;
  /** Where this instance listens (differs from the issuer for a second instance). */
  url: string;
  config: Config;
  yihao: Yihao;
  backend: Backend;
  /** Registers a client through the same registry the CLI uses. */
  client(input: Partial<ClientInput>): Promise<CreatedClient>;
  /** A citizen with a fresh synthetic ID number. */
  citizen(extra?: { phone?: string; name?: string }): Promise<{ citizenId: string; password: string; sub: string; name: string }>;
  /** Stops the server but keeps the stores, so a new harness can start on them (restart tests). */
  stop(): Promise<void>;
  close(): Promise<void>;
  env: Record<string, string>;
}

export interface HarnessOptions {
  backend?: Backend;
  /** Reuse the data directory / schema / prefix of an earlier harness (a restart). */
  reuse?: Harness;
  /** A second instance on the same stores and issuer, on its own port (scaled out). */
  share?: Harness;
  overrides?: (config: Config) => Config;
  /**
   * The issuer's host name (it still listens on 127.0.0.1). WebAuthn needs `localhost`: a relying
   * party ID cannot be an IP address.
   */
  host?: 'localhost';
  /** Where the app logs (default: stdout at the configured level), to inspect its log lines. */
  logger?: Logger;
  /** `false`: userinfo and the token endpoint go through oidc-provider only (src/oidc/*-fast-path.ts). */
  fastPaths?: false;
}

/**
 * SQLite instances of one process on one file share one connection, counted by who uses it. With a
 * connection each, a write on the second waits for the file's lock synchronously (busy_timeout):
 * that holds the event loop, and with it the first connection's open transaction, until the wait
 * runs out ("database is locked" under load). A deployment never runs two servers in one process;
 * the instances still have their own services, caches and leases.
 */
const sqliteConnections = new Map<string, { stores: Promise<Stores>; users: number }>();

function useSqliteStores(config: Config, logger: Logger): { stores: Promise<Stores>; release(): Promise<void> } {
  const key = config.dataDir;
  let entry = sqliteConnections.get(key);
  if (!entry) {
    entry = { stores: openStores(config, { logger, serving: true }), users: 0 };
    sqliteConnections.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    stores: held.stores,
    async release() {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      sqliteConnections.delete(key);
      await (await held.stores).db.destroy();
    },
  };
}

/** Starts a real Yihao on a random port with a fresh store. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const backend = opts.reuse?.backend ?? opts.share?.backend ?? opts.backend ?? 'sqlite';
  // A restart keeps its issuer, as a real deployment would; so does a second instance.
  const fixedPort = opts.reuse ? new URL(opts.reuse.issuer).port : undefined;
  let port = fixedPort ?? String(await freePort());
  const issuerFor = (p: string) => opts.share?.issuer ?? `http://${opts.host ?? '127.0.0.1'}:${p}`;
  let issuer = issuerFor(port);
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;
  let schema: string | undefined;
  if (opts.share) {
    env = { ...opts.share.env, PORT: port };
    schema = env.TEST_SCHEMA;
    cleanup = async () => {};
  } else if (opts.reuse) {
    env = { ...opts.reuse.env };
    schema = env.TEST_SCHEMA;
    cleanup = async () => opts.reuse!.close();
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'yihao-test-'));
    env = { NODE_ENV: 'test', YIHAO_DATA_DIR: dataDir, PORT: port, ISSUER: issuer, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' };
    const cleanups: (() => Promise<void>)[] = [async () => rmSync(dataDir, { recursive: true, force: true })];
    if (backend === 'postgres+redis') {
      const pg = await createPgSchema();
      schema = pg.schema;
      const prefix = `${uniqueName('yihao')}:`;
      Object.assign(env, { DATABASE_URL: PG_URL, REDIS_URL, YIHAO_REDIS_PREFIX: prefix, TEST_SCHEMA: pg.schema });
      cleanups.push(pg.drop, () => deleteRedisPrefix(prefix));
    }
    cleanup = async () => {
      for (const c of cleanups) await c();
    };
  }
  const configFor = () => {
    let config = loadConfig(env);
    // Every simulated citizen of a test file comes from 127.0.0.1, like a whole service hall behind one
    // NAT: the per-address limit on SMS-sending forms would refuse the file's later cases. Its own test
    // (rate-limits.test.ts) puts the default back.
    config = { ...config, rateLimits: { ...config.rateLimits, forms: { ...config.rateLimits.forms, points: 10_000 } } };
    // Tests that rotate signing keys for other reasons want the new key to sign at once; the staged
    // rotation has its own tests (signing-key-rotation.test.ts), which set publishSeconds.
    config = { ...config, keys: { ...config.keys, publishSeconds: 0 } };
    return opts.overrides ? opts.overrides(config) : config;
  };
  let config: Config;
  let yihao: Yihao;
  let sqlite: ReturnType<typeof useSqliteStores> | undefined;
  // The free port is only the kernel's pick of a moment ago: a test running in parallel can take it
  // before this server listens. Then start over on another port (and so another issuer), unless the
  // port is the one a restart must keep.
  for (let attempt = 1; ; attempt++) {
    config = configFor();
    const logger = opts.logger ?? createLogger(config.logLevel);
    if (backend === 'sqlite' && !config.databaseUrl) sqlite ??= useSqliteStores(config, logger);
    yihao = await createYihao(config, {
      logger,
      ...(schema ? { schema } : {}),
      ...(opts.fastPaths === false ? { fastPaths: false } : {}),
      ...(sqlite ? { stores: await sqlite.stores } : {}),
    });
    try {
      await yihao.listen(Number(port), '127.0.0.1');
      break;
    } catch (err) {
      await yihao.close();
      if (fixedPort || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) {
        await sqlite?.release();
        await cleanup();
        throw err;
      }
      port = String(await freePort());
      issuer = issuerFor(port);
      env.PORT = port;
      if (env.ISSUER && !opts.share && !opts.reuse) env.ISSUER = issuer;
    }
  }

  let stopped = false;
  const stop = async () => {
    if (!stopped) await yihao.close();
    stopped = true;
    await sqlite?.release();
    // Let this process's fetch pool see the server's FINs before anything reuses the port.
    await new Promise((r) => setTimeout(r, 100));
  };
  const harness: Harness = {
    issuer,
    url: `http://127.0.0.1:${port}`,
    config,
    yihao,
    backend,
    env,
    client: (input) =>
      yihao.clients.create({ name: 'Test RP', redirectUris: ['http://127.0.0.1:9/cb'], ...input }),
    async citizen(extra = {}) {
      const citizenId = syntheticCitizenId();
      const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
      const name = extra.name ?? '张三';
      const account = await yihao.accounts.create({ citizenId, name, password, ...(extra.phone ? { phone: extra.phone } : {}) });
      return { citizenId, password, sub: account.sub, name };
    },
    stop,
    async close() {
      await stop();
      await cleanup();
    },
  };
  return harness;
}

/** Removes every Redis key under `prefix` (a test's own). */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}
