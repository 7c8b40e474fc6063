import { createHash } from 'node:crypto';
import type { Database } from '../storage/database.js';
import { isPostgres } from '../storage/database.js';

export type ActorType = 'citizen' | 'operator' | 'client' | 'system';

export interface AuditEventInput {
  action: string;
  actorType: ActorType;
  actorId?: string | undefined;
  /** The citizen the event is about (their `sub`); they can read it in the portal. */
  accountId?: string | undefined;
  clientId?: string | undefined;
  channel?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
  /** Never secrets or citizen ID numbers. */
  details?: Record<string, unknown> | undefined;
}

interface AuditRow {
  id: number;
  at: number;
  action: string;
  actor_type: ActorType;
  actor_id: string | null;
  account_id: string | null;
  client_id: string | null;
  channel: string | null;
  ip: string | null;
  request_id: string | null;
  details: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditEvent extends Omit<AuditEventInput, 'details'> {
  id: number;
  at: string;
  details: Record<string, unknown> | undefined;
}

interface SqliteConnection {
  prepare(sql: string): { get(...args: unknown[]): unknown; run(...args: unknown[]): unknown };
  transaction(fn: () => void): { immediate(): void };
}

const GENESIS = '0'.repeat(64);
// Any fixed key serialises the PostgreSQL writers; SQLite has a single writer anyway.
const CHAIN_LOCK = 0x79_69_68_61;

/** The hash covers every column but the id, in a fixed order, chained to the previous hash. */
function rowHash(prev: string, r: Omit<AuditRow, 'id' | 'hash' | 'prev_hash'>): string {
  const fields = [r.at, r.action, r.actor_type, r.actor_id, r.account_id, r.client_id, r.channel, r.ip, r.request_id, r.details];
  return createHash('sha256').update(prev).update(JSON.stringify(fields)).digest('hex');
}

export function createAuditLog(db: Database) {
  const pg = isPostgres(db);
  return {
    async append(e: AuditEventInput): Promise<void> {
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
      };
      if (pg) {
        await db.transaction(async (trx) => {
          await trx.raw('select pg_advisory_xact_lock(?)', [CHAIN_LOCK]);
          const last = await trx<AuditRow>('audit_events').select('hash').orderBy('id', 'desc').first();
          const prev = last?.hash ?? GENESIS;
          await trx('audit_events').insert({ ...row, prev_hash: prev, hash: rowHash(prev, row) });
        });
        return;
      }
      // SQLite: another process (the CLI) may write too. A deferred transaction that reads and then
      // writes can deadlock on the lock upgrade, so take the write lock first (BEGIN IMMEDIATE),
      // which better-sqlite3 offers only on its own synchronous transactions.
      const conn = (await db.client.acquireConnection()) as SqliteConnection;
      try {
        conn
          .transaction(() => {
            const last = conn.prepare('select hash from audit_events order by id desc limit 1').get() as { hash: string } | undefined;
            const prev = last?.hash ?? GENESIS;
            const full = { ...row, prev_hash: prev, hash: rowHash(prev, row) };
            const columns = Object.keys(full);
            conn.prepare(`insert into audit_events (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`).run(full);
          })
          .immediate();
      } finally {
        await db.client.releaseConnection(conn);
      }
    },

    /** Newest first: what happened to one citizen's account. */
    async forAccount(accountId: string, limit = 50): Promise<AuditEvent[]> {
      const rows = await db<AuditRow>('audit_events').where({ account_id: accountId }).orderBy('id', 'desc').limit(limit);
      return rows.map(toEvent);
    },

    /**
     * Recomputes the chain; returns the id of the first row that does not fit (an edit, a
     * deletion or an insertion), or undefined when the log is intact.
     */
    async verify(): Promise<number | undefined> {
      let prev = GENESIS;
      let after = 0;
      for (;;) {
        const rows = await db<AuditRow>('audit_events').where('id', '>', after).orderBy('id').limit(1000);
        if (rows.length === 0) return undefined;
        for (const r of rows) {
          if (r.prev_hash !== prev || rowHash(prev, { ...r, at: Number(r.at) }) !== r.hash) return Number(r.id);
          prev = r.hash;
          after = Number(r.id);
        }
      }
    },
  };
}
export type AuditLog = ReturnType<typeof createAuditLog>;

function toEvent(r: AuditRow): AuditEvent {
  return {
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    action: r.action,
    actorType: r.actor_type,
    actorId: r.actor_id ?? undefined,
    accountId: r.account_id ?? undefined,
    clientId: r.client_id ?? undefined,
    channel: r.channel ?? undefined,
    ip: r.ip ?? undefined,
    requestId: r.request_id ?? undefined,
    details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : undefined,
  };
}
