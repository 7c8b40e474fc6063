import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { isPostgres } from '../storage/database.js';
import { openCheckpoint, type AuditVerifyKeys, type CheckpointClaim } from './audit-key.js';

export const GENESIS = '0'.repeat(64);

/** The stored shape of one event. `seq`, `prev_hash` and `hash` are null until the sealer chains it. */
export interface AuditRow {
  id: number;
  seq: number | null;
  at: number;
  action: string;
  actor_type: string;
  actor_id: string | null;
  account_id: string | null;
  client_id: string | null;
  channel: string | null;
  ip: string | null;
  request_id: string | null;
  details: string | null;
  department_id: string | null;
  prev_hash: string | null;
  hash: string | null;
}

export type AuditContent = Omit<AuditRow, 'id' | 'seq' | 'hash' | 'prev_hash'>;

/**
 * The canonical encoding: every column but the id, the place and the hashes, in a fixed order, as
 * a JSON array, chained to the previous hash. `department_id` came later; it joins the array only
 * when set, so rows written before it still verify. The place (`seq`) is not hashed: the chain
 * itself fixes the order, each row naming the hash of the one before it.
 */
export function rowHash(prev: string, r: AuditContent): string {
  const fields: unknown[] = [Number(r.at), r.action, r.actor_type, r.actor_id, r.account_id, r.client_id, r.channel, r.ip, r.request_id, r.details];
  if (r.department_id !== null && r.department_id !== undefined) fields.push(r.department_id);
  return createHash('sha256').update(prev).update(JSON.stringify(fields)).digest('hex');
}

/** Why the log does not verify. */
export type BreakReason =
  /** A row's own content no longer matches its hash: the row was edited. */
  | 'row_altered'
  /** A row's content is intact but it does not follow the row before it: a row was deleted, inserted or moved. */
  | 'link_broken'
  /** A signed checkpoint (in the database or in the exported copy) names rows that are gone: the newest rows were deleted. */
  | 'rows_missing_at_end'
  /** The chain does not reach the hash a signed checkpoint holds: it was rewritten (every hash recomputed). */
  | 'checkpoint_mismatch'
  /** A checkpoint's signature does not verify with the audit key (or a retired one): it was forged or edited. */
  | 'checkpoint_bad_signature'
  /** Sealed rows that no signed checkpoint covers: added or re-sealed by someone without the audit key. */
  | 'unsigned_rows';

export interface ChainReport {
  intact: boolean;
  /** Sealed rows checked. */
  checked: number;
  /** Signed checkpoints checked (in the database, and lines of the exported copy). */
  checkpoints: number;
  exported: number;
  /**
   * The first thing that does not fit. `id` is the row (for a checkpoint: the row at its place,
   * when there is one); `checkpoint` the checkpoint's id, or its line number in the exported copy.
   */
  firstBroken?: { id: number; reason: BreakReason; checkpoint?: number; exportLine?: number };
  /** Events the sealer has not chained yet: the window (docs/audit.md). */
  unsealed: { count: number; oldestAt: number | undefined };
  lastCheckpoint: { seq: number; at: number } | undefined;
}

interface StoredCheckpoint {
  id: number;
  jws: string;
}

/** One line of the exported copy (what the sealer writes to the file or the webhook). */
export interface ExportedCheckpoint {
  line: number;
  jws: string;
}

/**
 * Walks the sealed rows in chain order and every signed checkpoint, inside one read snapshot (a
 * sealer committing meanwhile must not look like a break), and names the first thing that does
 * not fit. Checkpoints from an exported copy are checked against the same chain: that is what
 * finds a truncated tail whose checkpoints were deleted along with it.
 */
export async function verifyChain(db: Database, keys: AuditVerifyKeys, exported: readonly ExportedCheckpoint[] = []): Promise<ChainReport> {
  const run = (trx: Knex.Transaction) => walk(trx, keys, exported);
  return isPostgres(db) ? db.transaction(run, { isolationLevel: 'repeatable read', readOnly: true }) : db.transaction(run);
}

