import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';

/**
 * A column whose stored values a key rotation rewrites (re-sealed under the current seal key,
 * re-indexed under the current index version), one row at a time, while the server runs.
 */
export interface RewritableColumn {
  /** For progress and --json: `accounts.citizen_sealed`. */
  name: string;
  table: string;
  /** The primary key: a string column, the batches' cursor. */
  key: string;
  column: string;
  /** Other columns `rewrite` reads. */
  with?: readonly string[];
  /** Narrows the query to rows that may need rewriting (in SQL, so a finished run reads nothing more). */
  pending(q: Knex.QueryBuilder): Knex.QueryBuilder;
  /** The value to store instead, or undefined if this one is current. Throws if it cannot be read. */
  rewrite(row: Record<string, string>): string | undefined;
  /** What else changes with the value, in the same transaction (an index copied into another table). */
  alsoUpdate?(trx: Knex.Transaction, row: Record<string, string>, next: string): Promise<void>;
}

export interface RewriteProgress {
  column: string;
  scanned: number;
  rewritten: number;
  /** Changed by someone else between our read and our write: left to them (their value is current). */
  changedMeanwhile: number;
  /** Values that did not open or did not belong to their row: left as they are, for a person to look at. */
  unreadable: number;
  /** The keys of the unreadable rows (ids, never values), at most 20. */
  unreadableKeys: string[];
}

const MAX_LISTED = 20;

/**
 * Rewrites every pending row of `col`, in batches ordered by key. Safe to stop at any point and to
 * run again: rows already rewritten no longer match `pending`, so a rerun starts where this one
 * stopped. Each row is written only if it still holds the value that was read (compare-and-set), so
 * a concurrent change by the server (a new sign-in's seal, a password-reset, an enrolment) is never
 * overwritten with an older value.
 */
export async function rewriteColumn(db: Database, col: RewritableColumn, opts: { batchSize: number; onBatch?: (p: RewriteProgress) => void }): Promise<RewriteProgress> {
  const progress: RewriteProgress = { column: col.name, scanned: 0, rewritten: 0, changedMeanwhile: 0, unreadable: 0, unreadableKeys: [] };
  let cursor: string | undefined;
  for (;;) {
    let q = db(col.table).select(col.key, col.column, ...(col.with ?? []));
    q = col.pending(q);
    if (cursor !== undefined) q = q.andWhere(col.key, '>', cursor);
    const rows = (await q.orderBy(col.key, 'asc').limit(opts.batchSize)) as Record<string, string>[];
    if (rows.length === 0) break;
    const writes: { row: Record<string, string>; next: string }[] = [];
    for (const row of rows) {
      progress.scanned++;
      try {
        const next = col.rewrite(row);
        if (next !== undefined && next !== row[col.column]) writes.push({ row, next });
      } catch {
        progress.unreadable++;
        if (progress.unreadableKeys.length < MAX_LISTED) progress.unreadableKeys.push(String(row[col.key]));
      }
    }
    if (writes.length > 0) {
      await db.transaction(async (trx) => {
        for (const { row, next } of writes) {
          const n = await trx(col.table)
            .where({ [col.key]: row[col.key], [col.column]: row[col.column] })
            .update({ [col.column]: next });
          if (n === 1) {
            progress.rewritten++;
            await col.alsoUpdate?.(trx, row, next);
          } else {
            progress.changedMeanwhile++;
          }
        }
      });
    }
    cursor = String(rows[rows.length - 1]![col.key]);
    opts.onBatch?.({ ...progress, unreadableKeys: [...progress.unreadableKeys] });
  }
  return progress;
}
