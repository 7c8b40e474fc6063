/** A code as stored: only its keyed hash. Times are epoch milliseconds. */
export interface StoredCode {
  readonly codeHash: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * The result of claiming one verification attempt. `claimed` means the attempt was counted (the
 * count is now at most `maxAttempts`) and hands back the hash to compare against; the others say
 * why no attempt is possible.
 */
export type AttemptClaim =
  | { readonly status: 'claimed'; readonly codeHash: string }
  | { readonly status: 'missing' | 'consumed' | 'exhausted' | 'expired' };

export type ThrottleTake =
  | {
      readonly ok: true;
      /** Gives the slot back (the send did not happen after all). Does nothing if it has moved on. */
      release(): Promise<void>;
    }
  | { readonly ok: false; readonly retryAfterMs: number };

export interface RollingLimit {
  readonly max: number;
  readonly windowMs: number;
}

/**
 * Storage for SMS codes and send throttles. Keys are opaque strings (the service passes keyed
 * HMACs). Every operation that decides something is atomic across connections and instances:
 * the store knows no business rules, only how to count and compare-and-set safely.
 */
export interface OtpStore {
  /** Stores a code under `key`, replacing any earlier one (its attempts and consumption too). */
  putCode(key: string, code: StoredCode, now: number): Promise<void>;
  /**
   * Counts one attempt against the live code under `key`, only if it is unconsumed, unexpired at
   * `now` and has fewer than `maxAttempts` attempts; otherwise says which of those it is not.
   */
  claimAttempt(key: string, now: number, maxAttempts: number): Promise<AttemptClaim>;
  /** Marks the code under `key` used if it is still the one with `codeHash` and unused. True for exactly one caller. */
  consume(key: string, codeHash: string, now: number): Promise<boolean>;
  /**
   * Takes one of `limit.max` slots in the rolling window ending at `now`, or says how long until
   * the oldest slot leaves the window. Concurrent takers never get more than `max` slots.
   */
  take(key: string, limit: RollingLimit, now: number): Promise<ThrottleTake>;
  /** Deletes records nothing will read again, `batchSize` rows per statement; returns how many. Redis expires them itself. */
  sweep(now: number, batchSize?: number): Promise<number>;
}

/** How long an expired code is kept, so that verifying it says 'expired' rather than 'invalid'. */
export const DEFAULT_RETAIN_EXPIRED_MS = 60 * 60 * 1000;
