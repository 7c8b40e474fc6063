import { hash as argon2Hash, verify as argon2Verify, type Options as Argon2Options } from '@node-rs/argon2';
import { z } from 'zod';
import { YihaoError } from '../errors.js';

export interface Argon2Settings {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  /** Hashes in flight at once; the rest queue here rather than in libuv, where token signing waits too. */
  maxConcurrent: number;
  /** Hashes that may wait for a slot; past them a hash is refused at once (`Overloaded`) instead of queueing without end. */
  maxQueued: number;
}

/**
 * A hash refused because the queue is full (load shedding, issue 11): answered 503 with
 * Retry-After. Thrown before anything is counted or consumed, so the caller can answer as if the
 * request never came.
 */
export class Overloaded extends YihaoError {
  constructor(readonly retryAfterSeconds: number) {
    super('overloaded', 'the service is busy; try again shortly', 503);
  }
}
export const isOverloaded = (e: unknown): e is Overloaded => e instanceof Overloaded;

/** What a caller holds between admission and its hash: a place in the queue, spent by one hash. */
export interface HashPlace {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  verifyNothing(password: string): Promise<false>;
  /** Gives the place back unused (idempotent; a hash gives it back by itself). */
  release(): void;
}

/** The queue as a metrics endpoint reads it. */
export interface HashLoad {
  running: number;
  /** Places taken and not yet running: hashes waiting for a slot, and callers admitted but not yet hashing. */
  queued: number;
  maxConcurrent: number;
  maxQueued: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the same time as a real verify, so an unknown identifier cannot be told apart by timing. */
  verifyNothing(password: string): Promise<false>;
  /**
   * Takes a place in the queue now, or throws `Overloaded` when `maxQueued` are already waiting.
   * A caller that must not count or consume anything for a request it cannot serve (a sign-in
   * counts a guess before it hashes) reserves first. `hash`, `verify` and `verifyNothing` reserve
   * for themselves.
   */
  reserve(): HashPlace;
  /** Hashes running now (never above `maxConcurrent`) and places waiting in Yihao's queue. */
  load(): HashLoad;
}

/** How far above the configured cost a stored hash may be and still be checked. */
const COST_HEADROOM = 16;

const decimal = z.string().regex(/^\d{1,10}$/).transform(Number);
// Other parameters (a `data=` from old node-argon2 versions) are argon2's to read, not a cost.
const costParams = z.object({ m: decimal, t: decimal, p: decimal });

/** m, t and p of a PHC string such as `$argon2id$v=19$m=19456,p=1,t=2$<salt>$<digest>`, if it is one. */
function storedCost(stored: string): z.infer<typeof costParams> | undefined {
  const params = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?([^$]+)\$[^$]+\$[^$]+$/.exec(stored)?.[1];
  const cost = params && costParams.safeParse(Object.fromEntries(params.split(',').map((kv) => kv.split('='))));
  return cost && cost.success ? cost.data : undefined;
}

/**
 * argon2 takes its cost from the stored hash, so a damaged or tampered row decides what a check
 * costs: `t=-1` reads as 2^32-1 passes and holds a slot of the queue (and a libuv thread, and the
 * process's exit) for days; a large `m` allocates gigabytes. A stored hash may cost up to
 * COST_HEADROOM times the configured memory and work (old rows made under a higher setting still
 * verify); beyond that, or unreadable, it is a failed check that spends nothing.
 */
export function storedHashWithin(settings: Argon2Settings): (stored: string) => boolean {
  const maxMemoryKiB = settings.memoryKiB * COST_HEADROOM;
  const maxWork = settings.memoryKiB * settings.iterations * COST_HEADROOM;
  return (stored) => {
    const cost = storedCost(stored);
    if (!cost) return false;
    const { m, t, p } = cost;
    // Passes are bounded on their own too: each has a fixed cost per lane, so a tiny `m` with a huge
    // `t` (within m·t) still cost half a second.
    return t >= 1 && t <= settings.iterations * COST_HEADROOM && p >= 1 && p <= Math.max(settings.parallelism, 16) && m <= maxMemoryKiB && m * t <= maxWork;
  };
}

function semaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  const run = async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < limit) active++;
    // A finished task hands its slot straight to the next in line: were it freed first, a caller
    // arriving before the woken waiter resumes could take it too, and one more hash would run.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
  return Object.assign(run, { running: () => active });
}

