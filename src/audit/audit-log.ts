import type { Database } from '../storage/database.js';
import { isPostgres } from '../storage/database.js';
import { GENESIS, rowHash, verifyChain, type AuditRow, type ChainReport } from './audit-chain.js';
import { queryEvents, type AuditPage, type AuditQuery } from './audit-query.js';

/** `anonymous`: a request that proved no identity at all (an admin API call without a valid token). */
export type ActorType = 'citizen' | 'operator' | 'client' | 'system' | 'anonymous';

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
  /** The department whose things the event is about, so that its auditors see it. */
  departmentId?: string | undefined;
  /** Never secrets or citizen ID numbers. */
  details?: Record<string, unknown> | undefined;
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

// Any fixed key serialises the PostgreSQL writers; SQLite has a single writer anyway.
const CHAIN_LOCK = 0x79_69_68_61;

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
        department_id: e.departmentId ?? null,
      };
      // The head row moves with every append, in the same transaction: the newest rows cannot be
      // deleted without the chain ending short of it.
      if (pg) {
        await db.transaction(async (trx) => {
          await trx.raw('select pg_advisory_xact_lock(?)', [CHAIN_LOCK]);
          const last = await trx<AuditRow>('audit_events').select('hash').orderBy('id', 'desc').first();
          const prev = last?.hash ?? GENESIS;
          const hash = rowHash(prev, row);
          const [inserted] = (await trx('audit_events').insert({ ...row, prev_hash: prev, hash }).returning('id')) as { id: number }[];
          await trx('audit_head').insert({ id: 1, last_id: inserted!.id, last_hash: hash }).onConflict('id').merge();
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
            const { lastInsertRowid } = conn.prepare(`insert into audit_events (${columns.join(', ')}) values (${columns.map((c) => `@${c}`).join(', ')})`).run(full) as {
              lastInsertRowid: number | bigint;
            };
            conn
              .prepare('insert into audit_head (id, last_id, last_hash) values (1, ?, ?) on conflict (id) do update set last_id = excluded.last_id, last_hash = excluded.last_hash')
              .run(Number(lastInsertRowid), full.hash);
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

    /** Newest first, filtered, one page at a time (see AuditQuery). */
    async query(q: AuditQuery): Promise<AuditPage<AuditEvent>> {
      const { rows, next } = await queryEvents(db, q);
      return { events: rows.map(toEvent), ...(next !== undefined ? { next } : {}) };
    },

    /** Recomputes the chain and names the first row that does not fit. */
    check(): Promise<ChainReport> {
      return verifyChain(db);
    },

    /** The id of the first row that does not fit the chain, or undefined when the log is intact. */
    async verify(): Promise<number | undefined> {
      return (await verifyChain(db)).firstBroken?.id;
    },
  };
}
export type AuditLog = ReturnType<typeof createAuditLog>;

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
