import type { Knex } from 'knex';
import { requestMemo, withRequestMemo, type RequestMemo } from './request-memo.js';
import type { SqlWrite } from './write-batch.js';

/**
 * One grant's revocation as a request gathered it: oidc-provider deletes a grant's tokens and the
 * grant first and emits `grant.revoked` after (helpers/revoke.js), so a record written then could
 * fail after the revocation landed. Held, the deletes wait for the record: the SQL ones run in one
 * transaction with it, and the rest (Redis) once that committed. A token of a deleted grant is
 * refused everywhere it is used, so deletes that fail after the commit leave nothing usable; a
 * record that fails leaves everything as it was, and the request fails, so its client retries.
 */
export interface HeldRevocation {
  /** Whether the grant itself goes (not only its tokens: an app revoking an access token keeps it). */
  grant: boolean;
  /** The tokens' SQL deletes. */
  readonly sql: SqlWrite[];
  /** What waits for the commit: the Redis deletes, index rows. */
  readonly after: (() => Promise<void>)[];
  /** Runs held revocations (storage/oidc-adapter.ts). */
  readonly send: SendRevocations;
}

/** A grant the transaction deleted, as it was stored. */
export interface RevokedGrant {
  grantId: string;
  accountId: string | undefined;
  clientId: string | undefined;
}

/**
 * Writes the record in the revocation's transaction. Called only when the transaction deleted a
 * grant: a grant already gone (revoked by a request that won a race, or by a retry's first try)
 * gets no second record.
 */
export type RevocationRecord = (trx: Knex.Transaction, revoked: readonly RevokedGrant[]) => Promise<void>;

/** With `always`, the record is written in the transaction whether or not it deleted a grant. */
export type SendRevocations = (held: readonly [string, HeldRevocation][], record?: RevocationRecord, opts?: { always?: boolean }) => Promise<void>;

/**
 * What a sign-out (`revokeWithRecord`) holds besides its grants: the steps that make it take
 * effect (an account's `not_before`, SQL-stored sessions' deletes), run in the transaction before
 * its record, and what follows once that committed (Redis-stored sessions' deletes, index rows,
 * back-channel logout notices). A record that fails leaves every session signing in, and no app
 * told of a sign-out that did not happen.
 */
interface SignOutHold {
  steps: ((trx: Knex.Transaction) => Promise<void>)[];
  after: (() => Promise<void>)[];
  /** How the transaction is run when no grant's revocation brought a sender of its own. */
  send: SendRevocations | undefined;
}

interface Hold {
  grants: Map<string, HeldRevocation>;
  /** Revocations sent with their records, not yet known to have landed. */
  sending: Promise<void>[];
  /** Set while `revokeWithRecord` runs its revoke. */
  signOut?: SignOutHold | undefined;
}

const HOLD = 'storage:revocationHold';

/**
 * From here on, the current request's revocations wait for their records. Set by oidc-provider's
 * policies (oidc/revocation-record.ts), which run before it deletes anything; outside a request
 * nothing is held.
 */
export function holdRevocations(): void {
  const memo = requestMemo();
  if (memo && !memo.notes.has(HOLD)) memo.notes.set(HOLD, { grants: new Map(), sending: [] } satisfies Hold);
}

/**
 * The held revocation of `grantId`, for a delete to join; undefined when the request holds none.
 * One that no record claims by the end of the request is sent then, without a record, when it
 * deletes only tokens (oidc-provider revoked them but kept the grant: an app revoking an access
 * token); one that would delete the grant fails the request instead.
 */
export function heldRevocation(memo: RequestMemo, grantId: string, send: SendRevocations): HeldRevocation | undefined {
  const hold = memo.notes.get(HOLD) as Hold | undefined;
  if (!hold) return undefined;
  let held = hold.grants.get(grantId);
  if (!held) {
    const created: HeldRevocation = { grant: false, sql: [], after: [], send };
    hold.grants.set(grantId, (held = created));
    memo.settle.push(async () => {
      if (hold.grants.get(grantId) !== created) return;
      hold.grants.delete(grantId);
      // A grant's own delete goes only with its record: never one without (the request fails instead).
      if (created.grant) throw new Error('a grant revocation was held without its audit record');
      await send([[grantId, created]]);
    });
  }
  return held;
}

