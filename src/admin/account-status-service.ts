import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { StatusChanged, type Account, type Accounts } from '../accounts/index.js';
import { maskCitizenId, parseCitizenId } from '../identity/index.js';
import type { DisableRecord, DisabledBy, SignOutResult } from '../oidc/sign-out.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import { AdminError, notFound } from './admin-error.js';
import { accountStatusStore, type PendingEnable, type SignInFacts, type StatusChange } from './account-status-store.js';
import type { Guard } from './guard.js';
import { offsetOf, paging, type Page } from './paging.js';
import type { Operator } from './roles.js';
import { parseInput } from './validate.js';

/** Why an account is disabled: a fixed list, so that the log and reports can count them. */
export const DISABLE_REASONS = ['fraud', 'deceased', 'court_order', 'citizen_request', 'compromised', 'other'] as const;
/** Why it may sign in again. */
export const ENABLE_REASONS = ['identity_confirmed', 'disabled_in_error', 'court_order', 'citizen_request', 'other'] as const;

/** Failed sign-ins are counted over this window for the account's summary. */
export const FAILED_WINDOW_DAYS = 30;

// The note goes to the audit log: one line of text, and never an ID number (the log must not hold one).
const note = z
  .string()
  .trim()
  .max(500, 'is longer than 500 characters')
  .refine((s) => !/[\p{Cc}\p{Cf}]/u.test(s), 'must be one line of text without control characters')
  .refine((s) => !/\d{17}[\dXx]/.test(s), 'must not contain an ID number');

const withReason = <R extends readonly [string, ...string[]]>(reasons: R) =>
  z
    .object({ reason: z.enum(reasons, { error: `must be one of ${reasons.join(', ')}` }), note: note.optional() })
    .strict()
    .refine((v) => v.reason !== 'other' || !!v.note, { message: 'is required when the reason is other', path: ['note'] });

export const disableInput = withReason(DISABLE_REASONS);
export const enableInput = withReason(ENABLE_REASONS);
export const enableReviewInput = z.object({ note: note.optional() }).strict();
export const accountLookupInput = z
  .object({
    citizen_id: z
      .string()
      .max(64, 'is not a citizen ID number')
      .refine((s) => {
        try {
          parseCitizenId(s.trim());
          return true;
        } catch {
          return false;
        }
      }, 'is not a valid citizen ID number'),
  })
  .strict();
export const enableRequestQuery = z.object({ ...paging }).strict();

/** A citizen account as operators see it: the ID number only masked. */
export interface AccountView {
  sub: string;
  citizenIdMasked: string;
  name: string;
  status: Account['status'];
  assurance: Account['assurance'];
  createdAt: number;
  /** The disable in force (absent for an account disabled before operators could, or an active one). */
  disabled: StatusChange | undefined;
  pendingEnable: StatusChange | undefined;
  signIn: SignInFacts & { sessions: number; failedWindowDays: number };
}

export interface AccountStatusDeps {
  db: Database;
  accounts: Accounts;
  guard: Guard;
  accountIndex?: AccountIndex | undefined;
  /** `signOut.disableAccount` (src/oidc/sign-out.ts): sessions, tokens and credentials end with the account. */
  disableAccount?: ((accountId: string, by: DisabledBy, record: DisableRecord) => Promise<SignOutResult>) | undefined;
}

const newId = () => `as_${randomBytes(12).toString('base64url')}`;
const conflict = (message: string) => new AdminError('conflict', message);
/** An enable that found the account enabled meanwhile (by another operator or the CLI). */
const notDisabled = (e: unknown): never => {
  throw e instanceof StatusChanged ? conflict('the account is not disabled') : e;
};

/**
 * Disabling a citizen account and enabling it again (docs/admin.md, "Citizen accounts"). Accounts
 * are national: every permission here is held only at a root department. A super-admin disables at
 * once (fraud, a death record, a court order cannot wait); enabling is four-eyes: a super-admin asks,
 * and another super-admin or a reviewer approves. Every change commits with its audit event.
 */
