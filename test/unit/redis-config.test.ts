import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, describeRedis, loadConfig } from '../../src/config/index.js';
import { isDependencyFailure } from '../../src/storage/dependency-failure.js';

const dir = mkdtempSync(join(tmpdir(), 'yihao-redis-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const load = (env: Record<string, string>) => loadConfig({ YIHAO_DATA_DIR: dir, ...env });
const refusal = (env: Record<string, string>) => {
  try {
    load(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('Redis connection settings', () => {
  it('keeps REDIS_URL as one standalone server', () => {
    expect(load({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toEqual({ kind: 'standalone', url: 'redis://127.0.0.1:6379' });
    expect(load({}).redis).toBeUndefined();
  });

  it('reads a Sentinel set: the master name and the sentinel addresses', () => {
    const c = load({ REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379,[::1]:26380', REDIS_SENTINEL_MASTER: 'yihao', REDIS_PASSWORD: 'pw' });
    expect(c.redis).toEqual({
      kind: 'sentinel',
      masterName: 'yihao',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      password: 'pw',
      tls: false,
    });
    expect(describeRedis(c.redis!)).toBe('Redis master "yihao" (sentinels 10.0.0.1:26379,10.0.0.2:26379,[::1]:26380)');
  });

  it('reads a Cluster node list', () => {
    const c = load({ REDIS_CLUSTER_NODES: 'redis-a:7000,redis-b:7001', REDIS_TLS: 'true' });
    expect(c.redis).toEqual({ kind: 'cluster', nodes: [{ host: 'redis-a', port: 7000 }, { host: 'redis-b', port: 7001 }], tls: true });
    expect(describeRedis(c.redis!)).toBe('Redis Cluster at redis-a:7000,redis-b:7001');
  });

  it('refuses settings that contradict each other or are malformed, naming the setting', () => {
    expect(refusal({ REDIS_URL: 'redis://x:6379', REDIS_CLUSTER_NODES: 'a:1' })).toBe('configuration: REDIS_CLUSTER_NODES cannot be combined with REDIS_URL: choose one way to reach Redis');
    expect(refusal({ REDIS_SENTINELS: 'a:26379' })).toMatch(/^configuration: REDIS_SENTINEL_MASTER must name/);
    expect(refusal({ REDIS_SENTINEL_MASTER: 'm' })).toMatch(/^configuration: REDIS_SENTINEL_MASTER needs REDIS_SENTINELS/);
    expect(refusal({ REDIS_CLUSTER_NODES: 'a:7000,b' })).toBe('configuration: REDIS_CLUSTER_NODES must be a comma-separated list of host:port, got "b"');
    expect(refusal({ REDIS_CLUSTER_NODES: 'a:70000' })).toMatch(/host:port/);
    expect(refusal({ REDIS_PASSWORD: 'secret-pw' })).toBe('configuration: REDIS_PASSWORD needs REDIS_SENTINELS or REDIS_CLUSTER_NODES');
    expect(refusal({ REDIS_PASSWORD: 'secret-pw', REDIS_URL: 'redis://h:1' })).not.toContain('secret-pw');
  });

  it('describes a standalone URL without its password', () => {
    expect(describeRedis({ kind: 'standalone', url: 'redis://user:hunter2@cache:6379/2' })).toBe('Redis at redis://user:***@cache:6379/2');
  });
});

describe('store failures', () => {
  it('tells an unreachable or restarting store from a bug', () => {
    expect(isDependencyFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isDependencyFailure(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isDependencyFailure(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDependencyFailure(Object.assign(new Error('Reached the max retries per request limit (which is 3).'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
    expect(isDependencyFailure(new Error('READONLY You can\'t write against a read only replica.'))).toBe(true);
    expect(isDependencyFailure(new Error('Too many Cluster redirections. Last error: Error: connect ECONNREFUSED 127.0.0.1:7001'))).toBe(true);
    expect(isDependencyFailure(new Error('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isDependencyFailure(new Error('MOVED 5101 127.0.0.1:42027'))).toBe(true);
    expect(isDependencyFailure(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBe(true);
    expect(isDependencyFailure(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }))).toBe(false);
    expect(isDependencyFailure(new TypeError('cannot read properties of undefined'))).toBe(false);
  });
});

describe('Redis settings that would silently mean something else', () => {
  it('refuses a REDIS_TLS it cannot read as yes or no, instead of connecting without TLS', () => {
    expect(refusal({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: 'yes please' })).toMatch(/^configuration: REDIS_TLS /);
    for (const on of ['true', '1', 'TRUE', 'yes', 'on']) expect(load({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: on }).redis).toMatchObject({ tls: true });
    for (const off of ['false', '0', 'no', 'off']) expect(load({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: off }).redis).toMatchObject({ tls: false });
  });

  it('refuses a REDIS_URL that is not a URL, naming the setting and never the password', () => {
    const message = refusal({ REDIS_URL: 'redis://:s3cret-pw@127.0.0.1:notaport' });
    expect(message).toMatch(/^configuration: REDIS_URL /);
    expect(message).not.toContain('s3cret-pw');
  });
});