/**
 * Sends the held revocation of `grantId` with its record. The request answers once all of it is
 * done, and fails if any of it failed. False when nothing of that grant is held (its record is then
 * the caller's to write).
 */
export function recordHeldRevocation(grantId: string, record: RevocationRecord): boolean {
  const memo = requestMemo();
  const hold = memo?.notes.get(HOLD) as Hold | undefined;
  const held = hold?.grants.get(grantId);
  if (!memo || !hold || !held) return false;
  hold.grants.delete(grantId);
  const done = held.send([[grantId, held]], record);
  // Awaited by the request's settle work; until then a failure must not count as unhandled.
  done.catch(() => undefined);
  memo.settle.push(() => done);
  hold.sending.push(done);
  return true;
}

/**
 * What a write waits for: the revocations this request sent with their records, landed (it throws
 * if one did not). A write that follows a revocation (a logout destroying the session whose grants
 * it revoked) must not land without it, or the retry would find nothing left to revoke.
 */
export function revocationsLanding(memo: RequestMemo): Promise<unknown> | undefined {
  // Undefined, not a resolved promise, for the requests that revoke nothing: no promise on the hot path.
  const hold = memo.notes.get(HOLD) as Hold | undefined;
  return hold?.sending.length ? Promise.all(hold.sending) : undefined;
}

/**
 * What waits for the held SQL deletes to commit, each tried even when one before it failed (a
 * Redis delete must not keep the index rows from going); the first failure is thrown after.
 */
export async function runAfter(after: readonly (() => Promise<void>)[]): Promise<void> {
  let failed: { err: unknown } | undefined;
  for (const work of after) {
    await work().catch((err: unknown) => {
      failed ??= { err };
    });
  }
  if (failed) throw failed.err;
}

/**
 * Runs `revoke` (Yihao's own revocation of grants: a citizen withdrawing an app's access or signing
 * out, a kiosk's card removed, a lost phone, an account disabled) holding its grants' deletes and
 * what its sign-out holds (`inRevocationTransaction`, `afterRevocationCommit`), then runs them and
 * `record` in one transaction, and the rest after it: a record that fails, or a `revoke` that
 * throws, leaves everything for the retry. The record is written whatever was deleted.
 */
export async function revokeWithRecord<T>(revoke: () => Promise<T>, record: (done: T, trx: Knex.Transaction | undefined) => Promise<void>): Promise<T> {
  const memo = requestMemo();
  // Outside a request (the CLI's lost phone), a scope of its own holds the deletes the same way.
  if (!memo) return withRequestMemo(() => revokeWithRecord(revoke, record));
  holdRevocations();
  const hold = memo.notes.get(HOLD) as Hold;
  const before = new Set(hold.grants.keys());
  const outer = hold.signOut;
  const signOut: SignOutHold = { steps: [], after: [], send: undefined };
  hold.signOut = signOut;
  let done: T;
  try {
    done = await revoke();
  } catch (err) {
    // What it held goes nowhere: the grants stay, for the retry to find.
    for (const grantId of [...hold.grants.keys()]) if (!before.has(grantId)) hold.grants.delete(grantId);
    throw err;
  } finally {
    hold.signOut = outer;
  }
  // Only what this call held: an enclosing one's grants wait for that one's record.
  const held = [...hold.grants.entries()].filter(([grantId]) => !before.has(grantId));
  for (const [grantId] of held) hold.grants.delete(grantId);
  const send = held[0]?.[1].send ?? signOut.send;
  if (send) {
    await send(
      held,
      async (trx) => {
        for (const step of signOut.steps) await step(trx);
        await record(done, trx);
      },
      { always: true },
    );
  } else await record(done, undefined);
  // In order, up to the first failure: a session whose delete failed keeps its index row (the
  // portal lists it, the retry finds it), and no app is told of a session still alive.
  for (const work of signOut.after) await work();
  return done;
}

