export { loadConfig } from './load.js';
export { ConfigError } from './config-error.js';
export { projectRoot } from './paths.js';
export type { Config, Secrets } from './schema.js';
export { describeRedis, withoutPassword, type RedisConnection } from './redis-connection.js';
