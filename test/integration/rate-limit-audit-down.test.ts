/**
 * A refusal whose audit record cannot be written (the database is down while Redis or memory counts)
 * is still a refusal: 429 with Retry-After, never a 500 that also hides that the limit held.
 */
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, expect, it } from 'vitest';
import { createRateLimits } from '../../src/http/rate-limits.js';

const warnings: unknown[] = [];
const limits = createRateLimits({
  prefix: 'test:',
  logger: { warn: (o: unknown) => void warnings.push(o) },
  onRefusalStart: () => Promise.reject(new Error('the audit store is down')),
});
const app = new Koa();
app.use(limits.limit('forms', { points: 2, durationSeconds: 60 }, 'every'));
app.use((ctx) => {
  ctx.body = 'ok';
});
const server = app.listen(0, '127.0.0.1');
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('answers 429 when the refusal cannot be audited, and says so in the log', async () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await fetch(url)).status);
  expect(statuses).toEqual([200, 200, 429, 429]);
  expect(warnings).toEqual([expect.objectContaining({ event: 'ratelimit.audit_failed', limit: 'forms' })]);
});
