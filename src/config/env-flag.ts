import { ConfigError } from './config-error.js';

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

/**
 * An on/off environment setting; unset or empty is `undefined`. Anything else than the usual
 * spellings stops the start-up: `REDIS_TLS=enabled` read as "off" would send the Redis password
 * in clear, and `YIHAO_TRUST_PROXY=enabled` would count every citizen as the proxy's address.
 */
export function envFlag(env: Record<string, string | undefined>, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = raw.trim().toLowerCase();
  if (ON.has(value)) return true;
  if (OFF.has(value)) return false;
  throw new ConfigError(name, `must be true or false (or 1 or 0), got "${raw.slice(0, 20)}"`);
}
