import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { AuditAction } from './audit-actions.js';

/** A sign-in that worked, on any channel: the interactive ones, and a citizen signed in by counter staff. */
export const SIGN_IN_ACTIONS = ['login.succeeded', 'counter.assisted_login'] as const satisfies readonly AuditAction[];
/** A wrong password, code, card or key; and a try while the account was locked. */
export const FAILURE_ACTIONS = ['login.failed', 'login.locked'] as const satisfies readonly AuditAction[];
/** An account locked for a while (too many failures, or guessing from many addresses). */
export const LOCKOUT_ACTIONS = ['account.locked'] as const satisfies readonly AuditAction[];

export interface StatsQuery {
  actions: readonly string[];
  /** Epoch ms, inclusive: bucket 0 starts here. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  /**
   * Only events about these clients; undefined counts every event (also those naming no client).
   * An empty list counts nothing.
   */
  clientIds?: readonly string[] | undefined;
}

export interface BucketCount {
  /** Whole `bucketMs` periods since `from`. */
  bucket: number;
  action: string;
  channel: string | undefined;
  n: number;
}

export interface ClientCount {
  clientId: string;
  /** Events of the `ranked` actions. */
  ranked: number;
  /** Events of the query's other actions. */
  other: number;
}

const scoped = (q: Knex.QueryBuilder, s: StatsQuery) => {
  q.whereIn('action', [...s.actions]).where('at', '>=', s.from).where('at', '<', s.to);
  if (s.clientIds) q.whereIn('client_id', [...s.clientIds]);
  return q;
};

/**
 * Aggregates over the audit log for the console's dashboard, in SQL that SQLite and PostgreSQL read
 * alike: the bucket is integer arithmetic on the epoch-ms `at` (no date functions, which differ),
 * and the (action, at) index makes each action one range scan.
 */
export function auditStats(db: Database) {
  return {
    /** Events per bucket of `bucketMs`, action and channel; buckets with no events are absent. */
    async byBucket(s: StatsQuery & { bucketMs: number }): Promise<BucketCount[]> {
      if (s.clientIds?.length === 0) return [];
      const rows = (await scoped(
        db('audit_events').select(db.raw('cast((at - ?) / ? as integer) as bucket', [s.from, s.bucketMs]), 'action', 'channel').count({ n: '*' }),
        s,
      ).groupByRaw('1, 2, 3')) as { bucket: number | string; action: string; channel: string | null; n: number | string }[];
      return rows.map((r) => ({ bucket: Number(r.bucket), action: r.action, channel: r.channel ?? undefined, n: Number(r.n) }));
    },

    /** The `limit` clients with the most events of the `ranked` actions (ties by client id). */
    async topClients(s: StatsQuery & { ranked: readonly string[]; limit: number }): Promise<ClientCount[]> {
      if (s.clientIds?.length === 0 || s.ranked.length === 0) return [];
      const marks = s.ranked.map(() => '?').join(', ');
      const rows = (await scoped(
        db('audit_events')
          .select('client_id', db.raw(`sum(case when action in (${marks}) then 1 else 0 end) as ranked`, [...s.ranked]), db.raw(`sum(case when action in (${marks}) then 0 else 1 end) as other`, [...s.ranked]))
          .whereNotNull('client_id'),
        s,
      )
        .groupBy('client_id')
        .orderByRaw('2 desc, 1')
        .limit(s.limit)) as { client_id: string; ranked: number | string; other: number | string }[];
      return rows.map((r) => ({ clientId: r.client_id, ranked: Number(r.ranked), other: Number(r.other) })).filter((r) => r.ranked > 0);
    },
  };
}
export type AuditStats = ReturnType<typeof auditStats>;
