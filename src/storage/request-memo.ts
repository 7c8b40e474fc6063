import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one HTTP request has already read. oidc-provider and our routes load the same Interaction,
 * Session, Grant and account several times per request (each step looks it up on its own); the
 * first read goes to the store, the rest come from here. Scoped to one request and dropped with it,
 * so instances stay stateless and nothing read by one request is ever seen by another. Every write
 * the request makes goes to the store and updates the memo, so a request sees its own writes.
 */
export interface RequestMemo {
  /** Stored records by `model:id`, as JSON (null: known to be absent); parsed afresh on each read, so a caller's mutation cannot leak into the next read. */
  readonly records: Map<string, string | null>;
  /** `model:uid` → id. */
  readonly uids: Map<string, string>;
  /** Other per-request reads (accounts by sub), by key. */
  readonly values: Map<string, Promise<unknown>>;
  /** Facts that this request's code wants to hand to the tokens it issues (see oidc/token-facts.ts). */
  readonly notes: Map<string, unknown>;
  /** Work to finish before the request's response goes out (a deferred write nothing followed). */
  readonly settle: (() => Promise<void>)[];
  /**
   * Run instead, after the settle work, when the request failed (it threw, or answered 5xx): each
   * takes back a one-time artifact the request spent without delivering what it was spent for.
   */
  readonly onFailure: (() => Promise<void>)[];
  /**
   * Set once the settle work has run. Work the request started but did not wait for (a provider
   * event's audit append) may still run in its async context afterwards: it must see no memo, so
   * that it writes straight to the store instead of into a queue nobody will flush.
   */
  closed: boolean;
}

/** The store of work that no request waits for (a timer's pass): it has no memo. */
const BACKGROUND = Symbol('background work');

/**
 * Yihao's only AsyncLocalStorage. On Node 20 every enabled instance copies its store onto every new
 * promise, so each one costs on every request whether it is read or not: the request memo and the
 * background mark share this one (oidc-provider enables its own).
 */
const scope = new AsyncLocalStorage<RequestMemo | typeof BACKGROUND>();

/**
 * Runs `fn` (one request's handling) with a fresh memo. `failed` says, once `fn` returned, whether
 * its answer is a failure all the same (an error page or JSON it set itself, such as a 5xx).
 */
export function withRequestMemo<T>(fn: () => Promise<T>, failed: () => boolean = () => false): Promise<T> {
  const memo: RequestMemo = { records: new Map(), uids: new Map(), values: new Map(), notes: new Map(), settle: [], onFailure: [], closed: false };
  // Without an async frame of its own: most requests leave nothing to settle or give back, and then
  // the memo closes where the answer comes back, with no promise more (each one runs the async hooks).
  const finish = (answered: boolean): Promise<void> | undefined => {
    const succeeded = () => answered && !failed();
    if (memo.settle.length || (memo.onFailure.length && !succeeded())) return settle(memo, succeeded);
    close(memo);
    return undefined;
  };
  return scope.run(memo, () => {
    let running: Promise<T>;
    try {
      running = fn();
    } catch (err) {
      running = Promise.reject(err);
    }
    return running.then(
      (result) => {
        const pending = finish(true);
        return pending ? pending.then(() => result) : result;
      },
      (err: unknown) => {
        const pending = finish(false);
        if (!pending) throw err;
        return pending.then(() => {
          throw err;
        });
      },
    );
  });
}

/** The request's settle work, then (if it failed after all) its give-backs; the memo closes. */
async function settle(memo: RequestMemo, succeeded: () => boolean): Promise<void> {
  let settled = false;
  try {
    // Settle work may queue more (a flush that defers another write): run until none is left.
    while (memo.settle.length) for (const work of memo.settle.splice(0)) await work();
    settled = true;
  } finally {
    memo.closed = true;
    // Before the answer goes out, so that a client retrying it finds what it spent unspent.
    if (!settled || !succeeded()) for (const undo of memo.onFailure.splice(0)) await undo().catch(() => undefined);
    close(memo);
  }
}

/**
 * Closes the memo. Anything that outlives the request in its async context (a timer it started)
 * keeps the memo alive: it must not keep what the request read too.
 */
function close(memo: RequestMemo): void {
  memo.closed = true;
  memo.records.clear();
  memo.uids.clear();
  memo.values.clear();
  memo.notes.clear();
  memo.onFailure.length = 0;
}

/** The current request's memo; undefined outside a request (CLI, timers, background work). */
export const requestMemo = (): RequestMemo | undefined => {
  const memo = scope.getStore();
  return memo && memo !== BACKGROUND && !memo.closed ? memo : undefined;
};

/**
 * Runs work that no request waits for (a timer's pass), outside any request's memo. Its statements
 * still go to the same stores; a round-trip counter files them under `background`, so per-request
 * figures count requests only.
 */
export function backgroundWork<T>(work: () => Promise<T>): Promise<T> {
  return scope.run(BACKGROUND, work);
}

/** Whether the caller runs inside `backgroundWork`. */
export const inBackground = (): boolean => scope.getStore() === BACKGROUND;

/** `load()` once per request for `key`; outside a request, every call loads. */
export function once<T>(key: string, load: () => Promise<T>): Promise<T> {
  const memo = requestMemo();
  if (!memo) return Promise.resolve(load());
  let found = memo.values.get(key) as Promise<T> | undefined;
  if (!found) {
    // Resolved once into a real promise: a knex query builder is a thenable that runs again on every await.
    found = Promise.resolve(load());
    memo.values.set(key, found);
    // A failed read is not remembered: the next caller tries again.
    found.catch(() => memo.values.delete(key));
  }
  return found;
}

/** Drops remembered values whose key starts with `prefix` (after a write that changes them). */
export function forget(prefix: string): void {
  const memo = requestMemo();
  if (!memo) return;
  for (const key of memo.values.keys()) if (key.startsWith(prefix)) memo.values.delete(key);
}

/** Tells this request's memo that `model` has no record `id` (one it is about to create under a fresh id). */
export function rememberAbsent(model: string, id: string): void {
  requestMemo()?.records.set(`${model}:${id}`, null);
}
