/**
 * An edge limit counted in Redis still limits while Redis is unreachable: each instance counts in
 * its own memory meanwhile (a budget per instance, not none). Before, every failure was let through
 * while the store errored, so a Redis outage opened client-secret guessing at /token to anyone.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRateLimits } from '../../src/http/rate-limits.js';
import { freePort } from '../support/free-port.js';

describe('an edge limit whose Redis is unreachable', () => {
  let server: http.Server;
  let base: string;
  let redis: Redis;

  beforeAll(async () => {
    // Nothing listens there: every command fails at once.
    redis = new Redis({ port: await freePort(), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    const limits = createRateLimits({ redis: redis as never, prefix: 'yihao-test:store-down:' });
    const app = new Koa();
    app.use(limits.limit('client-auth', { points: 3, durationSeconds: 60 }, { failed: (ctx) => ctx.status === 401 }));
    app.use((ctx) => {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client' };
    });
    server = http.createServer(app.callback()).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    redis?.disconnect();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('refuses the failure that spends the last point, and those after it', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${base}/token`, { method: 'POST' })).status);
    expect(statuses).toEqual([401, 401, 429, 429, 429, 429]);
  });
});