export function accountStatusService(d: AccountStatusDeps) {
  const { accounts, guard, db } = d;
  const store = accountStatusStore(db);

  async function view(account: Account): Promise<AccountView> {
    const since = Date.now() - FAILED_WINDOW_DAYS * 86_400_000;
    const [disabled, pendingEnable, facts, indexed] = await Promise.all([
      account.status === 'disabled' ? store.latest(account.id, 'disable') : undefined,
      store.pendingFor(account.id),
      store.signInFacts(account, since),
      d.accountIndex ? d.accountIndex.list(account.sub) : [],
    ]);
    return {
      sub: account.sub,
      citizenIdMasked: maskCitizenId(account.citizenId()),
      name: account.name,
      status: account.status,
      assurance: account.assurance,
      createdAt: account.createdAt,
      disabled,
      pendingEnable,
      signIn: { ...facts, sessions: indexed.filter((e) => e.model === 'Session').length, failedWindowDays: FAILED_WINDOW_DAYS },
    };
  }

  async function bySub(sub: string): Promise<Account> {
    const account = /^[A-Za-z0-9_-]{1,64}$/.test(sub) ? await accounts.findBySub(sub) : undefined;
    if (!account) throw notFound('account');
    return account;
  }

  /** Disables through sign-out (sessions, tokens, credentials end on every instance), its row in the same transaction. */
  async function disable(account: Account, input: z.infer<typeof disableInput>, by: DisabledBy & { actorId: string }, details: Record<string, unknown>): Promise<void> {
    if (account.status === 'disabled') throw conflict('the account is already disabled');
    if (!d.disableAccount) throw new Error('disabling accounts needs the sign-out service');
    const id = newId();
    const change: StatusChange = {
      id, accountId: account.id, kind: 'disable', status: 'done', reason: input.reason, note: input.note || undefined,
      actorType: by.actorType, actorId: by.actorId, createdAt: Date.now(), reviewerId: undefined, reviewedAt: undefined, reviewNote: undefined,
    };
    await d
      .disableAccount(account.id, by, {
        details: { change_id: id, reason: input.reason, note: change.note ?? null, status: { before: account.status, after: 'disabled' }, ...details },
        inTransaction: (trx) => store.insert(change, trx),
      })
      .catch((e: unknown) => {
        // Another disable got there first (its record is the one that landed).
        throw e instanceof StatusChanged ? conflict('the account is already disabled') : e;
      });
  }

  async function reviewable(op: Operator, id: string, operation: string): Promise<{ request: StatusChange; account: Account }> {
    await guard.scopes(op, 'account.enable_review', operation);
    const request = /^as_[A-Za-z0-9_-]{16}$/.test(id) ? await store.find(id) : undefined;
    const account = request?.kind === 'enable' ? await accounts.findById(request.accountId) : undefined;
    if (!request || !account) throw notFound('request');
    // Four eyes: whoever asked does not decide, whatever roles they hold.
    if (request.actorId === op.sub) await guard.deny(op, operation, 'self_approval', { accountId: account.sub });
    if (account.id === op.accountId) await guard.deny(op, operation, 'self_account', { accountId: account.sub });
    if (request.status !== 'pending') throw conflict(`the request was ${request.status} already`);
    return { request, account };
  }

  return {
    /** Finds an account by its ID number (never logged; the answer shows it masked). Audited, found or not. */
    async lookup(op: Operator, input: unknown): Promise<AccountView> {
      await guard.scopes(op, 'account.read', 'account.lookup');
      const { citizen_id } = parseInput(accountLookupInput, input);
      const account = await accounts.findByIdentifier(citizen_id.trim());
      await guard.record(op, 'admin.account.looked_up', { accountId: account?.sub }, { found: !!account });
      if (!account) throw notFound('account');
      return view(account);
    },

    async get(op: Operator, sub: string): Promise<AccountView> {
      await guard.scopes(op, 'account.read', 'account.get');
      return view(await bySub(sub));
    },

    async disable(op: Operator, sub: string, input: unknown): Promise<AccountView> {
      await guard.scopes(op, 'account.disable', 'account.disable');
      const body = parseInput(disableInput, input);
      const account = await bySub(sub);
      if (account.id === op.accountId) await guard.deny(op, 'account.disable', 'self_account', { accountId: account.sub });
      await disable(account, body, { actorType: 'operator', actorId: op.sub, ip: op.ip, requestId: op.requestId }, {});
      return view((await accounts.findById(account.id))!);
    },

    /** Asks for the account to be enabled again; another operator approves (`approveEnable`). */
    async requestEnable(op: Operator, sub: string, input: unknown): Promise<StatusChange> {
      await guard.scopes(op, 'account.enable_request', 'account.enable_request');
      const body = parseInput(enableInput, input);
      const account = await bySub(sub);
      if (account.id === op.accountId) await guard.deny(op, 'account.enable_request', 'self_account', { accountId: account.sub });
      if (account.status !== 'disabled') throw conflict('only a disabled account can be enabled');
      if (await store.pendingFor(account.id)) throw conflict('a request to enable this account is already waiting for review');
      const request: StatusChange = {
        id: newId(), accountId: account.id, kind: 'enable', status: 'pending', reason: body.reason, note: body.note || undefined,
        actorType: 'operator', actorId: op.sub, createdAt: Date.now(), reviewerId: undefined, reviewedAt: undefined, reviewNote: undefined,
      };
      try {
        await db.transaction(async (trx) => {
          await store.insert(request, trx);
          await guard.record(op, 'admin.account.enable_requested', { accountId: account.sub }, { request_id: request.id, reason: request.reason, note: request.note ?? null }, trx);
        });
      } catch (e) {
        // Lost a race with another request for the same account (the one-pending index).
        if (await store.pendingFor(account.id)) throw conflict('a request to enable this account is already waiting for review');
        throw e;
      }
      return request;
    },

    async listEnableRequests(op: Operator, query: unknown): Promise<Page<PendingEnable>> {
      await guard.scopes(op, 'account.read', 'account.list_enable_requests');
      const q = parseInput(enableRequestQuery, query);
      const { items, total } = await store.listPending(offsetOf(q), q.per_page);
      return { items, total, page: q.page, per_page: q.per_page };
    },

    /** Another operator's approval: the account may sign in again. Nothing revoked comes back. */
    async approveEnable(op: Operator, id: string, input: unknown): Promise<AccountView> {
      const body = parseInput(enableReviewInput, input);
      const { request, account } = await reviewable(op, id, 'account.enable_approve');
      if (account.status !== 'disabled') throw conflict('the account is not disabled');
      await accounts.setStatus(account.id, 'active', async (trx) => {
        if ((await store.review(request.id, 'approved', op.sub, Date.now(), body.note || undefined, trx)) === 0) throw conflict('the request was reviewed already');
        await guard.record(op, 'account.enabled', { accountId: account.sub }, {
          request_id: request.id, reason: request.reason, note: request.note ?? null, requested_by: request.actorId, review_note: body.note || null, status: { before: 'disabled', after: 'active' },
        }, trx);
      }, { from: ['disabled'] }).catch(notDisabled);
      return view((await accounts.findById(account.id))!);
    },

    async rejectEnable(op: Operator, id: string, input: unknown): Promise<StatusChange> {
      const body = parseInput(enableReviewInput, input);
      const { request, account } = await reviewable(op, id, 'account.enable_reject');
      const at = Date.now();
      await db.transaction(async (trx) => {
        if ((await store.review(request.id, 'rejected', op.sub, at, body.note || undefined, trx)) === 0) throw conflict('the request was reviewed already');
        await guard.record(op, 'admin.account.enable_rejected', { accountId: account.sub }, { request_id: request.id, requested_by: request.actorId, review_note: body.note || null }, trx);
      });
      return { ...request, status: 'rejected', reviewerId: op.sub, reviewedAt: at, reviewNote: body.note || undefined };
    },

    /**
     * The same with the server's own authority, for `yihao account`: whoever runs the CLI holds the
     * database, so enabling needs no second operator here; audited as the system with `via: "cli"`.
     */
    system: {
      /** By ID number or by sub; not_found otherwise. */
      async find(by: { citizenId: string } | { sub: string }): Promise<Account> {
        const account = 'sub' in by ? await accounts.findBySub(by.sub) : await accounts.findByIdentifier(by.citizenId);
        if (!account) throw new AdminError('not_found', 'no account matches');
        return account;
      },
      view,
      async disable(account: Account, input: unknown): Promise<AccountView> {
        await disable(account, parseInput(disableInput, input), { actorType: 'system', actorId: 'cli' }, { via: 'cli' });
        return view((await accounts.findById(account.id))!);
      },
      async enable(account: Account, input: unknown): Promise<AccountView> {
        const body = parseInput(enableInput, input);
        if (account.status !== 'disabled') throw conflict('only a disabled account can be enabled');
        const change: StatusChange = {
          id: newId(), accountId: account.id, kind: 'enable', status: 'done', reason: body.reason, note: body.note || undefined,
          actorType: 'system', actorId: 'cli', createdAt: Date.now(), reviewerId: undefined, reviewedAt: undefined, reviewNote: undefined,
        };
        await accounts.setStatus(account.id, 'active', async (trx) => {
          await store.supersedePending(account.id, change.createdAt, trx);
          await store.insert(change, trx);
          await guard.recordSystem('account.enabled', { accountId: account.sub }, { change_id: change.id, reason: change.reason, note: change.note ?? null, status: { before: 'disabled', after: 'active' } }, trx);
        }, { from: ['disabled'] }).catch(notDisabled);
        return view((await accounts.findById(account.id))!);
      },
    },
  };
}
export type AccountStatusService = ReturnType<typeof accountStatusService>;
