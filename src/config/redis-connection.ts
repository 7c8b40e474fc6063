import { ConfigError } from './config-error.js';
import { envFlag } from './env-flag.js';

export interface RedisNode {
  host: string;
  port: number;
}

/**
 * How to reach Redis: one server (`REDIS_URL`), a Sentinel-watched master (`REDIS_SENTINELS` with
 * `REDIS_SENTINEL_MASTER`), or a Cluster (`REDIS_CLUSTER_NODES`). Passwords stay in here; `describe`
 * gives the form that may appear in a log line or an error message.
 */
export type RedisConnection =
  | { kind: 'standalone'; url: string }
  | { kind: 'sentinel'; masterName: string; sentinels: RedisNode[]; password?: string; sentinelPassword?: string; tls: boolean }
  | { kind: 'cluster'; nodes: RedisNode[]; password?: string; tls: boolean };

type Env = Record<string, string | undefined>;

const NODE = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function nodeList(env: Env, setting: string): RedisNode[] {
  const raw = env[setting]!;
  const nodes = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (nodes.length === 0) throw new ConfigError(setting, 'must list at least one host:port');
  return nodes.map((n) => {
    const m = NODE.exec(n);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new ConfigError(setting, `must be a comma-separated list of host:port, got "${n.slice(0, 60)}"`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

/** Reads the Redis settings; at most one of the three forms may be given. */
export function redisConnection(env: Env, url: string | undefined): RedisConnection | undefined {
  const set = (name: string) => Boolean(env[name]);
  const forms = [url && 'REDIS_URL', set('REDIS_SENTINELS') && 'REDIS_SENTINELS', set('REDIS_CLUSTER_NODES') && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (forms.length > 1) throw new ConfigError(String(forms[1]), `cannot be combined with ${String(forms[0])}: choose one way to reach Redis`);
  if (set('REDIS_SENTINEL_MASTER') && !set('REDIS_SENTINELS')) throw new ConfigError('REDIS_SENTINEL_MASTER', 'needs REDIS_SENTINELS (the sentinel addresses)');
  const password = env.REDIS_PASSWORD || undefined;
  const tls = envFlag(env, 'REDIS_TLS') ?? false;
  if (url) {
    if (password) throw new ConfigError('REDIS_PASSWORD', 'is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL put the password in the URL');
    return { kind: 'standalone', url };
  }
  if (set('REDIS_SENTINELS')) {
    const masterName = env.REDIS_SENTINEL_MASTER;
    if (!masterName) throw new ConfigError('REDIS_SENTINEL_MASTER', 'must name the master the sentinels watch (e.g. mymaster)');
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(masterName)) throw new ConfigError('REDIS_SENTINEL_MASTER', 'must be 1-64 characters of A-Z a-z 0-9 . _ -');
    return {
      kind: 'sentinel',
      masterName,
      sentinels: nodeList(env, 'REDIS_SENTINELS'),
      ...(password ? { password } : {}),
      ...(env.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: env.REDIS_SENTINEL_PASSWORD } : {}),
      tls,
    };
  }
  if (set('REDIS_CLUSTER_NODES')) return { kind: 'cluster', nodes: nodeList(env, 'REDIS_CLUSTER_NODES'), ...(password ? { password } : {}), tls };
  if (password) throw new ConfigError('REDIS_PASSWORD', 'needs REDIS_SENTINELS or REDIS_CLUSTER_NODES');
  return undefined;
}

/** Where Redis is, without any password: for start-up lines and error messages. */
export function describeRedis(conn: RedisConnection): string {
  const list = (nodes: RedisNode[]) => nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
  if (conn.kind === 'sentinel') return `Redis master "${conn.masterName}" (sentinels ${list(conn.sentinels)})`;
  if (conn.kind === 'cluster') return `Redis Cluster at ${list(conn.nodes)}`;
  return `Redis at ${withoutPassword(conn.url)}`;
}

/** A connection URL with its password (and user) replaced, so that it can be printed. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an unparsable URL)';
  }
}
