/**
 * Round trips per operation, counted by the Yihao child itself (src/storage/round-trips.ts) and
 * read over IPC before and after. The operations run one after another on an otherwise idle
 * server, and the counters are read only after a settle, so that work done after the response
 * (audit appends fired by provider events) counts towards the operation that caused it. What
 * timers do behind the hot path (the audit sealer, the signing-key poll) is counted apart by the
 * child (`backgroundWork`) and is not part of these figures.
 */
import { knobs } from './knobs.js';
import type { YihaoInstance } from './instances.js';

export interface PerOp {
  sql: number;
  redis: number;
  /**
   * Promises the server created per operation (timers' work during the pass included, so about).
   * On Node 20 each one also runs the async hooks: with round trips, the count that says where the
   * diffuse cost of a request went, and that does not move with the host's load as CPU time does.
   */
  promises: number;
  ops: number;
}

export async function countPerOp(y: YihaoInstance, op: (i: number) => Promise<unknown>, ops = knobs.countOps): Promise<PerOp> {
  const before = await y.counts(true);
  for (let i = 0; i < ops; i++) await op(i);
  await new Promise((r) => setTimeout(r, knobs.settleMs));
  const after = await y.counts(false);
  return { sql: (after.sql - before.sql) / ops, redis: (after.redis - before.redis) / ops, promises: (after.promises - before.promises) / ops, ops };
}
