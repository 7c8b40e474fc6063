import { createHash } from 'node:crypto';
import type { Database } from '../storage/database.js';

export const GENESIS = '0'.repeat(64);

/** The stored shape of one event. */
export interface AuditRow {
  id: number;
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
  prev_hash: string;
  hash: string;
}

/**
 * The canonical encoding: every column but the id and the hashes, in a fixed order, as a JSON
 * array, chained to the previous hash. `department_id` came later; it joins the array only when
 * set, so rows written before it still verify.
 */
export function rowHash(prev: string, r: Omit<AuditRow, 'id' | 'hash' | 'prev_hash'>): string {
  const fields: unknown[] = [Number(r.at), r.action, r.actor_type, r.actor_id, r.account_id, r.client_id, r.channel, r.ip, r.request_id, r.details];
  if (r.department_id !== null && r.department_id !== undefined) fields.push(r.department_id);
  return createHash('sha256').update(prev).update(JSON.stringify(fields)).digest('hex');
}

/** Why a row does not fit the chain. */
export type BreakReason =
  /** Its own content no longer matches its hash: the row was edited. */
  | 'row_altered'
  /** Its content is intact but it does not follow the row before it: a row before it was deleted or moved. */
  | 'link_broken'
  /** The chain ends before the recorded head: the newest rows were deleted. */
  | 'rows_missing_at_end'
  /** The recorded head does not match the last row. */
  | 'head_mismatch';

export interface ChainReport {
  intact: boolean;
  /** Rows checked. */
  checked: number;
  /** The first row that does not fit; for `rows_missing_at_end`, the last row the head names. */
  firstBroken?: { id: number; reason: BreakReason };
}

/** Walks the whole chain in id order and names the first row that does not fit. */
export async function verifyChain(db: Database): Promise<ChainReport> {
  let prev = GENESIS;
  let after = 0;
  let checked = 0;
  let lastHash: string | undefined;
  for (;;) {
    const rows = await db<AuditRow>('audit_events').where('id', '>', after).orderBy('id').limit(1000);
    if (rows.length === 0) break;
    for (const r of rows) {
      const id = Number(r.id);
      if (rowHash(r.prev_hash, r) !== r.hash) return { intact: false, checked, firstBroken: { id, reason: 'row_altered' } };
      if (r.prev_hash !== prev) return { intact: false, checked, firstBroken: { id, reason: 'link_broken' } };
      prev = r.hash;
      after = id;
      lastHash = r.hash;
      checked++;
    }
  }
  const head = (await db('audit_head').where({ id: 1 }).first()) as { last_id: number; last_hash: string } | undefined;
  if (!head) return checked === 0 ? { intact: true, checked } : { intact: false, checked, firstBroken: { id: after, reason: 'head_mismatch' } };
  if (Number(head.last_id) > after) return { intact: false, checked, firstBroken: { id: Number(head.last_id), reason: 'rows_missing_at_end' } };
  if (Number(head.last_id) !== after || head.last_hash !== lastHash) return { intact: false, checked, firstBroken: { id: after, reason: 'head_mismatch' } };
  return { intact: true, checked };
}
