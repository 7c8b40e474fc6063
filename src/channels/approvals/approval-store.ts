import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';

/**
 * What an approval's id (`ap_` and 22 base64url characters) and a reference (a hand-off code, a
 * CIBA request's id: printable ASCII) can look like. Anything else names nothing and is not looked
 * up: PostgreSQL refuses a NUL in text, which answered 500 from the app's approval routes.
 */
const APPROVAL_ID = /^ap_[A-Za-z0-9_-]{22}$/;
const POSSIBLE_REF = /^[\x21-\x7E]{1,255}$/;
import type { Authentication } from '../../accounts/index.js';
import { isPostgres, type Database } from '../../storage/database.js';
import { deleteInBatches } from '../../storage/batched-delete.js';

export type ApprovalStatus = 'pending' | 'approved' | 'denied';

/** What the phone shows before the citizen decides: the requesting app, a binding code or message, times. */
export interface ApprovalDisplay {
  client_name: string;
  binding_code?: string;
  binding_message?: string;
  scope?: string;
  [key: string]: unknown;
}

/** The outcome recorded with a decision; for an approval, the login it amounts to. */
export interface ApprovalDecision {
  deviceKeyId: string;
  authentication?: Authentication;
}

export interface ApprovalRequest {
  id: string;
  kind: string;
  ref: string;
  accountId: string | undefined;
  clientId: string;
  display: ApprovalDisplay;
  status: ApprovalStatus;
  decision: ApprovalDecision | undefined;
  createdAt: number;
  expiresAt: number;
  decidedAt: number | undefined;
}

interface Row {
  id: string;
  kind: string;
  ref: string;
  account_id: string | null;
  client_id: string;
  display: string;
  status: ApprovalStatus;
  decision: string | null;
  created_at: number | string;
  expires_at: number | string;
  decided_at: number | string | null;
}

const toRequest = (r: Row): ApprovalRequest => ({
  id: r.id,
  kind: r.kind,
  ref: r.ref,
  accountId: r.account_id ?? undefined,
  clientId: r.client_id,
  display: JSON.parse(r.display) as ApprovalDisplay,
  status: r.status,
  decision: r.decision === null ? undefined : (JSON.parse(r.decision) as ApprovalDecision),
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  decidedAt: r.decided_at === null ? undefined : Number(r.decided_at),
});

/**
 * The approvals inbox in SQL (`approval_requests`). Every state change is one conditional UPDATE,
 * so on any number of instances a request is tied to one account once and decided once.
 */
export function approvalStore(db: Database) {
  const table = () => db<Row>('approval_requests');
  return {
    /**
     * A new request. With `maxPendingOfClient`, one for an account is made only while that account
     * holds fewer live, undecided requests of the same client (undefined otherwise); the count and
     * the insert are one step per account (its row locked on PostgreSQL; SQLite runs one writer).
     */
    async create(
      input: { kind: string; ref: string; accountId?: string | undefined; clientId: string; display: ApprovalDisplay; expiresAt: number },
      unapprovedAtMost?: { perClient: number; perAccount: number; windowMs: number },
    ): Promise<ApprovalRequest | undefined> {
      const row: Row = {
        id: `ap_${randomBytes(16).toString('base64url')}`,
        kind: input.kind,
        ref: input.ref,
        account_id: input.accountId ?? null,
        client_id: input.clientId,
        display: JSON.stringify(input.display),
        status: 'pending',
        decision: null,
        created_at: Date.now(),
        expires_at: input.expiresAt,
        decided_at: null,
      };
      if (row.account_id === null || unapprovedAtMost === undefined) {
        await table().insert(row);
        return toRequest(row);
      }
      const made = await db.transaction(async (trx) => {
        if (isPostgres(db)) await trx('accounts').where({ id: row.account_id }).forUpdate().first('id');
        // Live and undecided, or denied or left to expire lately: each denial must not buy the next push.
        const now = Number(row.created_at);
        const unapproved = await trx<Row>('approval_requests')
          .where({ account_id: row.account_id })
          .andWhere((q) =>
            q
              .where((recent) => recent.whereNot({ status: 'approved' }).andWhere('created_at', '>', now - unapprovedAtMost.windowMs))
              .orWhere((live) => live.where({ status: 'pending' }).andWhere('expires_at', '>', now)),
          )
          .select('client_id');
        const ofClient = (unapproved as Pick<Row, 'client_id'>[]).filter((r) => r.client_id === row.client_id).length;
        if (ofClient >= unapprovedAtMost.perClient || unapproved.length >= unapprovedAtMost.perAccount) return false;
        await trx<Row>('approval_requests').insert(row);
        return true;
      });
      return made ? toRequest(row) : undefined;
    },

    async find(id: string): Promise<ApprovalRequest | undefined> {
      if (!APPROVAL_ID.test(id)) return undefined;
      const row = await table().where({ id }).first();
      return row && toRequest(row as Row);
    },

    async findByRef(kind: string, ref: string): Promise<ApprovalRequest | undefined> {
      if (!POSSIBLE_REF.test(ref)) return undefined;
      const row = await table().where({ kind, ref }).first();
      return row && toRequest(row as Row);
    },

    /** Live, undecided requests of an account, oldest first. */
    async pendingFor(accountId: string): Promise<ApprovalRequest[]> {
      const rows = await table().where({ account_id: accountId, status: 'pending' }).andWhere('expires_at', '>', Date.now()).orderBy('created_at');
      return (rows as Row[]).map(toRequest);
    },

    /** Ties a live, unclaimed request to an account; true if this call did (or the account already had it). */
    async claim(id: string, accountId: string): Promise<boolean> {
      const n = await table().where({ id, status: 'pending' }).whereNull('account_id').andWhere('expires_at', '>', Date.now()).update({ account_id: accountId });
      if (n > 0) return true;
      const row = await table().where({ id, account_id: accountId, status: 'pending' }).andWhere('expires_at', '>', Date.now()).first();
      return Boolean(row);
    },

    /** Decides a live, pending request of the account; false if it was not (any more) pending for it. */
    /**
     * Compare-and-set from pending; whether this decision won. `record` writes its audit event in
     * the same transaction, and only when it won: the decision lands with its record, or not at all.
     */
    async decide(id: string, accountId: string, status: Exclude<ApprovalStatus, 'pending'>, decision: ApprovalDecision, record?: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
      const now = Date.now();
      return db.transaction(async (trx) => {
        const n = await trx<Row>('approval_requests')
          .where({ id, account_id: accountId, status: 'pending' })
          .andWhere('expires_at', '>', now)
          .update({ status, decision: JSON.stringify(decision), decided_at: now });
        if (n > 0) await record?.(trx);
        return n > 0;
      });
    },

    /** Deletes requests that expired before `cutoff` (epoch ms); for the sweeper. */
    async sweep(cutoff: number, batchSize?: number): Promise<number> {
      return deleteInBatches(db, { table: 'approval_requests', key: ['id'], where: (q) => q.where('expires_at', '<', cutoff), batchSize });
    },
  };
}
export type ApprovalStore = ReturnType<typeof approvalStore>;
