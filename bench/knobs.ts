/** The bench's settings: environment knobs (documented in bench/README.md) and fixed constants. */
export const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export type Backend = 'postgres+redis' | 'sqlite';

export const knobs = {
  /** auto (both when PostgreSQL and Redis answer, else SQLite), sqlite, or postgres+redis. */
  backend: process.env.BENCH_BACKEND ?? 'auto',
  seconds: num('BENCH_SECONDS', 4),
  /**
   * Before each server's first slice of an endpoint. Yihao has more code for V8 to optimise than
   * the bare provider: after 1 s its userinfo still cost twice its steady CPU per request, and
   * client_credentials 25-40% more (bench/README.md, "Method").
   */
  warmupSeconds: 3,
  /** The second instance of the two-instance scenario: client_credentials only, already warm in the first. */
  secondInstanceWarmupSeconds: 1,
  connections: num('BENCH_CONNECTIONS', 10),
  signInLoops: num('BENCH_SIGNIN_LOOPS', 8),
  signInSeconds: num('BENCH_SIGNIN_SECONDS', 5),
  /**
   * Sign-in loops before the measured ones (not measured). Yihao's sign-in has far more code for V8
   * to optimise than the bare provider's, at a tenth of its rate: after 2 s (about 140 sign-ins,
   * where the bare provider has done 1,500) a sign-in still cost 2-3 ms more than after 20 s.
   */
  signInWarmupSeconds: 6,
  /** The bare provider's, once: about 1,500 of its sign-ins. */
  bareSignInWarmupSeconds: 2,
  /** Split in two: before and after the sign-ins. */
  argon2Seconds: 3,
  /** Operations per scenario in the round-trip counting pass. */
  countOps: num('BENCH_COUNT_OPS', 20),
  /** Wait after the last response of a counting pass, for work done after the response (audit appends). */
  settleMs: num('BENCH_SETTLE_MS', 500),
  quietWaitSeconds: num('BENCH_QUIET_WAIT', 10),
  logLevel: process.env.BENCH_LOG_LEVEL,
  configJson: process.env.BENCH_CONFIG_JSON,
  cpuProfile: Boolean(process.env.BENCH_CPU_PROF),
  /** Children write /tmp/perf-<pid>.map so that Linux perf names JIT-compiled functions (bench:profile sets it). */
  perfMap: Boolean(process.env.BENCH_PERF_MAP),
  /**
   * Another node binary for the servers under test (Yihao and the bare provider), e.g. the
   * Dockerfile's Node 22 from `npx -p node@22`. PostgreSQL + Redis only: better-sqlite3 is built for
   * the node that installed it.
   */
  serverNode: process.env.BENCH_NODE,
  /** Node flags for the Yihao children only (the bare provider is the control), e.g. `--max-semi-space-size=32`. */
  yihaoNodeFlags: (process.env.BENCH_YIHAO_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  jsonPath: process.env.BENCH_JSON,
  pgUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
  /** src/main.ts's default. */
  threadpool: process.env.UV_THREADPOOL_SIZE ?? '16',
};

export const RESOURCE = 'https://bench.example/api';
export const RESOURCE_SCOPE = 'bench';
export const REDIRECT = 'http://127.0.0.1:9/cb';
export const SCOPE = 'openid profile phone';