/**
 * `revokeWithRecord` for a revocation that must happen even when its record cannot be written: a
 * removed key's logins, whose removal committed with its own record first (so that a login racing
 * the removal finds the key revoked), and whose retry would find no key to remove. Held with its
 * record first; when that fails, `revoke` runs again in a scope of its own, holding nothing, and the
 * failure is thrown after.
 */
export async function revokeEvenWithoutRecord<T>(revoke: () => Promise<T>, record: (done: T, trx: Knex.Transaction | undefined) => Promise<void>): Promise<T> {
  try {
    return await revokeWithRecord(revoke, record);
  } catch (err) {
    await withRequestMemo(revoke).catch(() => undefined);
    throw err;
  }
}

/**
 * From here on, the current request's sign-out is held (its sessions' deletes) until
 * `recordHeldSignOut` sends it with its record: oidc-provider's RP-initiated logout, which destroys
 * the session and only then emits the event its `session.ended` is written from. One left unsent
 * at the end of the request fails it.
 */
export function holdSignOut(send: SendRevocations): void {
  const memo = requestMemo();
  if (!memo) return;
  holdRevocations();
  const hold = memo.notes.get(HOLD) as Hold;
  if (hold.signOut) return;
  const signOut: SignOutHold = { steps: [], after: [], send };
  hold.signOut = signOut;
  memo.settle.push(async () => {
    if (hold.signOut !== signOut) return;
    hold.signOut = undefined;
    if (signOut.steps.length || signOut.after.length) throw new Error('a sign-out was held without its audit record');
  });
}

/**
 * Sends the sign-out `holdSignOut` held with its record, once the request's grant revocations have
 * landed: the SQL deletes in the record's transaction, the rest after it. The request answers once
 * it is done, and fails if it failed. False when no session's end is held (the record is then the
 * caller's to write).
 */
export function recordHeldSignOut(record: (trx: Knex.Transaction) => Promise<void>): boolean {
  const memo = requestMemo();
  const hold = memo?.notes.get(HOLD) as Hold | undefined;
  const signOut = hold?.signOut;
  if (!memo || !hold || !signOut) return false;
  hold.signOut = undefined;
  if (!signOut.steps.length && !signOut.after.length) return false;
  const done = (async () => {
    const landing = revocationsLanding(memo);
    if (landing) await landing;
    await signOut.send!(
      [],
      async (trx) => {
        for (const step of signOut.steps) await step(trx);
        await record(trx);
      },
      { always: true },
    );
    for (const work of signOut.after) await work();
  })();
  // Awaited by the request's settle work; until then a failure must not count as unhandled.
  done.catch(() => undefined);
  memo.settle.push(() => done);
  return true;
}

/**
 * Runs `step` in the transaction of the sign-out being held (`revokeWithRecord`), before its
 * record; false when none is held (run it now). `send` runs that transaction if nothing else does.
 */
export function inRevocationTransaction(step: (trx: Knex.Transaction) => Promise<void>, send: SendRevocations): boolean {
  const signOut = (requestMemo()?.notes.get(HOLD) as Hold | undefined)?.signOut;
  if (!signOut) return false;
  signOut.steps.push(step);
  signOut.send ??= send;
  return true;
}

/** Runs `work` once the sign-out being held (`revokeWithRecord`) has committed; false when none is held (run it now). */
export function afterRevocationCommit(work: () => Promise<void>): boolean {
  const signOut = (requestMemo()?.notes.get(HOLD) as Hold | undefined)?.signOut;
  if (!signOut) return false;
  signOut.after.push(work);
  return true;
}

/** Adds `work` to what follows `grantId`'s held revocation; false when the request holds none (run it now). */
export function afterHeldRevocation(grantId: string, work: () => Promise<void>): boolean {
  const hold = requestMemo()?.notes.get(HOLD) as Hold | undefined;
  const held = hold?.grants.get(grantId);
  if (!held) return false;
  held.after.push(work);
  return true;
}
