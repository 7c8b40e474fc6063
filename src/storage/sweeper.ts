import type { Logger } from 'pino';
import { deleteInBatches, SWEEP_BATCH_SIZE } from './batched-delete.js';
import type { Database } from './database.js';
import { backgroundWork } from './request-memo.js';

export interface SweeperOptions {
  intervalSeconds: number;
  /** Rows per DELETE; small batches keep each statement's locks short when a backlog piles up. */
  batchSize?: number;
  logger?: Pick<Logger, 'info' | 'error'>;
  /** Other stores' expiry sweeps (one-time codes), by name, run on the same schedule, each deleting in batches of `batchSize`. */
  extra?: Record<string, (now: number, batchSize: number) => Promise<number>>;
}

export interface Sweeper {
  stop(): void;
  /** Deletes every expired row now; returns how many. Concurrent calls share one run. */
  sweepOnce(): Promise<number>;
}

/** SQL has no native expiry: reads already hide expired oidc_models rows, this reclaims the space. */
export function startSweeper(db: Database, { intervalSeconds, batchSize = SWEEP_BATCH_SIZE, logger, extra = {} }: SweeperOptions): Sweeper {
  let running: Promise<number> | undefined;

  const sweepTable = (table: 'oidc_models' | 'account_index', cutoff: number) =>
    deleteInBatches(db, { table, key: ['model', 'id'], where: (q) => q.where('expires_at', '<', cutoff), batchSize });

  async function sweep(): Promise<number> {
    const cutoff = Date.now();
    let total = (await sweepTable('oidc_models', cutoff)) + (await sweepTable('account_index', cutoff));
    for (const [store, sweepOther] of Object.entries(extra)) {
      // One store's failure (a statement cut off by a stalled database, a missing table) must not
      // leave the stores after it unswept on every run.
      try {
        total += await sweepOther(cutoff, batchSize);
      } catch (err) {
        logger?.error({ event: 'sweep.store_failed', store, err }, "sweeping one store's expired records failed; the others were swept");
      }
    }
    return total;
  }

  function sweepOnce(): Promise<number> {
    running ??= sweep().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => {
    backgroundWork(sweepOnce).then(
      (deleted) => {
        if (deleted > 0) logger?.info({ event: 'oidc_models.swept', deleted }, 'deleted expired OIDC records');
      },
      (err: unknown) => logger?.error({ event: 'oidc_models.sweep_failed', err }, 'sweeping expired OIDC records failed'),
    );
  }, intervalSeconds * 1000);
  // A pending sweep must not keep the process (or a test run) alive.
  timer.unref();

  return { stop: () => clearInterval(timer), sweepOnce };
}
