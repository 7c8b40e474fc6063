import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';

/** A logger writing into memory, as the process's logger writes to stdout. */
function capture() {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
  return { logger: createLogger('info', sink), text: () => lines.join('') };
}

describe.skipIf(!redisAvailable)('Redis errors in the logs', () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  const key = uniqueName('yihao:test:log-args');
  afterAll(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it('never logs the arguments of the command that failed (a whole Interaction payload reached a log line)', async () => {
    // A real ReplyError from a real server: ioredis attaches { command: { name, args } } to it.
    await redis.set(key, 'a string, not a hash');
    const citizenId = syntheticCitizenId();
    const payload = JSON.stringify({ citizenId, name: '张三', returnTo: 'secret-interaction' });
    const err = await redis.hset(key, 'payload', payload).then(
      () => undefined,
      (e: unknown) => e as Error & { command?: { args?: unknown[] } },
    );
    expect(err?.command?.args).toContain(payload);
    // Nested, as a wrapping error or the Cluster's "Too many Cluster redirections" carries it.
    const wrapped = Object.assign(new Error('store failed', { cause: err }), { lastNodeError: err });

    const { logger, text } = capture();
    logger.error({ err }, 'unhandled error');
    logger.error({ err: wrapped }, 'oidc-provider server error');
    logger.warn({ error: err }, 'other key');
    logger.flush();
    await new Promise((r) => setImmediate(r));

    const out = text();
    expect(out).toContain('WRONGTYPE');
    expect(out).toContain('hset'); // which command failed stays useful
    expect(out).not.toContain(citizenId);
    expect(out).not.toContain('secret-interaction');
    expect(out).not.toContain(key);
  });
});
