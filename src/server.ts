import { loadConfig, ConfigError } from './config/index.js';
import { createLogger } from './logger.js';
import { createYihao } from './yihao.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const yihao = await createYihao(config, { logger });
  const server = await yihao.listen(config.port);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    {
      issuer: config.issuer,
      port,
      database: config.databaseUrl ? 'postgresql' : 'sqlite',
      redis: config.redisUrl ? 'on' : 'off',
      secrets: config.secretsSource,
    },
    `Yihao listening on port ${port}; discovery at ${config.issuer}/.well-known/openid-configuration`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    yihao.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`yihao failed to start: ${(err as Error).message}`);
  process.exit(1);
});
