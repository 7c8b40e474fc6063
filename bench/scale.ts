/**
 * `npm run bench:scale`: does sign-in and userinfo latency hold at national scale? For each backend
 * it seeds one store with 1,000 accounts and another with 1,000,000 (BENCH_SCALE_ACCOUNTS), runs a
 * Yihao instance on each, and measures both scenarios against both, interleaved S L L S, with
 * citizens picked at random among the seeded accounts (cold rows, not eight warm ones). Prints
 * how long seeding took and the 1M / 1k p50 ratios against issue 10's budget (<= 1.2); writes
 * BENCH_JSON. Stops by itself within HARD_LIMIT_MS and removes its schemas, keys and files.
 */
import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import * as argon2 from '@node-rs/argon2';
import { createCitizenIdVault } from '../src/identity/index.js';
import { openStores } from '../src/yihao.js';
import { chooseBackends, prepareStore, type Store } from './backends.js';
import { benchRelyingParty, setUp, startYihao, type YihaoInstance } from './instances.js';
import { knobs, num, type Backend } from './knobs.js';
import { runBench } from './lifecycle.js';
import { fmtMs, percentile } from './load.js';
import { cpuSpent, loadavg } from './proc.js';
import { sendOnce } from './requests.js';
import { http, signIn, type RelyingParty } from './sign-in.js';
import { SEED_PASSWORD, seedAccounts, seededCitizenId } from './seed-accounts.js';

const HARD_LIMIT_MS = 20 * 60_000;
const SMALL = 1_000;
const LARGE = num('BENCH_SCALE_ACCOUNTS', 1_000_000);
const SLICE_SECONDS = num('BENCH_SCALE_SECONDS', 4);
const SIGNIN_LOOPS = num('BENCH_SCALE_SIGNIN_LOOPS', 2);
const USERINFO_LOOPS = num('BENCH_SCALE_USERINFO_LOOPS', 4);
const ROUNDS = num('BENCH_SCALE_ROUNDS', 2);
const BUDGET = 1.2;
const count = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1_000 && n % 1_000 === 0 ? `${n / 1_000}k` : String(n));

