/**
 * Child process for the benchmark: starts Yihao the way src/main.ts + src/server.ts do (config from
 * the environment and YIHAO_CONFIG, V8's heap growth, pino logger at the configured level, createYihao, listen), but
 * binds 127.0.0.1 only and answers a few IPC messages: the parent registers a client and citizens
 * before it measures, and reads the stores' round-trip counters before and after each scenario.
 * UV_THREADPOOL_SIZE is set by the parent, as src/main.ts does.
 */
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/logger.js';
import { boundHeapGrowth } from '../src/heap-growth.js';
import { countRoundTrips, type RoundTrips } from '../src/storage/round-trips.js';
import { createYihao, openStores } from '../src/yihao.js';
import { syntheticCitizenId } from './sign-in.js';

/** `counts` with `promises`: count every promise created from now on (true) or stop counting after this read (false). */
export type ToYihao = { type: 'setup'; citizens: number; redirectUri: string } | { type: 'counts'; promises?: boolean } | { type: 'memory' } | { type: 'close' };
export type FromYihao =
  | { type: 'ready' }
  | { type: 'setup'; clientId: string; clientSecret: string; citizens: { identifier: string; password: string }[] }
  /** Statements sent to SQL and commands sent to Redis since the server started; promises created while they were counted. */
  | ({ type: 'counts'; promises: number } & RoundTrips)
  /** The process's own view of its memory, in MB: V8's heap (reserved and used), and memory outside it. */
  | { type: 'memory'; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }
  | { type: 'error'; message: string };

const send = (msg: FromYihao) => process.send?.(msg);

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  boundHeapGrowth(config.memory.heapGrowingPercent);
  const schema = process.env.BENCH_PG_SCHEMA;
  const logger = createLogger(config.logLevel);
  // The bench opens the stores itself so that the counter sees every statement and command the app sends.
  const stores = await openStores(config, { logger, serving: true, ...(schema ? { schema } : {}) });
  const counter = countRoundTrips(stores);
  // Promises are counted only when the count pass asks: a hook on every promise would slow the timed runs.
  let promises = 0;
  const promiseHook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') promises++;
    },
  });
  const yihao = await createYihao(config, { logger, stores });
  await yihao.listen(config.port, '127.0.0.1');

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await yihao.close();
    counter.stop();
    await stores.db.destroy();
    await stores.redis?.quit();
    process.exit(0);
  };
  process.on('disconnect', () => void close());

  process.on('message', (msg: ToYihao) => {
    if (msg.type === 'close') return void close();
    if (msg.type === 'counts') {
      if (msg.promises === true) promiseHook.enable();
      send({ type: 'counts', ...counter.read(), promises });
      if (msg.promises === false) promiseHook.disable();
      return;
    }
    if (msg.type === 'memory') {
      const m = process.memoryUsage();
      const mb = (n: number) => n / 1024 / 1024;
      return void send({ type: 'memory', heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) });
    }
    void (async () => {
      const client = await yihao.clients.create({
        name: 'Bench RP',
        redirectUris: [msg.redirectUri],
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'openid profile phone',
      });
      const citizens: { identifier: string; password: string }[] = [];
      while (citizens.length < msg.citizens) {
        const identifier = syntheticCitizenId();
        const password = `bench-${randomBytes(9).toString('base64url')}-Aa1`;
        try {
          await yihao.accounts.create({ citizenId: identifier, name: '测试', password });
          citizens.push({ identifier, password });
        } catch (e) {
          if ((e as { code?: string }).code !== 'duplicate_citizen_id') throw e;
        }
      }
      send({ type: 'setup', clientId: client.client_id, clientSecret: client.client_secret!, citizens });
    })().catch((e: unknown) => send({ type: 'error', message: (e as Error).stack ?? String(e) }));
  });
  send({ type: 'ready' });
}

main().catch((e: unknown) => {
  send({ type: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
});
