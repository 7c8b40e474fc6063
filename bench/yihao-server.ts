/**
 * Child process for the benchmark: starts Yihao the way src/main.ts + src/server.ts do (config from
 * the environment and YIHAO_CONFIG, pino logger at the configured level, createYihao, listen), but
 * binds 127.0.0.1 only and answers a few IPC messages so the parent can register a client and
 * citizens before it measures. UV_THREADPOOL_SIZE is set by the parent, as src/main.ts does.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/logger.js';
import { createYihao } from '../src/yihao.js';
import { syntheticCitizenId } from './sign-in.js';

export type ToYihao = { type: 'setup'; citizens: number; redirectUri: string } | { type: 'close' };
export type FromYihao =
  | { type: 'ready' }
  | { type: 'setup'; clientId: string; clientSecret: string; citizens: { identifier: string; password: string }[] }
  | { type: 'error'; message: string };

const send = (msg: FromYihao) => process.send?.(msg);

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const schema = process.env.BENCH_PG_SCHEMA;
  const yihao = await createYihao(config, { logger: createLogger(config.logLevel), ...(schema ? { schema } : {}) });
  await yihao.listen(config.port, '127.0.0.1');

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    await yihao.close();
    process.exit(0);
  };
  process.on('disconnect', () => void close());

  process.on('message', (msg: ToYihao) => {
    if (msg.type === 'close') return void close();
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