async function walk(trx: Knex.Transaction, keys: AuditVerifyKeys, exported: readonly ExportedCheckpoint[]): Promise<ChainReport> {
  const pendingRow = (await trx('audit_events').whereNull('seq').count({ n: '*' }).min({ oldest: 'at' }).first()) as { n: number | string; oldest: number | string | null };
  const unsealed = { count: Number(pendingRow.n), oldestAt: pendingRow.oldest === null ? undefined : Number(pendingRow.oldest) };
  const report = (extra: Partial<ChainReport> & Pick<ChainReport, 'checked'>): ChainReport => ({
    intact: extra.firstBroken === undefined,
    checkpoints: 0,
    exported: exported.length,
    unsealed,
    lastCheckpoint: undefined,
    ...extra,
  });

  // Checkpoints first: each must carry a valid signature; then the chain must pass through every
  // (seq, hash) they sign. seq -> the claims at that place.
  const stored = (await trx('audit_checkpoints').select('id', 'jws').orderBy('id')) as StoredCheckpoint[];
  const claims = new Map<number, { hash: string; checkpoint?: number; exportLine?: number }[]>();
  let lastCheckpoint: { seq: number; at: number } | undefined;
  const want = (claim: CheckpointClaim, where: { checkpoint?: number; exportLine?: number }) => {
    const list = claims.get(claim.seq) ?? [];
    list.push({ hash: claim.hash, ...where });
    claims.set(claim.seq, list);
  };
  for (const c of stored) {
    const claim = await openCheckpoint(keys, c.jws);
    if (!claim) return report({ checked: 0, firstBroken: { id: 0, reason: 'checkpoint_bad_signature', checkpoint: Number(c.id) } });
    want(claim, { checkpoint: Number(c.id) });
    if (!lastCheckpoint || claim.seq > lastCheckpoint.seq || (claim.seq === lastCheckpoint.seq && claim.at > lastCheckpoint.at)) lastCheckpoint = { seq: claim.seq, at: claim.at };
  }
  for (const e of exported) {
    const claim = await openCheckpoint(keys, e.jws);
    if (!claim) return report({ checked: 0, checkpoints: stored.length, firstBroken: { id: 0, reason: 'checkpoint_bad_signature', exportLine: e.line } });
    want(claim, { exportLine: e.line });
  }
  const base = { checkpoints: stored.length, lastCheckpoint };
  const mismatch = (seq: number, hash: string, id: number): ChainReport['firstBroken'] => {
    const bad = claims.get(seq)?.find((c) => c.hash !== hash);
    return bad && { id, reason: 'checkpoint_mismatch', ...(bad.checkpoint !== undefined ? { checkpoint: bad.checkpoint } : { exportLine: bad.exportLine! }) };
  };
  const atGenesis = mismatch(0, GENESIS, 0);
  if (atGenesis) return report({ ...base, checked: 0, firstBroken: atGenesis });

  let prev = GENESIS;
  let lastSeq = 0;
  let lastId = 0;
  let checked = 0;
  for (;;) {
    const rows = (await trx('audit_events').whereNotNull('seq').where('seq', '>', lastSeq).orderBy('seq').limit(1000)) as AuditRow[];
    if (rows.length === 0) break;
    for (const r of rows) {
      const id = Number(r.id);
      if (r.hash === null || rowHash(r.prev_hash ?? '', r) !== r.hash) return report({ ...base, checked, firstBroken: { id, reason: 'row_altered' } });
      if (r.prev_hash !== prev) return report({ ...base, checked, firstBroken: { id, reason: 'link_broken' } });
      const broken = mismatch(Number(r.seq), r.hash, id);
      if (broken) return report({ ...base, checked, firstBroken: broken });
      prev = r.hash;
      lastSeq = Number(r.seq);
      lastId = id;
      checked++;
    }
  }
  // A checkpoint beyond the last row: the rows it signed were deleted (with the checkpoints that
  // came after them, if it is the exported copy that still has it).
  for (const [seq, list] of claims) {
    if (seq > lastSeq) {
      const c = list[0]!;
      return report({ ...base, checked, firstBroken: { id: lastId, reason: 'rows_missing_at_end', ...(c.checkpoint !== undefined ? { checkpoint: c.checkpoint } : { exportLine: c.exportLine! }) } });
    }
  }
  // Rows sealed beyond the last signed checkpoint: the sealer signs every batch in the batch's own
  // transaction, so only someone without the key leaves rows like these.
  if (checked > 0 && (!lastCheckpoint || lastCheckpoint.seq < lastSeq)) {
    const first = (await trx('audit_events').where('seq', '>', lastCheckpoint?.seq ?? 0).orderBy('seq').first('id')) as { id: number };
    return report({ ...base, checked, firstBroken: { id: Number(first.id), reason: 'unsigned_rows' } });
  }
  return report({ ...base, checked });
}
