/**
 * `npm run bench:steps -- [sign-ins]`: a returning sign-in taken apart request by request, on
 * Yihao (BENCH_BACKEND: sqlite, the default here, or postgres+redis) and on the bare
 * oidc-provider with the smallest login page (bare-interactions.ts). For each of the five requests
 * it prints the server's CPU and, for Yihao, its SQL statements and Redis commands, so that the
 * sign-in budget can be read step by step against what the library itself costs.
 *
 * Sign-ins run one at a time: a request's CPU is the server process's CPU from its send to its
 * answer (/proc, all threads, argon2's included), averaged over many sign-ins. One at a time costs
 * more per request than under load (no batching of wake-ups and writes), so read the columns
 * against each other, not against `npm run bench`.
 *
 * `--perf` adds a pass on each server under Linux perf, and charges each sample to the request in
 * progress when it was taken (bench/step-profile.ts): per step, the main thread's CPU by whose code
 * ran (a package, a Node module or a Yihao file), beside the bare provider's.
 */
import { prepareStore } from './backends.js';
import { benchRelyingParty, setUp, startBare, startYihao, type YihaoInstance } from './instances.js';
import { knobs, type Backend } from './knobs.js';
import { runBench } from './lifecycle.js';
import * as argon2 from '@node-rs/argon2';
import { argon2Run, fmtMs } from './load.js';
import { processCpuMs } from './proc.js';
import { sendOnce } from './requests.js';
import { ScriptedBrowser, signIn, type HttpResponse, type RelyingParty } from './sign-in.js';
import { perfInstalled } from './perf-record.js';
import { printStepProfiles, profileSteps, type Span, type StepProfile } from './step-profile.js';

const TOKEN_STEP = 'POST /token';

/** `/interaction/<uid>/login` as `/interaction/:uid/login`. */
const routeOf = (method: string, url: URL): string => `${method} ${url.pathname.replace(/\/[\w-]{20,}/g, '/:uid')}`;

interface Ledger {
  /** Per step: server CPU (ms) and round trips, summed over the sign-ins. */
  steps: Map<string, { cpuMs: number; sql: number; redis: number }>;
  signIns: number;
  /** When each request was in flight (`--perf`), on the clock perf records with. */
  spans?: Span[];
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** A cookie jar that charges each request's server CPU (and, when `counts` is given, round trips) to its route. */
class MeteredBrowser extends ScriptedBrowser {
  constructor(
    private readonly pid: number,
    private readonly ledger: Ledger,
    private readonly counts?: YihaoInstance['counts'],
  ) {
    super();
  }

