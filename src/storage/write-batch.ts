import type { Database } from './database.js';
import { requestMemo, type RequestMemo } from './request-memo.js';
import { statements } from './statements.js';

const QUEUE = 'storage:sqlWrites';

/** One SQL statement with its parameters, kept to run later with others. */
export interface SqlWrite {
  sql: string;
  params: unknown[];
}

interface Queue {
  writes: (SqlWrite & { key: string })[];
  /** Whether the request's settle work still holds a flush of this queue. */
  scheduled: boolean;
  flush(): Promise<void>;
}

/**
 * Upserts that may wait for the end of the request: a sign-in saves the session's authentication
 * record and its account-index row, a consent saves the grant and its account-index row, each pair
 * from different places. Within the request every read of them is served by the memo; before the
 * response goes out (and before any other SQL write, so order is kept) they are sent together, as
 * one statement on PostgreSQL (data-modifying CTEs) and one immediate transaction on SQLite.
 * Only plain upserts (and inserts of new rows) belong here: nothing whose outcome the request
 * must know before it goes on. A route that must not go past a point until they landed calls
 * `flushPendingWrites` there.
 */
export function writeBatch(db: Database) {
  const sql = statements(db);

  async function send(writes: readonly SqlWrite[]): Promise<void> {
    if (writes.length === 0) return;
    if (writes.length === 1) {
      await sql.run(writes[0]!.sql, writes[0]!.params);
      return;
    }
    if (sql.pg) {
      const parts = writes.map((w, i) => `w${i} as (${w.sql} returning 1)`);
      await sql.run(`with ${parts.join(', ')} select 1`, writes.flatMap((w) => w.params));
      return;
    }
    await sql.onSqlite((statement, conn) =>
      conn
        .transaction(() => {
          for (const w of writes) statement(w.sql).run(...w.params);
        })
        .immediate(),
    );
  }

  /**
   * The request's queue, with a flush in its settle work. A write that joins after that flush ran
   * (the request settling: an event's handler that waited for a read first) gets a flush of its
   * own, which the settling still runs: one queued without it would never be sent.
   */
  const queueOf = (memo: RequestMemo): Queue => {
    let queue = memo.notes.get(QUEUE) as Queue | undefined;
    if (!queue) {
      const created: Queue = { writes: [], scheduled: false, flush: () => send(created.writes.splice(0)) };
      memo.notes.set(QUEUE, (queue = created));
    }
    if (!queue.scheduled) {
      const scheduled = queue;
      scheduled.scheduled = true;
      memo.settle.push(() => {
        scheduled.scheduled = false;
        return scheduled.flush();
      });
    }
    return queue;
  };

  return {
    /**
     * Queues the upsert of the row `key` names in a request; outside one, runs it now. A later
     * upsert of the same row replaces the queued one (one statement must not change a row twice).
     */
    async defer(key: string, text: string, params: unknown[]): Promise<void> {
      const memo = requestMemo();
      if (!memo) {
        await sql.run(text, params);
        return;
      }
      const { writes } = queueOf(memo);
      const same = writes.findIndex((w) => w.key === key);
      if (same >= 0) writes.splice(same, 1);
      writes.push({ key, sql: text, params });
    },
    /** Sends the request's queued upserts now (before a write that must come after them). */
    flush: flushPendingWrites,
  };
}

/**
 * Sends the current request's queued writes now, as one round trip. A route calls it before its
 * point of no return (saving an interaction's result), so that what it queued has landed first.
 */
export async function flushPendingWrites(): Promise<void> {
  const queue = requestMemo()?.notes.get(QUEUE) as Queue | undefined;
  await queue?.flush();
}
export type WriteBatch = ReturnType<typeof writeBatch>;
