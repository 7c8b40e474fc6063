import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import type { Database } from '../storage/database.js';
import { anchoredHead } from './audit-anchor.js';
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
  /** 2: the hash covers the row's id too; null (1): sealed before it did. */
  hash_version?: number | null;
}

export type AuditContent = Omit<AuditRow, 'id' | 'seq' | 'hash' | 'prev_hash' | 'hash_version'>;

/** The row hash the sealer writes now: over the id too. */
export const HASH_VERSION = 2;

/**
 * The canonical encoding: every column but the place and the hashes, in a fixed order, as a JSON
 * array, chained to the previous hash. `department_id` came later; it joins the array only when
 * set, so rows written before it still verify. The id (given for `hash_version` 2) came later
 * still: events are listed, paged and cut by id, so one that could be changed unseen changed the
 * order auditors read the log in. The place (`seq`) is not hashed: the chain itself fixes the
 * order, each row naming the hash of the one before it.
 */
export function rowHash(prev: string, r: AuditContent, id?: number): string {
  const fields: unknown[] = [Number(r.at), r.action, r.actor_type, r.actor_id, r.account_id, r.client_id, r.channel, r.ip, r.request_id, r.details];
  if (r.department_id !== null && r.department_id !== undefined) fields.push(r.department_id);
  if (id !== undefined) fields.push({ id });
  return createHash('sha256').update(prev).update(JSON.stringify(fields)).digest('hex');
}

/** A stored row's hash as its version computes it. */
export const storedRowHash = (prev: string, r: AuditRow): string => rowHash(prev, r, Number(r.hash_version) === HASH_VERSION ? Number(r.id) : undefined);

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
  | 'unsigned_rows'
  /** A row with a place (`seq`) the chain never reaches (0 or below, or a place another row holds): planted beside the chain. */
  | 'row_outside_chain';

/**
 * Whether verify compared the chain with the newest checkpoint kept in Redis. Only `checked` means
 * it did; `not_configured` (no Redis) and `none_yet` (nothing signed yet) leave nothing to compare;
 * `missing`, `unreadable` and `unverifiable` mean a log that may have been cut or rewritten (docs/audit.md).
 */
export type AnchorStatus = 'checked' | 'not_configured' | 'none_yet' | 'missing' | 'unreadable' | 'unverifiable';

/** The anchor as read from Redis: its line (undefined when nothing is kept), or why there is none to read. */
export type AnchorRead = { line: string | undefined } | 'unreadable' | 'not_configured';

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
  firstBroken?: { id: number; reason: BreakReason; checkpoint?: number; exportLine?: number; anchor?: true };
  /** Events the sealer has not chained yet: the window (docs/audit.md). */
  unsealed: { count: number; oldestAt: number | undefined };
  lastCheckpoint: { seq: number; hash: string; at: number } | undefined;
  /** The anchor's place when it was checked. */
  anchor: { status: AnchorStatus; seq?: number };
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
 * Walks the sealed rows in chain order and every signed checkpoint, and names the first thing that
 * does not fit. Checkpoints from an exported copy are checked against the same chain: that is what
 * finds a truncated tail whose checkpoints were deleted along with it.
 *
 * No transaction: on SQLite it would hold the server's only connection for the whole walk. A sealer
 * committing meanwhile cannot look like a break, because it adds rows and their checkpoint in one
 * commit and only after the last sealed row: checkpoints read before the walk never name rows the
 * walk cannot reach, and rows the walk finds beyond them come with checkpoints that are read (and
 * followed) after it.
 */
