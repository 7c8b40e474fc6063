import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import type { Logger } from '../../src/logger.js';
import { freePort, startHarness, type Harness } from './harness.js';

/** Whether this machine has redis-server, for the tests that start one of their own. */
export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/**
 * A redis-server of the test's own on `port` (the machine's Redis is shared, so nothing may kill it
 * or fill it): nothing kept on disk, `args` added to its command line. Ready when this resolves.
 */
export async function privateRedis(port: number, args: string[] = []): Promise<{ url: string; stop(): Promise<void> }> {
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
  await expect.poll(() => spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.trim(), { timeout: 10_000, interval: 100 }).toBe('PONG');
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

/**
 * A Yihao on PostgreSQL and a private redis-server under `noeviction` (what docs/operations.md asks
 * for), logging to `logger`: for tests that fill that Redis or take it away. `close` stops both.
 */
export async function yihaoOnPrivateRedis(logger: Logger): Promise<{ h: Harness; url: string; close(): Promise<void> }> {
  const redis = await privateRedis(await freePort(), ['--maxmemory-policy', 'noeviction']);
  const { url } = redis;
  try {
    const h = await startHarness({ backend: 'postgres+redis', logger, overrides: (c) => ({ ...c, redisUrl: url, redis: { kind: 'standalone', url } }) });
    return { h, url, close: async () => (await h.close(), await redis.stop()) };
  } catch (e) {
    await redis.stop();
    throw e;
  }
}
