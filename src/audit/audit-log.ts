import { readFile } from 'node:fs/promises';
import { anchoredHead, type AuditAnchor } from './audit-anchor.js';
import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { statements } from '../storage/statements.js';
import { writeBatch } from '../storage/write-batch.js';
import { verifyChain, type AnchorRead, type AuditRow, type ChainReport, type ExportedCheckpoint } from './audit-chain.js';
import { signCheckpoint, type AuditSigningKey, type AuditVerifyKeys } from './audit-key.js';
import { YihaoError } from '../errors.js';
import type { AuditAction } from './audit-actions.js';
import { queryEvents, type AuditPage, type AuditQuery } from './audit-query.js';

/** `anonymous`: a request that proved no identity at all (an admin API call without a valid token). */
export type ActorType = 'citizen' | 'operator' | 'client' | 'system' | 'anonymous';

export interface AuditEventInput {
  action: AuditAction;
  actorType: ActorType;
  actorId?: string | undefined;
  /** The citizen the event is about (their `sub`); they can read it in the portal. */
  accountId?: string | undefined;
  clientId?: string | undefined;
  channel?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
  /** The department whose things the event is about, so that its auditors see it. */
  departmentId?: string | undefined;
  /** Never secrets or citizen ID numbers. */
  details?: Record<string, unknown> | undefined;
}

export interface AuditEvent extends Omit<AuditEventInput, 'details' | 'action'> {
  /** As stored: an event written by an older version may name an action no longer emitted. */
  action: string;
  id: number;
  at: string;
  details: Record<string, unknown> | undefined;
}

export interface AppendOptions {
  /**
   * The business change's own transaction: the event commits with the change or not at all, so
   * that no action lands without its record.
   */
  trx?: Knex.Transaction | undefined;
  /**
   * Joins the request's pending writes (storage/write-batch.ts), which go out together, in one
   * round trip and one transaction, when the request flushes them (a sign-in does before it saves
   * its result) or at its end. Outside a request it is written at once.
   */
  withRequestWrites?: boolean | undefined;
}

export interface AuditLogOptions {
  /** The keys that verify checkpoints: the audit key's public half and any retired ones. */
  verifyKeys: AuditVerifyKeys;
  /** The exported copy of the checkpoints (JSON lines), checked against the chain when it exists. */
  exportFile?: string | undefined;
  /** Sees every event as it is appended (metrics count some of them); must not throw or wait. */
  observe?: ((e: AuditEventInput) => void) | undefined;
  /** The newest checkpoint kept outside the database (Redis), checked against the chain. */
  anchor?: AuditAnchor | undefined;
}

/** What `acceptHead` did: nothing when the database's log does not verify on its own (`accepted` absent). */
export interface HeadAcceptance {
  /** The database's log checked on its own: without the anchor and without the exported copy. */
  report: ChainReport;
  /** The head now kept as the anchor; null when nothing was signed yet (the anchor was removed). */
  accepted?: { seq: number; hash: string } | null;
  /** What the anchor held before, as kept (null: nothing). */
  previous?: { seq: number; hash: string } | null;
}

const COLUMNS = ['at', 'action', 'actor_type', 'actor_id', 'account_id', 'client_id', 'channel', 'ip', 'request_id', 'details', 'department_id'] as const;
// Hand-written: an append is on every sign-in's path, where knex's builder cost more than the insert.
const INSERT = `insert into audit_events (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`;