export async function verifyChain(db: Database, keys: AuditVerifyKeys, exported: readonly ExportedCheckpoint[] = [], anchor: AnchorRead = 'not_configured'): Promise<ChainReport> {
  const pendingRow = (await db('audit_events').whereNull('seq').count({ n: '*' }).min({ oldest: 'at' }).first()) as { n: number | string; oldest: number | string | null };
  const unsealed = { count: Number(pendingRow.n), oldestAt: pendingRow.oldest === null ? undefined : Number(pendingRow.oldest) };

  type Where = { checkpoint: number } | { exportLine: number } | { anchor: true };
  // seq -> what the signed checkpoints claim the chain's hash is there.
  const claims = new Map<number, { hash: string; where: Where }[]>();
  let lastCheckpoint: ChainReport['lastCheckpoint'];
  let checkpoints = 0;
  let seenCheckpointId = 0;
  let prev = GENESIS;
  let lastSeq = 0;
  let lastId = 0;
  let checked = 0;
  // Hashes at the places a checkpoint signed during the walk may name (the head before it, or later).
  const recent = new Map<number, { hash: string; id: number }>([[0, { hash: GENESIS, id: 0 }]]);
  let recentFrom = 0;
  // The newest checkpoint the sealer kept outside the database: checked like an exported one. One
  // whose signature fails is not ours to go by (a retired key's, or written by someone else).
  let anchored: CheckpointClaim | undefined;
  let anchorStatus: AnchorStatus;
  if (typeof anchor === 'string') anchorStatus = anchor;
  else if (anchor.line === undefined) anchorStatus = (await holdsHistory(db)) ? 'missing' : 'none_yet';
  else {
    const kept = anchoredHead(anchor.line);
    anchored = kept && (await openCheckpoint(keys, kept.jws));
    anchorStatus = anchored ? 'checked' : 'unverifiable';
  }

  const report = (firstBroken?: NonNullable<ChainReport['firstBroken']>): ChainReport => ({
    intact: firstBroken === undefined,
    checked,
    checkpoints,
    exported: exported.length,
    ...(firstBroken ? { firstBroken } : {}),
    unsealed,
    lastCheckpoint,
    anchor: { status: anchorStatus, ...(anchored ? { seq: anchored.seq } : {}) },
  });
  const add = (claim: CheckpointClaim, where: Where) => {
    const list = claims.get(claim.seq) ?? [];
    list.push({ hash: claim.hash, where });
    claims.set(claim.seq, list);
  };
  /** The next stored checkpoints: the first whose signature fails, if any. */
  const readCheckpoints = async (): Promise<NonNullable<ChainReport['firstBroken']> | undefined> => {
    for (;;) {
      const page = (await db('audit_checkpoints').select('id', 'jws').where('id', '>', seenCheckpointId).orderBy('id').limit(1000)) as StoredCheckpoint[];
      if (page.length === 0) return undefined;
      for (const c of page) {
        const claim = await openCheckpoint(keys, c.jws);
        if (!claim) return { id: 0, reason: 'checkpoint_bad_signature', checkpoint: Number(c.id) };
        add(claim, { checkpoint: Number(c.id) });
        checkpoints++;
        seenCheckpointId = Number(c.id);
        if (!lastCheckpoint || claim.seq > lastCheckpoint.seq || (claim.seq === lastCheckpoint.seq && claim.at > lastCheckpoint.at)) lastCheckpoint = { seq: claim.seq, hash: claim.hash, at: claim.at };
      }
    }
  };
  const mismatch = (seq: number, hash: string, id: number): NonNullable<ChainReport['firstBroken']> | undefined => {
    const bad = claims.get(seq)?.find((c) => c.hash !== hash);
    return bad && { id, reason: 'checkpoint_mismatch', ...bad.where };
  };
  /** Follows the chain from where it stopped to its current end. */
  const walkRows = async (): Promise<NonNullable<ChainReport['firstBroken']> | undefined> => {
    for (;;) {
      // better-sqlite3 answers synchronously: without this turn of the event loop, a long walk on
      // SQLite would keep every request (and the sealer) waiting until it ends.
      await setImmediate();
      const rows = (await db('audit_events').whereNotNull('seq').where('seq', '>', lastSeq).orderBy('seq').limit(1000)) as AuditRow[];
      if (rows.length === 0) return undefined;
      for (const r of rows) {
        const id = Number(r.id);
        // Places are counted up from 1, one at a time: one past what a number holds exactly (a row
        // planted at the top of the range) is no place of the chain, and the walk cannot go on past it.
        if (!Number.isSafeInteger(Number(r.seq))) return { id, reason: 'row_outside_chain' };
        if (r.hash === null || storedRowHash(r.prev_hash ?? '', r) !== r.hash) return { id, reason: 'row_altered' };
        if (r.prev_hash !== prev) return { id, reason: 'link_broken' };
        const broken = mismatch(Number(r.seq), r.hash, id);
        if (broken) return broken;
        prev = r.hash;
        lastSeq = Number(r.seq);
        lastId = id;
        if (lastSeq >= recentFrom) recent.set(lastSeq, { hash: r.hash, id });
        checked++;
      }
    }
  };

  // A checkpoint signed after this read names the head at its signing: this one or a later one.
  const head = (await db('audit_events').max({ seq: 'seq' }).first()) as { seq: number | string | null } | undefined;
  recentFrom = Number(head?.seq ?? 0);
  let broken = await readCheckpoints();
  if (broken) return report(broken);
  for (const e of exported) {
    const claim = await openCheckpoint(keys, e.jws);
    if (!claim) return report({ id: 0, reason: 'checkpoint_bad_signature', exportLine: e.line });
    add(claim, { exportLine: e.line });
  }
  if (anchored) add(anchored, { anchor: true });
  broken = mismatch(0, GENESIS, 0);
  if (broken) return report(broken);
  // The walk starts above 0, and only rows without a place count as unsealed: a row placed at 0 or
  // below would be in neither, yet shown in the portal and the console like any other.
  const below = (await db('audit_events').whereNotNull('seq').whereNot('seq', '>', 0).orderBy('id').first('id')) as { id: number } | undefined;
  if (below) return report({ id: Number(below.id), reason: 'row_outside_chain' });
  broken = await walkRows();
  if (broken) return report(broken);
  // A checkpoint beyond the last row: the rows it signed were deleted (with the checkpoints that
  // came after them, if it is the exported copy that still has it).
  for (const [seq, list] of claims) {
    if (seq > lastSeq) return report({ id: lastId, reason: 'rows_missing_at_end', ...list[0]!.where });
  }
  // Checkpoints a running sealer signed during the walk: they must fit the rows walked, and where
  // they reach further, the walk follows (a few rounds at most, while the sealer keeps sealing).
  /** Reads the checkpoints signed since the last read: the first that fails, or one that does not fit a row walked. */
  const readLaterCheckpoints = async (): Promise<NonNullable<ChainReport['firstBroken']> | undefined> => {
    const failed = await readCheckpoints();
    if (failed) return failed;
    for (const [seq, list] of claims) {
      const at = recent.get(seq);
      const bad = at && list.find((c) => c.hash !== at.hash);
      if (bad) return { id: at.id, reason: 'checkpoint_mismatch', ...bad.where };
    }
    return undefined;
  };
  for (let round = 0; round < 5; round++) {
    const before = seenCheckpointId;
    broken = await readLaterCheckpoints();
    if (broken) return report(broken);
    if (seenCheckpointId === before) break;
    if ((lastCheckpoint?.seq ?? 0) <= lastSeq) break;
    broken = await walkRows();
    if (broken) return report(broken);
  }
  // The last walk may have reached rows of a batch sealed after the checkpoints were last read (a
  // sealer that kept sealing through all five rounds; seen once in a full test run). A batch's rows
  // and its checkpoint commit together, so a read now finds the checkpoint of every row walked;
  // rows that someone without the key sealed still have none.
  if (checked > 0 && (!lastCheckpoint || lastCheckpoint.seq < lastSeq)) {
    broken = await readLaterCheckpoints();
    if (broken) return report(broken);
  }
  // Every row placed up to where the walk ended was walked, unless two rows share a place (possible
  // only once the unique index was dropped): the walk takes one of them and steps past the other.
  const placed = (await db('audit_events').where('seq', '>', 0).where('seq', '<=', lastSeq).count({ n: '*' }).first()) as { n: number | string };
  if (Number(placed.n) !== checked) {
    const twin = (await db('audit_events as a')
      .join('audit_events as b', (j) => j.on('a.seq', '=', 'b.seq').andOn('a.id', '<>', 'b.id'))
      .orderBy('a.id')
      .first('a.id')) as { id: number } | undefined;
    return report({ id: Number(twin?.id ?? lastId), reason: 'row_outside_chain' });
  }
  // Rows sealed beyond the last signed checkpoint: the sealer signs every batch in the batch's own
  // transaction, so only someone without the key leaves rows like these.
  if (checked > 0 && (!lastCheckpoint || lastCheckpoint.seq < lastSeq)) {
    const first = (await db('audit_events').where('seq', '>', lastCheckpoint?.seq ?? 0).orderBy('seq').first('id')) as { id: number };
    return report({ id: Number(first.id), reason: 'unsigned_rows' });
  }
  return report();
}

/** Whether anything was ever sealed or signed: a log with neither has no head to protect yet. */
export async function holdsHistory(db: Database): Promise<boolean> {
  const signed = await db('audit_checkpoints').first('id');
  return signed !== undefined || (await db('audit_events').whereNotNull('seq').first('id')) !== undefined;
}
