import { RateLimiterCompatibleAbstract, RateLimiterRes } from 'rate-limiter-flexible';

/** How many keys one limiter keeps in memory, at most: one per address seen in a window. */
export const MAX_KEYS = 10_000;

/** Slots of the table an evicted window's count is folded into (two numbers each, 1 MiB). */
const SPILL_SLOTS = 65_536;

/** FNV-1a of a key, to a spill slot. */
function slotOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SPILL_SLOTS;
}

/** One key's window: the points spent in it, and when it ends (a class, so that tests can count them). */
export class Window {
  constructor(
    public points: number,
    public resetAt: number,
  ) {}
}

/**
 * A fixed-window limiter in this instance's memory, for when there is no Redis or Redis is down
 * (the Redis limiter's insurance). rate-limiter-flexible's own memory limiter keeps every key it has
 * seen for its window with a timer each, and a timer started in a request keeps that request's
 * async context (its request memo and everything it read) alive as long: a stranger with a /48
 * (65,536 /64s) or behind a trusted proxy made one instance keep hundreds of megabytes (a review:
 * 12,000 fresh /64s, 12,000 records kept). Here windows are plain entries, expired lazily, at most
 * MAX_KEYS of them: when full, the expired go first and then the oldest. An evicted window's count
 * is folded into a fixed table by a hash of its key (the larger count and the later end win), and
 * a key that comes back starts from there: eviction never hands out a fresh budget (a second look
 * found one address clearing its own count by flooding from 10,000 others), and a key that shares
 * a slot with an evicted one is counted high, never low.
 */
export class BoundedMemoryLimiter extends RateLimiterCompatibleAbstract {
  readonly #windows = new Map<string, Window>();
  readonly #spilledPoints = new Float64Array(SPILL_SLOTS);
  readonly #spilledUntil = new Float64Array(SPILL_SLOTS);
  readonly points: number;
  readonly #msDuration: number;

  constructor(opts: { keyPrefix: string; points: number; duration: number }) {
    super();
    this.points = opts.points;
    this.#msDuration = opts.duration * 1000;
    // The base class's accessors throw until a subclass defines them; the Redis limiter sets the
    // last two on its insurance. Plain values here (no blocking, no spreading out).
    for (const [name, value] of [['keyPrefix', opts.keyPrefix], ['blockDuration', 0], ['execEvenly', false]] as const) {
      Object.defineProperty(this, name, { value, writable: name !== 'keyPrefix', enumerable: true });
    }
  }

  getKey(key: string | number): string {
    return `${this.keyPrefix}:${key}`;
  }

  /** How many windows are kept now (for tests). */
  get size(): number {
    return this.#windows.size;
  }

  #current(key: string | number, now: number): Window | undefined {
    const k = this.getKey(key);
    const w = this.#windows.get(k);
    if (w && w.resetAt <= now) {
      this.#windows.delete(k);
      return undefined;
    }
    return w;
  }

  #room(now: number): void {
    if (this.#windows.size < MAX_KEYS) return;
    for (const [k, w] of this.#windows) if (w.resetAt <= now) this.#windows.delete(k);
    // Still full: the oldest windows go (a Map keeps insertion order), their counts kept by slot.
    for (const [k, w] of this.#windows) {
      if (this.#windows.size < MAX_KEYS) break;
      const slot = slotOf(k);
      const live = this.#spilledUntil[slot]! > now;
      this.#spilledPoints[slot] = live ? Math.max(this.#spilledPoints[slot]!, w.points) : w.points;
      this.#spilledUntil[slot] = live ? Math.max(this.#spilledUntil[slot]!, w.resetAt) : w.resetAt;
      this.#windows.delete(k);
    }
  }

  /** A new window for `k`: empty, or carrying on from an evicted window's count in its slot. */
  #fresh(k: string, now: number): Window {
    const slot = slotOf(k);
    return this.#spilledUntil[slot]! > now ? new Window(this.#spilledPoints[slot]!, this.#spilledUntil[slot]!) : new Window(0, now + this.#msDuration);
  }

  #answer(w: Window, now: number, first: boolean): RateLimiterRes {
    return new RateLimiterRes(Math.max(0, this.points - w.points), Math.max(0, w.resetAt - now), w.points, first);
  }

  override async consume(key: string | number, pointsToConsume = 1): Promise<RateLimiterRes> {
    const now = Date.now();
    let w = this.#current(key, now);
    const first = !w;
    if (!w) {
      this.#room(now);
      w = this.#fresh(this.getKey(key), now);
      this.#windows.set(this.getKey(key), w);
    }
    w.points += pointsToConsume;
    const res = this.#answer(w, now, first);
    if (w.points > this.points) throw res;
    return res;
  }

  override async penalty(key: string | number, points = 1): Promise<RateLimiterRes> {
    const now = Date.now();
    const w = this.#current(key, now) ?? this.#fresh(this.getKey(key), now);
    w.points += points;
    this.#room(now);
    this.#windows.set(this.getKey(key), w);
    return this.#answer(w, now, false);
  }

  override async reward(key: string | number, points = 1): Promise<RateLimiterRes> {
    const now = Date.now();
    const w = this.#current(key, now);
    if (!w) return new RateLimiterRes(this.points, 0, 0, false);
    w.points = Math.max(0, w.points - points);
    return this.#answer(w, now, false);
  }

  override async get(key: string | number): Promise<RateLimiterRes | null> {
    const now = Date.now();
    const w = this.#current(key, now);
    return w ? this.#answer(w, now, false) : null;
  }

  override async set(key: string | number, points: number, secDuration: number): Promise<RateLimiterRes> {
    const now = Date.now();
    const w = new Window(points, now + (secDuration > 0 ? secDuration * 1000 : this.#msDuration));
    this.#room(now);
    this.#windows.set(this.getKey(key), w);
    return this.#answer(w, now, false);
  }

  override async block(key: string | number, secDuration: number): Promise<RateLimiterRes> {
    return this.set(key, this.points + 1, secDuration);
  }

  override async delete(key: string | number): Promise<boolean> {
    return this.#windows.delete(this.getKey(key));
  }
}
