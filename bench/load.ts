/** Load generation and the figures of one measured scenario: autocannon runs, scripted sign-ins, raw argon2. */
import * as argon2 from '@node-rs/argon2';
import autocannon from 'autocannon';
import { knobs } from './knobs.js';
import { cpuSpent, type CpuMeter } from './proc.js';
import { signIn, type RelyingParty, type TokenSet } from './sign-in.js';

export interface Row {
  name: string;
  server: string;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU the server process(es) spent per successful operation, ms. */
  cpuPerOp: number;
  /** CPU PostgreSQL's backends spent for the server per successful operation, ms; NaN without PostgreSQL. */
  dbCpuPerOp: number;
  total: number;
  failed: number;
}

export interface Part {
  ok: number;
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
  cpuMs: number;
  dbCpuMs: number;
}

export interface Target {
  server: string;
  base: string;
  meter: CpuMeter;
  /** PostgreSQL's backends are measured too. */
  measuresDb: boolean;
  request: autocannon.Request;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const fmtRate = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
export const fmtMs = (n: number): string => (Number.isFinite(n) ? (n >= 10 ? n.toFixed(1) : n.toFixed(2)) : '-');

export async function cannon(t: Target, seconds: number, connections = knobs.connections): Promise<Part> {
  const before = await t.meter.sample();
  const r = await autocannon({ url: t.base, connections, pipelining: 1, duration: seconds, timeout: 10, requests: [t.request] });
  const spent = cpuSpent(before, await t.meter.sample());
  return { ok: r['2xx'], failed: r.non2xx + r.errors, seconds: r.duration, p50: r.latency.p50, p99: r.latency.p99, cpuMs: spent.serverMs, dbCpuMs: t.measuresDb ? spent.dbMs : NaN };
}

/** Several runs of one scenario as one row: rate over the summed time, p50 the mean, p99 the worst. */
export function combine(name: string, server: string, parts: Part[]): Row {
  const ok = parts.reduce((n, p) => n + p.ok, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const row: Row = {
    name,
    server,
    perSecond: ok / seconds,
    p50: Math.round(parts.reduce((n, p) => n + p.p50, 0) / parts.length),
    p99: Math.max(...parts.map((p) => p.p99)),
    cpuPerOp: parts.reduce((n, p) => n + p.cpuMs, 0) / ok,
    dbCpuPerOp: parts.reduce((n, p) => n + p.dbCpuMs, 0) / ok,
    total: ok,
    failed: parts.reduce((n, p) => n + p.failed, 0),
  };
  printRow(row);
  return row;
}

function printRow(row: Row, extra = ''): void {
  const db = Number.isFinite(row.dbCpuPerOp) ? ` + PostgreSQL ${fmtMs(row.dbCpuPerOp)}` : '';
  process.stdout.write(
    `  ${row.name} (${row.server}): ${fmtRate(row.perSecond)}/s, p50 ${row.p50} ms, p99 ${row.p99} ms, server CPU ${fmtMs(row.cpuPerOp)}${db} ms/op` +
      `${extra}${row.failed ? `, ${row.failed} FAILED` : ''}\n`,
  );
}

/** Warm-up, then one measured run. */
export async function measure(name: string, t: Target): Promise<Row> {
  await cannon(t, knobs.warmupSeconds);
  return combine(name, t.server, [await cannon(t, knobs.seconds)]);
}

/**
 * Complete sign-ins in `loops` concurrent loops for `seconds`, each with a new cookie jar (no SSO).
 * `pick(loop)` names the citizen for the next sign-in of a loop.
 */
export async function signInLoad(
  rp: RelyingParty,
  pick: (loop: number) => { identifier: string; password: string },
  opts: {
    meter: CpuMeter;
    measuresDb: boolean;
    loops: number;
    seconds: number;
    name?: string;
    /** Yihao unless told. */
    server?: string;
    extra?: Record<string, string>;
    /** A warm-up: no line printed. */
    quiet?: boolean;
  },
): Promise<{ row: Row; tokens: TokenSet[] }> {
  const latencies: number[] = [];
  const tokens: TokenSet[] = [];
  let failed = 0;
  let firstError: unknown;
  const before = await opts.meter.sample();
  const client0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  await Promise.all(
    Array.from({ length: opts.loops }, async (_, i) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          tokens.push(await signIn(rp, pick(i), opts.extra));
          latencies.push(performance.now() - t0);
        } catch (e) {
          failed++;
          firstError ??= e;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const spent = cpuSpent(before, await opts.meter.sample());
  const client = process.cpuUsage(client0);
  if (firstError) console.error(`  sign-in failures: ${failed}, first: ${(firstError as Error).message}`);
  latencies.sort((a, b) => a - b);
  const row: Row = {
    name: opts.name ?? `complete sign-ins (${opts.loops} loops)`,
    server: opts.server ?? 'Yihao',
    perSecond: latencies.length / elapsed,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    cpuPerOp: spent.serverMs / latencies.length,
    dbCpuPerOp: opts.measuresDb ? spent.dbMs / latencies.length : NaN,
    total: latencies.length,
    failed,
  };
  if (!opts.quiet) printRow(row, `, scripted browser CPU ${fmtMs((client.user + client.system) / 1000 / latencies.length)} ms/op`);
  return { row, tokens };
}

export type Argon2Settings = { memoryKiB: number; iterations: number; parallelism: number; maxConcurrent: number };
export interface Argon2Run {
  latencies: number[];
  seconds: number;
  cpuMs: number;
}

/** Raw argon2.verify with the configured parameters, as many at once as Yihao's cap allows. */
export async function argon2Run(settings: Argon2Settings, hash: string, password: string, seconds: number): Promise<Argon2Run> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: settings.maxConcurrent }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        if (!(await argon2.verify(hash, password))) throw new Error('argon2.verify refused the right password');
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { latencies, seconds: (performance.now() - started) / 1000, cpuMs: (cpu.user + cpu.system) / 1000 };
}

export function argon2Row(settings: Argon2Settings, runs: Argon2Run[]): Row {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const row: Row = {
    name: `raw argon2.verify (${settings.maxConcurrent} at once)`,
    server: 'in-process',
    perSecond: latencies.length / seconds,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    cpuPerOp: runs.reduce((n, r) => n + r.cpuMs, 0) / latencies.length,
    dbCpuPerOp: NaN,
    total: latencies.length,
    failed: 0,
  };
  process.stdout.write(
    `  argon2.verify (m=${settings.memoryKiB} KiB t=${settings.iterations} p=${settings.parallelism}): ${fmtRate(row.perSecond)}/s, p50 ${row.p50} ms, CPU ${fmtMs(row.cpuPerOp)} ms/op\n`,
  );
  return row;
}