  override async request(url: URL, form?: Record<string, string>): Promise<HttpResponse> {
    const before = this.counts ? await this.counts() : undefined;
    const cpu0 = processCpuMs(this.pid);
    const start = nowUs();
    const res = await super.request(url, form);
    this.ledger.spans?.push({ step: routeOf(form ? 'POST' : 'GET', url), start, end: nowUs() });
    const cpuMs = processCpuMs(this.pid) - cpu0;
    const after = this.counts ? await this.counts() : undefined;
    const key = routeOf(form ? 'POST' : 'GET', url);
    const step = this.ledger.steps.get(key) ?? { cpuMs: 0, sql: 0, redis: 0 };
    step.cpuMs += cpuMs;
    if (before && after) {
      step.sql += after.sql - before.sql;
      step.redis += after.redis - before.redis;
    }
    this.ledger.steps.set(key, step);
    return res;
  }
}

/**
 * `n` sign-ins one at a time. The code exchange is charged as what is left of the sign-in's CPU
 * (it goes out through plain HTTP, not the cookie jar).
 */
async function measure(pid: number, rp: RelyingParty, creds: (i: number) => { identifier: string; password: string }, n: number, counts?: YihaoInstance['counts'], spans?: Span[]): Promise<Ledger> {
  const ledger: Ledger = { steps: new Map(), signIns: n, ...(spans ? { spans } : {}) };
  for (let i = 0; i < n; i++) {
    const total0 = processCpuMs(pid);
    const counted0 = counts ? await counts() : undefined;
    const stepsBefore = [...ledger.steps.values()].reduce((t, s) => ({ cpuMs: t.cpuMs + s.cpuMs, sql: t.sql + s.sql, redis: t.redis + s.redis }), { cpuMs: 0, sql: 0, redis: 0 });
    await signIn(rp, creds(i), {}, new MeteredBrowser(pid, ledger, counts));
    // The code exchange goes out through plain HTTP: it is what follows the browser's last request.
    if (spans?.length) spans.push({ step: TOKEN_STEP, start: spans.at(-1)!.end, end: nowUs() });
    const counted1 = counts ? await counts() : undefined;
    const total = processCpuMs(pid) - total0;
    const stepsAfter = [...ledger.steps.values()].reduce((t, s) => ({ cpuMs: t.cpuMs + s.cpuMs, sql: t.sql + s.sql, redis: t.redis + s.redis }), { cpuMs: 0, sql: 0, redis: 0 });
    const token = ledger.steps.get(TOKEN_STEP) ?? { cpuMs: 0, sql: 0, redis: 0 };
    token.cpuMs += total - (stepsAfter.cpuMs - stepsBefore.cpuMs);
    if (counted0 && counted1) {
      token.sql += counted1.sql - counted0.sql - (stepsAfter.sql - stepsBefore.sql);
      token.redis += counted1.redis - counted0.redis - (stepsAfter.redis - stepsBefore.redis);
    }
    ledger.steps.set(TOKEN_STEP, token);
  }
  return ledger;
}

function usage(message: string): never {
  console.error(`${message}\nUsage: npm run bench:steps -- [sign-ins, 20 to 5000; default 300] [--perf]   (BENCH_BACKEND=sqlite or postgres+redis)`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const withPerf = args.includes('--perf');
  const unknown = args.filter((a) => a.startsWith('-') && a !== '--perf');
  if (unknown.length) usage(`unknown option ${unknown[0]}`);
  const n = Number(args.find((a) => !a.startsWith('-')) ?? 300);
  if (!Number.isInteger(n) || n < 20 || n > 5000) usage('sign-ins must be a whole number from 20 to 5000');
  if (withPerf && !perfInstalled()) usage('--perf needs Linux perf: apt-get install -y linux-perf');
  // perf names JIT-compiled functions from the map file each child writes.
  if (withPerf) knobs.perfMap = true;
  /** One more pass of `n` sign-ins under perf, after the measured ones (perf's sampling costs the server a little). */
  const profiled = async (who: string, pid: number, run: (spans: Span[]) => Promise<unknown>): Promise<StepProfile | undefined> =>
    withPerf ? profileSteps(who, pid, run) : undefined;
  const backend: Backend = knobs.backend === 'postgres+redis' ? 'postgres+redis' : 'sqlite';
  const warm = Math.min(50, n);

  const bare = await startBare();
  await measure(bare.child.pid, bare.relyingParty, () => bare.citizen, warm);
  const bareLedger = await measure(bare.child.pid, bare.relyingParty, () => bare.citizen, n);
  const bareProfile = await profiled('bare', bare.child.pid, (spans) => measure(bare.child.pid, bare.relyingParty, () => bare.citizen, n, undefined, spans));
  await bare.child.stop();

  const store = await prepareStore(backend);
  const yihao = await startYihao(store, 0);
  const setup = await setUp(yihao, 4);
  const discovery = await sendOnce(store.issuer, { method: 'GET', path: '/.well-known/openid-configuration' });
  const rp = benchRelyingParty(store.issuer, discovery, setup);
  const citizen = (i: number) => setup.citizens[i % setup.citizens.length]!;
  await measure(yihao.child.pid, rp, citizen, warm);
  const ledger = await measure(yihao.child.pid, rp, citizen, n);
  // Round trips in a pass of their own: asking the child for its counters costs it CPU.
  const counted = await measure(yihao.child.pid, rp, citizen, 20, () => yihao.counts());
  const yihaoProfile = await profiled('yihao', yihao.child.pid, (spans) => measure(yihao.child.pid, rp, citizen, n, undefined, spans));
  await yihao.child.stop();

  const per = (l: Ledger, key: string) => (l.steps.get(key)?.cpuMs ?? NaN) / l.signIns;
  const keys = [...ledger.steps.keys()].filter((k) => k !== TOKEN_STEP).concat(TOKEN_STEP);
  const rows = keys.map((k) => {
    const c = counted.steps.get(k);
    const y = per(ledger, k);
    const b = per(bareLedger, k);
    return [k, fmtMs(b), fmtMs(y), fmtMs(y - b), c ? (c.sql / counted.signIns).toFixed(1) : '-', c ? (c.redis / counted.signIns).toFixed(1) : '-'];
  });
  const sum = (l: Ledger) => [...l.steps.values()].reduce((t, s) => t + s.cpuMs, 0) / l.signIns;
  rows.push(['whole sign-in', fmtMs(sum(bareLedger)), fmtMs(sum(ledger)), fmtMs(sum(ledger) - sum(bareLedger)), '', '']);
  const head = ['step', 'bare oidc-provider CPU ms', `Yihao (${backend}) CPU ms`, 'Yihao - bare', 'SQL', 'Redis'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  // argon2 alone, with Yihao's parameters, in this process: what the password step's figure includes.
  const settings = store.config.argon2;
  const password = 'bench-steps-Aa1';
  const hash = await argon2.hash(password, { algorithm: 2, memoryCost: settings.memoryKiB, timeCost: settings.iterations, parallelism: settings.parallelism });
  const raw = await argon2Run({ ...settings, maxConcurrent: 1 }, hash, password, 2);
  const argonMs = raw.cpuMs / raw.latencies.length;
  console.log(`A returning sign-in, one at a time, ${n} sign-ins each (Node ${process.version}; the password step includes argon2 on Yihao only):`);
  console.log([line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n'));
  console.log(`raw argon2.verify here: ${fmtMs(argonMs)} ms CPU; Yihao's sign-in without it: ${fmtMs(sum(ledger) - argonMs)} ms, ${((sum(ledger) - argonMs) / sum(bareLedger)).toFixed(1)}x the bare provider's`);
  if (yihaoProfile && bareProfile) printStepProfiles(keys, yihaoProfile, bareProfile, n);
}

runBench('bench:steps', 10 * 60_000, main);