/** How long a hash takes here, smoothed, for Retry-After: the cost depends on the machine and its load. */
function hashTimer(initialMs: number) {
  let meanMs = initialMs;
  return {
    async time<T>(task: () => Promise<T>): Promise<T> {
      const started = performance.now();
      try {
        return await task();
      } finally {
        meanMs = 0.8 * meanMs + 0.2 * (performance.now() - started);
      }
    },
    meanMs: () => meanMs,
  };
}

/**
 * The implementation is @node-rs/argon2 (napi-rs's build of `argon2-rust`, a Rust port of the
 * reference code): half the CPU per hash of node-argon2's build here, and the same PHC strings, so
 * hashes stored by either verify with the other (docs/memory.md, "Which argon2"). Its version is
 * pinned: what it accepts in a stored string is this build's parser.
 *
 * Memory: argon2 allocates its m KiB buffer with malloc in whichever libuv thread runs the hash.
 * After the first free, glibc raises its mmap threshold to that size, so later buffers come from the
 * thread's own malloc arena and stay there: every pool thread that ever hashed keeps ~19 MiB
 * (UV_THREADPOOL_SIZE=16 -> ~300 MiB). The queue below bounds the hashes at once, not the threads that
 * run them, so the bound on memory comes from the allocator: MALLOC_ARENA_MAX=1 (set by `npm start`
 * and the Dockerfile) makes those threads share one arena, which keeps about `maxConcurrent` buffers.
 * Measured in bench/argon2-memory.ts, with the alternatives; the choice is explained in docs/memory.md.
 * src/accounts/malloc-arenas.ts warns at start-up when the setting is missing.
 */
export function createPasswordHasher(settings: Argon2Settings): PasswordHasher {
  const options: Argon2Options = {
    algorithm: 2, // Argon2id (a const enum, which isolated modules cannot read)
    memoryCost: settings.memoryKiB,
    timeCost: settings.iterations,
    parallelism: settings.parallelism,
  };
  const limit = semaphore(settings.maxConcurrent);
  // ~23 ms at the default cost (docs/DESIGN.md), scaled by the configured work until measured.
  const timer = hashTimer((23 * settings.memoryKiB * settings.iterations) / (19456 * 2));
  const affordable = storedHashWithin(settings);
  /** Places taken: running, waiting for a slot, or reserved by a caller not yet hashing. */
  let taken = 0;
  let decoy: Promise<string> | undefined;

  const run = <T>(task: () => Promise<T>) => limit(() => timer.time(task));
  const check = (stored: string, password: string) =>
    run(async () => {
      try {
        return await argon2Verify(stored, password);
      } catch {
        // A malformed stored hash is a failed check, never a crash; and as slow as any other answer
        // (a hash of the same cost, in the slot this check already holds).
        await argon2Hash(password, options).catch(() => undefined);
        return false;
      }
    });

  function reserve(): HashPlace {
    if (taken >= settings.maxConcurrent + settings.maxQueued) {
      // Long enough for the queue ahead to drain, as this machine hashes now.
      const waitMs = ((taken + 1) / settings.maxConcurrent) * timer.meanMs();
      throw new Overloaded(Math.max(1, Math.ceil(waitMs / 1000)));
    }
    taken++;
    let held = true;
    const release = () => {
      if (held) taken--;
      held = false;
    };
    const spend = async <T>(task: () => Promise<T>): Promise<T> => {
      if (!held) throw new Error('a hash place is spent once');
      try {
        return await task();
      } finally {
        release();
      }
    };
    const verifyNothing = (password: string) =>
      spend(async (): Promise<false> => {
        // Made once, through the queue like any other hash (in this caller's place), so that the
        // first unknown identifier does not run one argon2 more than the cap allows.
        decoy ??= run(() => argon2Hash('decoy-password-never-matches', options));
        await check(await decoy, password);
        return false;
      });
    return {
      hash: (password) => spend(() => run(() => argon2Hash(password, options))),
      // A stored hash beyond the cost we accept fails after a decoy check: as slow as any other answer.
      verify: (stored, password) => (affordable(stored) ? spend(() => check(stored, password)) : verifyNothing(password)),
      verifyNothing,
      release,
    };
  }

  return {
    // async: a full queue is a rejected promise here, never a synchronous throw.
    hash: async (password) => reserve().hash(password),
    verify: async (stored, password) => reserve().verify(stored, password),
    verifyNothing: async (password) => reserve().verifyNothing(password),
    reserve,
    load: () => ({ running: limit.running(), queued: taken - limit.running(), maxConcurrent: settings.maxConcurrent, maxQueued: settings.maxQueued }),
  };
}