async function seed(store: Store, count: number, passwordHash: string): Promise<number> {
  const stores = await openStores(store.config, store.schema ? { schema: store.schema } : {});
  const started = performance.now();
  const step = Math.max(100_000, Math.floor(count / 5));
  let next = step;
  try {
    await seedAccounts(stores.db, createCitizenIdVault(store.config.secrets), passwordHash, 0, count, (done) => {
      if (done < next) return;
      next += step;
      console.log(`  seeded ${done.toLocaleString('en')} of ${count.toLocaleString('en')} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    });
  } finally {
    await stores.db.destroy();
    await stores.redis?.quit();
  }
  return (performance.now() - started) / 1000;
}

interface Side {
  name: string;
  accounts: number;
  yihao: YihaoInstance;
  rp: RelyingParty;
  userinfoPath: string;
  tokens: string[];
}

interface Slice {
  latencies: number[];
  failed: number;
  cpuMs: number;
}

/** `loops` concurrent loops running `op` one after another for SLICE_SECONDS; latencies in ms. */
async function slice(side: Side, loops: number, op: (side: Side) => Promise<void>): Promise<Slice> {
  const latencies: number[] = [];
  let failed = 0;
  let firstError: unknown;
  const before = await side.yihao.meter.sample();
  const deadline = performance.now() + SLICE_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await op(side);
          latencies.push(performance.now() - t0);
        } catch (e) {
          failed++;
          firstError ??= e;
        }
      }
    }),
  );
  if (firstError) console.error(`  ${side.name}: ${failed} failed, first: ${(firstError as Error).message}`);
  return { latencies, failed, cpuMs: cpuSpent(before, await side.yihao.meter.sample()).serverMs };
}

const signInOp = async (side: Side) => {
  const tokens = await signIn(side.rp, { identifier: seededCitizenId(randomInt(side.accounts)), password: SEED_PASSWORD });
  // Userinfo then reads as many different accounts as the sign-ins touched.
  if (side.tokens.length < 500) side.tokens.push(tokens.access_token);
};

let nextToken = 0;
const userinfoOp = async (side: Side) => {
  const token = side.tokens[nextToken++ % side.tokens.length]!;
  const res = await http(new URL(side.userinfoPath, side.yihao.base), { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`userinfo: ${res.status} ${res.text.slice(0, 200)}`);
};

interface Compared {
  p50SmallMs: number;
  p50LargeMs: number;
  p99SmallMs: number;
  p99LargeMs: number;
  cpuMsPerOpSmall: number;
  cpuMsPerOpLarge: number;
  opsSmall: number;
  opsLarge: number;
  failed: number;
  /** p50 at LARGE accounts over p50 at 1k. */
  ratio: number;
  /** The same for server CPU per op: less sensitive to other load on the machine. */
  cpuRatio: number;
}

/** Small and large interleaved S L L S (then L S S L, ...), so drift in the machine's other load hits both alike. */
async function compare(name: string, small: Side, large: Side, loops: number, op: (side: Side) => Promise<void>): Promise<Compared> {
  const smalls: Slice[] = [];
  const larges: Slice[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const [first, second] = round % 2 === 0 ? ([small, large] as const) : ([large, small] as const);
    for (const s of [first, second, second, first]) (s === small ? smalls : larges).push(await slice(s, loops, op));
  }
  const sorted = (slices: Slice[]) => slices.flatMap((x) => x.latencies).sort((x, y) => x - y);
  const cpu = (slices: Slice[]) => slices.reduce((n, x) => n + x.cpuMs, 0);
  const s = sorted(smalls);
  const l = sorted(larges);
  const c: Compared = {
    p50SmallMs: percentile(s, 50),
    p50LargeMs: percentile(l, 50),
    p99SmallMs: percentile(s, 99),
    p99LargeMs: percentile(l, 99),
    cpuMsPerOpSmall: cpu(smalls) / s.length,
    cpuMsPerOpLarge: cpu(larges) / l.length,
    opsSmall: s.length,
    opsLarge: l.length,
    failed: [...smalls, ...larges].reduce((n, x) => n + x.failed, 0),
    ratio: percentile(l, 50) / percentile(s, 50),
    cpuRatio: cpu(larges) / l.length / (cpu(smalls) / s.length),
  };
  console.log(
    `  ${name}: p50 ${fmtMs(c.p50SmallMs)} ms at ${count(SMALL)} accounts, ${fmtMs(c.p50LargeMs)} ms at ${count(LARGE)}: ` +
      `${c.ratio.toFixed(2)}x (budget <= ${BUDGET}) ${c.ratio <= BUDGET ? 'pass' : 'FAIL'}; p99 ${fmtMs(c.p99SmallMs)} / ${fmtMs(c.p99LargeMs)} ms; ` +
      `server CPU ${fmtMs(c.cpuMsPerOpSmall)} / ${fmtMs(c.cpuMsPerOpLarge)} ms/op (${c.cpuRatio.toFixed(2)}x); ${c.opsSmall} / ${c.opsLarge} ops${c.failed ? `, ${c.failed} FAILED` : ''}`,
  );
  return c;
}

async function side(store: Store, name: string, accounts: number): Promise<Side> {
  const yihao = await startYihao(store, 0);
  const setup = await setUp(yihao, 0);
  const discovery = await sendOnce(yihao.base, { method: 'GET', path: '/.well-known/openid-configuration' });
  const rp = benchRelyingParty(store.issuer, discovery, setup);
  return { name, accounts, yihao, rp, userinfoPath: new URL(String(discovery.userinfo_endpoint)).pathname, tokens: [] };
}

async function runScale(backend: Backend) {
  console.log(`\n=== ${backend} ===`);
  const smallStore = await prepareStore(backend);
  const largeStore = await prepareStore(backend);
  const a = smallStore.config.argon2;
  const hash = await argon2.hash(SEED_PASSWORD, { algorithm: 2, memoryCost: a.memoryKiB, timeCost: a.iterations, parallelism: a.parallelism });
  await seed(smallStore, SMALL, hash);
  console.log(`seeding ${LARGE.toLocaleString('en')} accounts (and as many password credentials):`);
  const seedingSeconds = await seed(largeStore, LARGE, hash);
  console.log(`  took ${seedingSeconds.toFixed(0)} s (${Math.round(LARGE / seedingSeconds).toLocaleString('en')} accounts/s)`);

  const small = await side(smallStore, count(SMALL), SMALL);
  const large = await side(largeStore, count(LARGE), LARGE);
  try {
    for (const s of [small, large]) await signInOp(s); // warm-up
    console.log(
      `sign-ins (${SIGNIN_LOOPS} loops) and userinfo (${USERINFO_LOOPS} loops), ${SLICE_SECONDS} s slices, ${count(SMALL)} and ${count(LARGE)} accounts ` +
        `interleaved ${ROUNDS === 1 ? 'S L L S' : `in ${ROUNDS} rounds (S L L S, L S S L, ...)`}:`,
    );
    const signIns = await compare('complete sign-in', small, large, SIGNIN_LOOPS, signInOp);
    const userinfo = await compare('userinfo', small, large, USERINFO_LOOPS, userinfoOp);
    return { backend, accounts: { small: SMALL, large: LARGE }, seeding: { seconds: seedingSeconds, accountsPerSecond: LARGE / seedingSeconds }, signIn: signIns, userinfo };
  } finally {
    await Promise.all([small.yihao.child.stop(), large.yihao.child.stop()]);
  }
}

async function main(): Promise<void> {
  const backends = await chooseBackends();
  const startedAt = new Date().toISOString();
  console.log(`Yihao scale benchmark — ${startedAt}`);
  console.log(`machine: ${os.cpus().length} cores, Node ${process.version}, load average ${loadavg()}; backends: ${backends.join(', ')}`);
  const results = [];
  for (const backend of backends) results.push(await runScale(backend));

  console.log(`\np50 at ${count(LARGE)} accounts over p50 at ${count(SMALL)} (budget <= ${BUDGET}; the CPU view in brackets):`);
  for (const r of results) {
    const mark = (v: number) => `${v.toFixed(2)} ${v <= BUDGET ? 'pass' : 'FAIL'}`;
    console.log(
      `  ${r.backend}: sign-in ${mark(r.signIn.ratio)} (${r.signIn.cpuRatio.toFixed(2)}), userinfo ${mark(r.userinfo.ratio)} (${r.userinfo.cpuRatio.toFixed(2)}); ` +
        `seeding ${LARGE.toLocaleString('en')} accounts took ${r.seeding.seconds.toFixed(0)} s`,
    );
  }
  if (knobs.jsonPath) {
    const first = results[0]!;
    const json = {
      run: 'npm run bench:scale',
      startedAt,
      machine: { cores: os.cpus().length, node: process.version, loadAfter: loadavg() },
      settings: { accounts: LARGE, rounds: ROUNDS, sliceSeconds: SLICE_SECONDS, signInLoops: SIGNIN_LOOPS, userinfoLoops: USERINFO_LOOPS },
      // The first backend's figures (PostgreSQL + Redis when it ran); each backend's under `backends`.
      scale: { accounts1mOverAccounts1k: { signIn: first.signIn.ratio, userinfo: first.userinfo.ratio } },
      seeding: first.seeding,
      backends: Object.fromEntries(results.map((r) => [r.backend, r])),
    };
    writeFileSync(knobs.jsonPath, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`figures written to ${knobs.jsonPath}`);
  }
}

runBench('bench:scale', HARD_LIMIT_MS, main);