export function createAuditLog(db: Database, opts: AuditLogOptions = { verifyKeys: new Map() }) {
  const sql = statements(db);
  const writes = writeBatch(db);
  let queued = 0;
  return {
    /**
     * One insert, no lock and no read: the row is stored unsealed, and the elected sealer chains
     * and signs it within about a second (audit-sealer.ts).
     */
    async append(e: AuditEventInput, options: AppendOptions = {}): Promise<void> {
      opts.observe?.(e);
      const row = {
        at: Date.now(),
        action: e.action,
        actor_type: e.actorType,
        actor_id: e.actorId ?? null,
        account_id: e.accountId ?? null,
        client_id: e.clientId ?? null,
        channel: e.channel ?? null,
        ip: e.ip ?? null,
        request_id: e.requestId ?? null,
        details: e.details ? JSON.stringify(e.details) : null,
        department_id: e.departmentId ?? null,
      };
      if (options.trx) {
        await options.trx('audit_events').insert(row);
        return;
      }
      const values = COLUMNS.map((c) => row[c]);
      if (options.withRequestWrites) await writes.defer(`audit_events:${++queued}`, INSERT, values);
      else await sql.run(INSERT, values);
    },

    /** Newest first: what happened to one citizen's account. */
    async forAccount(accountId: string, limit = 50): Promise<AuditEvent[]> {
      const rows = await db<AuditRow>('audit_events').where({ account_id: accountId }).orderBy('id', 'desc').limit(limit);
      return rows.map(toEvent);
    },

    /** Newest first, filtered, one page at a time (see AuditQuery). */
    async query(q: AuditQuery): Promise<AuditPage<AuditEvent>> {
      const { rows, next } = await queryEvents(db, q);
      return { events: rows.map(toEvent), ...(next !== undefined ? { next } : {}) };
    },

    /**
     * Recomputes the chain, checks every checkpoint's signature (and the exported copy's, when
     * there is one) and names the first row or checkpoint that does not fit; also says how far the
     * sealer lags.
     */
    async check(exportFile: string | undefined = opts.exportFile): Promise<ChainReport> {
      // Redis down is no reason not to check the rest; the report says the anchor was not checked.
      const anchor: AnchorRead = opts.anchor ? await opts.anchor.read().then((line) => ({ line }), () => 'unreadable' as const) : 'not_configured';
      return verifyChain(db, opts.verifyKeys, exportFile ? await readExport(exportFile) : [], anchor);
    },

    /**
     * The operator's answer to a sealer that refuses because the anchor is gone, or further along
     * than a restored database (docs/audit.md). Checks the database's log on its own and, only when
     * that is intact, signs its head afresh with `key` and makes it the anchor, replacing whatever
     * head Redis kept when the check began (never a line a sealer wrote meanwhile: that throws); the
     * acceptance is an event in the log. Only the head that was checked is signed:
     * rows sealed without a checkpoint make the log not intact, so this never signs them.
     */
    async acceptHead(key: AuditSigningKey): Promise<HeadAcceptance> {
      const anchor = opts.anchor;
      if (!anchor) throw new YihaoError('invalid_input', 'no Redis is configured, so there is no audit anchor to set');
      const keptLine = await anchor.read();
      const kept = anchoredHead(keptLine);
      const previous = kept ? { seq: kept.seq, hash: kept.hash } : null;
      const report = await verifyChain(db, opts.verifyKeys);
      if (!report.intact) return { report };
      const head = report.lastCheckpoint && { seq: report.lastCheckpoint.seq, hash: report.lastCheckpoint.hash };
      const at = Date.now();
      const jws = head && (await signCheckpoint(key, { ...head, at }));
      // Only over the anchor read before the check: a running sealer that signed further meanwhile
      // would otherwise see its anchor moved back, and the rows after it cuttable unnoticed. Nothing
      // signed yet: no anchor, and the sealer starts as on a fresh install.
      if (!(await anchor.replace(head && JSON.stringify({ ...head, at, kid: key.kid, jws }), keptLine))) {
        throw new YihaoError('invalid_input', 'the anchor in Redis moved while the log was checked: a sealer is signing, so there is no head to accept; nothing was changed');
      }
      await db.transaction(async (trx) => {
        if (head && jws) await trx('audit_checkpoints').insert({ ...head, at, kid: key.kid, jws });
        await this.append({ action: 'admin.audit.anchor_accepted', actorType: 'system', actorId: 'cli', details: { via: 'cli', seq: head?.seq ?? 0, hash: head?.hash ?? null, previous } }, { trx });
      });
      return { report, accepted: head ?? null, previous };
    },

    /** The id of the first row that does not fit (0 for a checkpoint), or undefined when the log is intact. */
    async verify(): Promise<number | undefined> {
      return (await this.check()).firstBroken?.id;
    },
  };
}
export type AuditLog = ReturnType<typeof createAuditLog>;

/** The exported copy: one JSON object per line with at least `jws`; a missing file is no copy yet. */
async function readExport(file: string): Promise<ExportedCheckpoint[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: ExportedCheckpoint[] = [];
  text.split('\n').forEach((raw, i) => {
    if (!raw.trim()) return;
    let jws: unknown;
    try {
      jws = (JSON.parse(raw) as { jws?: unknown }).jws;
    } catch {
      jws = undefined;
    }
    // A line that cannot be read counts as a checkpoint whose signature does not verify.
    out.push({ line: i + 1, jws: typeof jws === 'string' ? jws : '' });
  });
  return out;
}

function toEvent(r: AuditRow): AuditEvent {
  return {
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    action: r.action,
    actorType: r.actor_type as ActorType,
    actorId: r.actor_id ?? undefined,
    accountId: r.account_id ?? undefined,
    clientId: r.client_id ?? undefined,
    channel: r.channel ?? undefined,
    ip: r.ip ?? undefined,
    requestId: r.request_id ?? undefined,
    departmentId: r.department_id ?? undefined,
    details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : undefined,
  };
}
