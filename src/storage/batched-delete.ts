import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Database } from './database.js';

export const SWEEP_BATCH_SIZE = 500;

export interface BatchedDelete {
  table: string;
  /** The table's primary key: it picks each batch's rows. */
  key: readonly string[];
  /** Which rows to delete. Checked again by each DELETE, so a row written anew since its batch was picked stays. */
  where: (q: Knex.QueryBuilder) => void;
  batchSize?: number | undefined;
  /**
   * For a condition no index serves: walk the table once in key order, each batch starting where
   * the last one ended. Otherwise every batch would scan again, from the start, past all the rows
   * the condition keeps.
   */
  inKeyOrder?: boolean;
}

/**
 * Deletes the rows `where` selects, at most `batchSize` per statement, and returns how many. One
 * DELETE over a long backlog holds its locks (on SQLite, the only connection) for as long as it
 * runs, and past a serving instance's stall cut it is cut off on every run, so the backlog never
 * shrinks.
 */
export async function deleteInBatches(db: Database, { table, key, where, batchSize = SWEEP_BATCH_SIZE, inKeyOrder = false }: BatchedDelete): Promise<number> {
  const columns = [...key];
  const tuple = `(${columns.map(() => '??').join(', ')})`;
  const slots = `(${columns.map(() => '?').join(', ')})`;
  let total = 0;
  let after: Knex.Value[] | undefined;
  for (;;) {
    let deleted: number;
    let picked: number;
    if (inKeyOrder) {
      const pick = db(table).select(columns).where(where).orderBy(columns).limit(batchSize);
      if (after) pick.whereRaw(`${tuple} > ${slots}`, [...columns, ...after]);
      const keys = ((await pick) as Record<string, Knex.Value>[]).map((row) => columns.map((c) => row[c]!));
      if (keys.length === 0) return total;
      const last = keys.at(-1)!;
      picked = keys.length;
      // The batch as a key range, not a list: the statement's size stays the same whatever the batch size.
      const victims = db(table).where(where).whereRaw(`${tuple} <= ${slots}`, [...columns, ...last]);
      if (after) victims.whereRaw(`${tuple} > ${slots}`, [...columns, ...after]);
      deleted = await victims.delete();
      after = last;
    } else {
      const batch = db(table).select(columns).where(where).limit(batchSize);
      const victims = db(table).where(where);
      deleted = await (columns.length === 1 ? victims.whereIn(columns[0]!, batch) : victims.whereIn(columns, batch)).delete();
      picked = deleted;
    }
    total += deleted;
    // Fewer than a batch: the walk is done, or no expired row is left (another instance's sweep may
    // have taken some of this batch's).
    if (picked < batchSize) return total;
    // Let requests waiting for the connection (SQLite has only one) in between batches.
    await nextTurn();
  }
}
