import { randomBytes } from 'node:crypto';
import type { Database } from '../storage/database.js';
import { waitAfter, type DistributedLockoutPolicy, type LockoutPolicy, type LockoutStore } from './lockout.js';
import { deleteInBatches } from '../storage/batched-delete.js';
import { statements } from '../storage/statements.js';

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
 *
 * A sign-in's statements are hand-written (storage/statements.ts): the same text every time, with
 * the times as parameters, so SQLite prepares each once. Inside an upsert, "now" is the inserted
 * row's own window end less the window (a constant from config), so that no time is repeated as a
 * parameter.
 */
export function sqlLockoutStore(db: Database, policy: LockoutPolicy, distributed: DistributedLockoutPolicy): LockoutStore {
  const sql = statements(db);
  const windowMs = policy.windowSeconds * 1000;
  const dWindowMs = distributed.windowSeconds * 1000;
  const num = (v: number | string | null | undefined) => Number(v ?? 0);
  // The wait after n failures, as SQL over the new count (values from config, never from a request).
  const waits: string[] = [];
  for (let n = policy.maxFailures; waitAfter(policy, n) < policy.lockSeconds * 1000; n++) waits.push(`WHEN ? = ${n} THEN ${waitAfter(policy, n)}`);
  const waitSql = (n: string) =>
    `CASE WHEN ${n} < ${policy.maxFailures} THEN 0 ${waits.map((w) => w.replace('?', n)).join(' ')} ELSE ${policy.lockSeconds * 1000} END`;

  const t = TABLE;
  const COLUMNS = `${t} (subject, ip, failures, window_ends_at, next_at, known_until, attempt)`;
  const READ = `select ip, failures, window_ends_at, next_at, known_until from ${t} where subject = ? and ip in (?, ?)`;
  const pairNow = `(excluded.window_ends_at - ${windowMs})`;
  const admitted = `${t}.next_at <= ${pairNow}`;
  const counted = `(CASE WHEN ${t}.window_ends_at <= ${pairNow} THEN 1 ELSE ${t}.failures + 1 END)`;
  const COUNT_PAIR =
    `insert into ${COLUMNS} values (?, ?, 1, ?, ?, null, ?) on conflict (subject, ip) do update set ` +
    `failures = CASE WHEN ${admitted} THEN ${counted} ELSE ${t}.failures END, ` +
    `next_at = CASE WHEN ${admitted} THEN ${pairNow} + ${waitSql(counted)} ELSE ${t}.next_at END, ` +
    `window_ends_at = CASE WHEN ${admitted} THEN excluded.window_ends_at ELSE ${t}.window_ends_at END, ` +
    `attempt = CASE WHEN ${admitted} THEN excluded.attempt ELSE ${t}.attempt END ` +
    'returning next_at, attempt';
  const allNow = `(excluded.window_ends_at - ${dWindowMs})`;
  const COUNT_ALL =
    `insert into ${COLUMNS} values (?, '${ALL}', 1, ?, 0, null, null) on conflict (subject, ip) do update set ` +
    `failures = CASE WHEN ${t}.window_ends_at <= ${allNow} THEN 1 ELSE ${t}.failures + 1 END, ` +
    `window_ends_at = CASE WHEN ${t}.window_ends_at <= ${allNow} THEN excluded.window_ends_at ELSE ${t}.window_ends_at END ` +
    'returning failures, window_ends_at';
  const FAMILIAR_PAIR =
    `insert into ${COLUMNS} values (?, ?, 0, 0, 0, ?, null) on conflict (subject, ip) do update set ` +
    'failures = 0, window_ends_at = 0, next_at = 0, known_until = excluded.known_until';
  const GIVE_BACK = `update ${t} set failures = failures - 1, next_at = CASE WHEN failures - 1 < ${policy.maxFailures} THEN 0 ELSE next_at END where subject = ? and ip = ? and failures > 0`;
  const FORGIVE_ONE = `update ${t} set failures = failures - 1 where subject = ? and ip = '${ALL}' and failures > 0`;

  async function allRow(subject: string): Promise<GuessRow | undefined> {
    return db<GuessRow>(TABLE).where({ subject, ip: ALL }).first();
  }
  const lockedAt = (row: Pick<GuessRow, 'failures' | 'window_ends_at'> | undefined, now: number) =>
    row && num(row.failures) >= distributed.maxFailures && num(row.window_ends_at) > now ? num(row.window_ends_at) : undefined;

  return {
    async begin(subject, ip, now) {
      const rows = await sql.all<GuessRow>(READ, [subject, ip, ALL]);
      const pair = rows.find((r) => r.ip === ip);
      if (pair && num(pair.next_at) > now) return { refusedUntil: num(pair.next_at) };
      const lock = lockedAt(rows.find((r) => r.ip === ALL), now);
      if (lock !== undefined && !(num(pair?.known_until) > now)) return { refusedUntil: lock };

      const token = randomBytes(12).toString('base64url');
      const row = await sql.first<Pick<GuessRow, 'next_at' | 'attempt'>>(COUNT_PAIR, [subject, ip, now + windowMs, now + waitAfter(policy, 1), token]);
      if (!row) throw new Error('lockout upsert returned no row');
      if (row.attempt !== token) return { refusedUntil: num(row.next_at) };

      const all = await sql.first<Pick<GuessRow, 'failures' | 'window_ends_at'>>(COUNT_ALL, [subject, now + dWindowMs]);
      return { nextAt: num(row.next_at), lockedNow: Number(all?.failures) === distributed.maxFailures, lockedUntil: num(all?.window_ends_at) };
    },

    async succeed(subject, ip, now) {
      await sql.run(FAMILIAR_PAIR, [subject, ip, now + distributed.familiarSeconds * 1000]);
      await sql.run(FORGIVE_ONE, [subject]);
    },

    async lockedUntil(subject, now) {
      return lockedAt(await allRow(subject), now);
    },

    async giveBack(subject, ip) {
      await sql.run(GIVE_BACK, [subject, ip]);
      await sql.run(FORGIVE_ONE, [subject]);
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
