import { randomBytes } from 'node:crypto';
import type { Database } from '../storage/database.js';
import { waitAfter, type DistributedLockoutPolicy, type LockoutPolicy, type LockoutStore } from './lockout.js';
import { deleteInBatches } from '../storage/batched-delete.js';

interface GuessRow {
  subject: string;
  ip: string;
  failures: number;
  window_ends_at: number | string;
  next_at: number | string;
  known_until: number | string | null;
  attempt: string | null;
}

const TABLE = 'sign_in_guesses';
/** The row that counts a subject's failures from every address. */
const ALL = '';

/**
 * The SQL lockout store (no Redis configured). The address's row is counted in one upsert that
 * admits the attempt only if its wait is over, so concurrent guesses from one address cannot
 * overtake it on PostgreSQL (row locks) or SQLite (one writer). The subject-wide count is read
 * before and counted after: a burst may pass the distributed limit by the attempts in flight,
 * which only ever makes the lock begin a little later.
 */
export function sqlLockoutStore(db: Database, policy: LockoutPolicy, distributed: DistributedLockoutPolicy): LockoutStore {
  const windowMs = policy.windowSeconds * 1000;
  const num = (v: number | string | null | undefined) => Number(v ?? 0);
  // The wait after n failures, as SQL over the new count (values from config, never from a request).
  const waits: string[] = [];
  for (let n = policy.maxFailures; waitAfter(policy, n) < policy.lockSeconds * 1000; n++) waits.push(`WHEN ? = ${n} THEN ${waitAfter(policy, n)}`);
  const waitSql = (n: string) =>
    `CASE WHEN ${n} < ${policy.maxFailures} THEN 0 ${waits.map((w) => w.replace('?', n)).join(' ')} ELSE ${policy.lockSeconds * 1000} END`;

  async function allRow(subject: string): Promise<GuessRow | undefined> {
    return db<GuessRow>(TABLE).where({ subject, ip: ALL }).first();
  }
  const lockedAt = (row: GuessRow | undefined, now: number) =>
    row && row.failures >= distributed.maxFailures && num(row.window_ends_at) > now ? num(row.window_ends_at) : undefined;

  return {
    async begin(subject, ip, now) {
      const rows = await db<GuessRow>(TABLE).where({ subject }).whereIn('ip', [ip, ALL]);
      const pair = rows.find((r) => r.ip === ip);
      if (pair && num(pair.next_at) > now) return { refusedUntil: num(pair.next_at) };
      const lock = lockedAt(rows.find((r) => r.ip === ALL), now);
      if (lock !== undefined && !(num(pair?.known_until) > now)) return { refusedUntil: lock };

      const token = randomBytes(12).toString('base64url');
      const t = TABLE;
      const admitted = `${t}.next_at <= ${now}`;
      const counted = `(CASE WHEN ${t}.window_ends_at <= ${now} THEN 1 ELSE ${t}.failures + 1 END)`;
      const [row] = (await db(TABLE)
        .insert({ subject, ip, failures: 1, window_ends_at: now + windowMs, next_at: now + waitAfter(policy, 1), known_until: null, attempt: token })
        .onConflict(['subject', 'ip'])
        .merge({
          failures: db.raw(`CASE WHEN ${admitted} THEN ${counted} ELSE ${t}.failures END`),
          next_at: db.raw(`CASE WHEN ${admitted} THEN ${now} + ${waitSql(counted)} ELSE ${t}.next_at END`),
          window_ends_at: db.raw(`CASE WHEN ${admitted} THEN ${now + windowMs} ELSE ${t}.window_ends_at END`),
          attempt: db.raw(`CASE WHEN ${admitted} THEN ? ELSE ${t}.attempt END`, [token]),
        })
        .returning(['next_at', 'attempt'])) as GuessRow[];
      if (!row) throw new Error('lockout upsert returned no row');
      if (row.attempt !== token) return { refusedUntil: num(row.next_at) };

      const dWindowMs = distributed.windowSeconds * 1000;
      const [all] = (await db(TABLE)
        .insert({ subject, ip: ALL, failures: 1, window_ends_at: now + dWindowMs, next_at: 0, known_until: null, attempt: null })
        .onConflict(['subject', 'ip'])
        .merge({
          failures: db.raw(`CASE WHEN ${t}.window_ends_at <= ${now} THEN 1 ELSE ${t}.failures + 1 END`),
          window_ends_at: db.raw(`CASE WHEN ${t}.window_ends_at <= ${now} THEN ${now + dWindowMs} ELSE ${t}.window_ends_at END`),
        })
        .returning(['failures', 'window_ends_at'])) as GuessRow[];
      return { nextAt: num(row.next_at), lockedNow: Number(all?.failures) === distributed.maxFailures, lockedUntil: num(all?.window_ends_at) };
    },

    async succeed(subject, ip, now) {
      const knownUntil = now + distributed.familiarSeconds * 1000;
      await db(TABLE)
        .insert({ subject, ip, failures: 0, window_ends_at: 0, next_at: 0, known_until: knownUntil, attempt: null })
        .onConflict(['subject', 'ip'])
        .merge({ failures: 0, window_ends_at: 0, next_at: 0, known_until: knownUntil });
      await db(TABLE).where({ subject, ip: ALL }).andWhere('failures', '>', 0).decrement('failures', 1);
    },

    async lockedUntil(subject, now) {
      return lockedAt(await allRow(subject), now);
    },

    async familiarize(subject, ip, now) {
      const knownUntil = now + distributed.familiarSeconds * 1000;
      await db(TABLE)
        .insert({ subject, ip, failures: 0, window_ends_at: 0, next_at: 0, known_until: knownUntil, attempt: null })
        .onConflict(['subject', 'ip'])
        .merge({ known_until: knownUntil });
    },

    async familiar(subject, ip, now) {
      const row = await db<GuessRow>(TABLE).select('known_until').where({ subject, ip }).first();
      return num(row?.known_until ?? 0) > now;
    },

    async clear(subject) {
      await db(TABLE).where({ subject }).whereNull('known_until').delete();
      await db(TABLE).where({ subject }).update({ failures: 0, window_ends_at: 0, next_at: 0 });
    },
  };
}

/** Deletes rows whose counts, waits and familiarity have all run out; for the sweeper. */
export async function sweepGuesses(db: Database, now: number, batchSize?: number): Promise<number> {
  return deleteInBatches(db, {
    table: TABLE,
    key: ['subject', 'ip'],
    where: (q) => q.where('window_ends_at', '<=', now).andWhere('next_at', '<=', now).andWhere((k) => k.whereNull('known_until').orWhere('known_until', '<=', now)),
    batchSize,
    // No index serves this condition, and familiar devices' rows (kept for weeks) would be scanned
    // again by every batch.
    inKeyOrder: true,
  });
}
