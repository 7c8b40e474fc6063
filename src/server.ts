import { mkdirSync } from 'node:fs';
import type { Config } from './config/index.js';
import { describeRedis, loadConfig, ConfigError, withoutPassword } from './config/index.js';
import { createLogger, flushLogger } from './logger.js';
import { mallocArenasUnbounded, runtimeGlibcVersion } from './accounts/malloc-arenas.js';
import { flushTracing } from './tracing/otlp-tracing.js';
import { boundHeapGrowth } from './heap-growth.js';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  boundHeapGrowth(config.memory.heapGrowingPercent);
  // The embedded SQLite file takes one server; a second is refused before it touches the file.
  if (!config.databaseUrl) {
    const { lockDataDir, DataDirInUse } = await import('./storage/data-dir-lock.js');
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    try {
      // Released as the process ends (a clean stop exits); a crash leaves it for the next start to take over.
      process.once('exit', lockDataDir(config.dataDir));
    } catch (e) {
      if (e instanceof DataDirInUse) {
        console.error(e.message);
        process.exit(2);
      }
      throw e;
    }
  }
  // Loaded only once the configuration is sound, so a configuration error is the one line printed.
  const { createYihao } = await import('./yihao.js');
  const logger = createLogger(config.logLevel);
  const yihao = await createYihao(config, { logger });
  const server = await yihao.listen(config.port).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new Error(`port ${config.port} is already in use; set PORT to a free port`);
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    {
      issuer: config.issuer,
      port,
      database: config.databaseUrl ? withoutPassword(config.databaseUrl) : 'sqlite',
      redis: config.redis ? describeRedis(config.redis) : 'off',
      secrets: config.secretsSource,
    },
    `Yihao listening on port ${port}; discovery at ${config.issuer}/.well-known/openid-configuration`,
  );
  // The line an operator waits for: out now, not with the next buffer's worth.
  flushLogger(logger);
  if (mallocArenasUnbounded(process.env, runtimeGlibcVersion())) {
    logger.warn('MALLOC_ARENA_MAX is not set: glibc may keep a ~19 MiB argon2 buffer in each libuv thread that hashed (start with `npm start` or the Docker image, or set MALLOC_ARENA_MAX=1)');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // close() drains, then waits for requests in flight up to the deadline; this is the backstop.
    const force = setTimeout(() => process.exit(1), (config.shutdown.drainSeconds + config.shutdown.deadlineSeconds + 10) * 1000);
    force.unref();
    yihao.close().then(flushTracing).then(
      () => {
        logger.info('stopped');
        flushLogger(logger);
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        flushLogger(logger);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  // A setting that a part of Yihao checks as it is built (outbound networks, the registry file):
  // the same one line and exit code as one the loader refused.
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(`yihao failed to start: ${(err as Error).message}`);
  process.exit(1);
});
