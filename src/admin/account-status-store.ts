import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';

export type StatusChangeKind = 'disable' | 'enable';
/** `done`: a disable (at once), or an enable by the CLI; an operator's enable is `pending` until reviewed. */
export type StatusChangeStatus = 'done' | 'pending' | 'approved' | 'rejected' | 'superseded';

/** One disable, or one request to enable again, of a citizen account (migration 20261207_050). */
export interface StatusChange {
  id: string;
  accountId: string;
  kind: StatusChangeKind;
  status: StatusChangeStatus;
  reason: string;
  note: string | undefined;
  actorType: 'operator' | 'system';
  actorId: string;
  createdAt: number;
  reviewerId: string | undefined;
  reviewedAt: number | undefined;
  reviewNote: string | undefined;
}

/** A pending request with the account it is about, for the reviewers' list. */
export type PendingEnable = StatusChange & { accountSub: string; accountName: string };

interface Row {
  id: string;
  account_id: string;
  kind: StatusChangeKind;
  status: StatusChangeStatus;
  reason: string;
  note: string | null;
  actor_type: 'operator' | 'system';
  actor_id: string;
  created_at: number | string;
  reviewer_id: string | null;
  reviewed_at: number | string | null;
  review_note: string | null;
}

const toChange = (r: Row): StatusChange => ({
  id: r.id,
  accountId: r.account_id,
  kind: r.kind,
  status: r.status,
  reason: r.reason,
  note: r.note ?? undefined,
  actorType: r.actor_type,
  actorId: r.actor_id,
  createdAt: Number(r.created_at),
  reviewerId: r.reviewer_id ?? undefined,
  reviewedAt: r.reviewed_at === null ? undefined : Number(r.reviewed_at),
  reviewNote: r.review_note ?? undefined,
});

/** What the account's sign-ins look like: from the audit log, the credentials and the session index. */
export interface SignInFacts {
  last: { at: number; channel: string | undefined; clientId: string | undefined } | undefined;
  failedSince: number;
  methods: { type: string; lastUsedAt: number | undefined }[];
}

/** Sign-ins as the dashboard counts them (docs/admin.md, "Where the figures come from"). */
const SIGN_IN_ACTIONS = ['login.succeeded', 'counter.assisted_login'];

/** SQL for account status changes; no business rules here. */
export function accountStatusStore(db: Database) {
  return {
    async insert(c: StatusChange, trx: Knex.Transaction): Promise<void> {
      await trx('account_status_changes').insert({
        id: c.id,
        account_id: c.accountId,
        kind: c.kind,
        status: c.status,
        reason: c.reason,
        note: c.note ?? null,
        actor_type: c.actorType,
        actor_id: c.actorId,
        created_at: c.createdAt,
      });
    },
    async find(id: string): Promise<StatusChange | undefined> {
      const row = await db<Row>('account_status_changes').where({ id }).first();
      return row && toChange(row);
    },
    /** The newest change of a kind for an account. */
    async latest(accountId: string, kind: StatusChangeKind): Promise<StatusChange | undefined> {
      const row = await db<Row>('account_status_changes').where({ account_id: accountId, kind }).orderBy('created_at', 'desc').orderBy('id', 'desc').first();
      return row && toChange(row);
    },
    async pendingFor(accountId: string): Promise<StatusChange | undefined> {
      const row = await db<Row>('account_status_changes').where({ account_id: accountId, status: 'pending' }).first();
      return row && toChange(row);
    },
    /** Closes a pending request; 0 when it was no longer pending (someone else reviewed it first). */
    async review(id: string, status: 'approved' | 'rejected', reviewerId: string, at: number, note: string | undefined, trx: Knex.Transaction): Promise<number> {
      return trx('account_status_changes').where({ id, status: 'pending' }).update({ status, reviewer_id: reviewerId, reviewed_at: at, review_note: note ?? null });
    },
    /** Closes the account's pending request, if any, when it was enabled another way. */
    async supersedePending(accountId: string, at: number, trx: Knex.Transaction): Promise<number> {
      return trx('account_status_changes').where({ account_id: accountId, status: 'pending' }).update({ status: 'superseded', reviewed_at: at });
    },
    async listPending(offset: number, limit: number): Promise<{ items: PendingEnable[]; total: number }> {
      const base = () => db('account_status_changes as r').join('accounts as a', 'a.id', 'r.account_id').where('r.status', 'pending');
      const [rows, counted] = await Promise.all([
        base().select('r.*', 'a.sub as account_sub', 'a.name as account_name').orderBy('r.created_at', 'asc').offset(offset).limit(limit) as Promise<(Row & { account_sub: string; account_name: string })[]>,
        base().count({ n: '*' }).first() as Promise<{ n: number | string } | undefined>,
      ]);
      return { items: rows.map((r) => ({ ...toChange(r), accountSub: r.account_sub, accountName: r.account_name })), total: Number(counted?.n ?? 0) };
    },
    /** Last sign-in, failed sign-ins since `since` (epoch ms), and the sign-in methods with when each was last used. */
    async signInFacts(account: { id: string; sub: string }, since: number): Promise<SignInFacts> {
      const [last, failed, methods] = await Promise.all([
        db('audit_events').where({ account_id: account.sub }).whereIn('action', SIGN_IN_ACTIONS).orderBy('id', 'desc').first('at', 'channel', 'client_id') as Promise<
          { at: number | string; channel: string | null; client_id: string | null } | undefined
        >,
        db('audit_events').where({ account_id: account.sub, action: 'login.failed' }).where('at', '>=', since).count({ n: '*' }).first() as Promise<{ n: number | string } | undefined>,
        db('credentials').where({ account_id: account.id }).select('type', 'last_used_at').orderBy('type') as Promise<{ type: string; last_used_at: number | string | null }[]>,
      ]);
      return {
        last: last && { at: Number(last.at), channel: last.channel ?? undefined, clientId: last.client_id ?? undefined },
        failedSince: Number(failed?.n ?? 0),
        methods: methods.map((m) => ({ type: m.type, lastUsedAt: m.last_used_at === null ? undefined : Number(m.last_used_at) })),
      };
    },
  };
}
export type AccountStatusStore = ReturnType<typeof accountStatusStore>;
