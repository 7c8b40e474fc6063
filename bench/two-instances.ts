/**
 * The same client_credentials load against one Yihao instance and against two instances sharing
 * PostgreSQL + Redis (half of the connections each), interleaved O T T O. Prints the ratio and where
 * the machine's CPU went during the two-instance slices, which says what limits the ratio.
 */
import os from 'node:os';
import type autocannon from 'autocannon';
import type { Store } from './backends.js';
import { startYihao, type YihaoInstance } from './instances.js';
import { knobs } from './knobs.js';
import { cannon, fmtRate, type Part, type Target } from './load.js';
import { machineCpu } from './proc.js';
import { checkJwtAccessToken, sendOnce } from './requests.js';

export interface TwoInstances {
  onePerSecond: number;
  twoPerSecond: number;
  ratio: number;
  /** Cores' worth of CPU each party used during the two-instance slices (of `cores`). */
  cores: { machine: number; yihao: number; loadGenerator: number; postgres: number; other: number; available: number };
  /** Cores' worth of CPU one instance used alone (its process and its PostgreSQL backends). */
  oneInstanceCores: number;
  /**
   * The highest ratio this machine allows: the cores left once the load generator and everything
   * else have theirs, over what one instance used alone. Below the budget, the machine limits it.
   */
  ceiling: number;
  failed: number;
}

async function bothAtOnce(a: Target, b: Target, seconds: number): Promise<Part & { cores: TwoInstances['cores'] }> {
  const m0 = machineCpu();
  const lg0 = process.cpuUsage();
  const t0 = performance.now();
  const half = Math.max(1, Math.floor(knobs.connections / 2));
  const [pa, pb] = await Promise.all([cannon(a, seconds, half), cannon(b, seconds, half)]);
  const wallMs = performance.now() - t0;
  const lg = process.cpuUsage(lg0);
  const m1 = machineCpu();
  const available = os.cpus().length;
  const machine = m0 && m1 ? ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * available : NaN;
  const yihao = (pa.cpuMs + pb.cpuMs) / wallMs;
  const loadGenerator = (lg.user + lg.system) / 1000 / wallMs;
  const postgres = (pa.dbCpuMs + pb.dbCpuMs) / wallMs;
  return {
    ok: pa.ok + pb.ok,
    failed: pa.failed + pb.failed,
    seconds: Math.max(pa.seconds, pb.seconds),
    p50: (pa.p50 + pb.p50) / 2,
    p99: Math.max(pa.p99, pb.p99),
    cpuMs: pa.cpuMs + pb.cpuMs,
    dbCpuMs: pa.dbCpuMs + pb.dbCpuMs,
    cores: { machine, yihao, loadGenerator, postgres, other: machine - yihao - loadGenerator - postgres, available },
  };
}

export async function twoInstances(store: Store, first: YihaoInstance, request: autocannon.Request): Promise<TwoInstances> {
  console.log('client_credentials, one Yihao instance against two sharing PostgreSQL + Redis (O T T O):');
  const second = await startYihao(store, 1);
  try {
    const target = (y: YihaoInstance): Target => ({ server: 'Yihao', base: y.base, meter: y.meter, measuresDb: y.measuresDb, request });
    const a = target(first);
    const b = target(second);
    checkJwtAccessToken('second instance', await sendOnce(b.base, request));
    await cannon(b, knobs.secondInstanceWarmupSeconds);
    const half = knobs.seconds / 2;
    const o1 = await cannon(a, half);
    const t1 = await bothAtOnce(a, b, half);
    const t2 = await bothAtOnce(a, b, half);
    const o2 = await cannon(a, half);
    const onePerSecond = (o1.ok + o2.ok) / (o1.seconds + o2.seconds);
    const twoPerSecond = (t1.ok + t2.ok) / (t1.seconds + t2.seconds);
    const avg = (k: keyof TwoInstances['cores']) => (t1.cores[k] + t2.cores[k]) / 2;
    const cores = { machine: avg('machine'), yihao: avg('yihao'), loadGenerator: avg('loadGenerator'), postgres: avg('postgres'), other: avg('other'), available: t1.cores.available };
    const oneInstanceCores = (o1.cpuMs + o2.cpuMs + (a.measuresDb ? o1.dbCpuMs + o2.dbCpuMs : 0)) / ((o1.seconds + o2.seconds) * 1000);
    const ceiling = (cores.available - cores.loadGenerator - Math.max(0, cores.other)) / oneInstanceCores;
    const result: TwoInstances = { onePerSecond, twoPerSecond, ratio: twoPerSecond / onePerSecond, cores, oneInstanceCores, ceiling, failed: o1.failed + o2.failed + t1.failed + t2.failed };
    const c = (n: number) => n.toFixed(2);
    console.log(
      `  one instance ${fmtRate(onePerSecond)}/s, two instances ${fmtRate(twoPerSecond)}/s: ${result.ratio.toFixed(2)}x` +
        `${result.failed ? `, ${result.failed} FAILED` : ''}\n` +
        `  cores busy during the two-instance slices: ${c(cores.machine)} of ${cores.available} (Yihao ${c(cores.yihao)}, ` +
        `load generator ${c(cores.loadGenerator)}, PostgreSQL backends ${c(cores.postgres)}, Redis and all other processes ${c(cores.other)})\n` +
        `  one instance alone used ${c(oneInstanceCores)} cores (its main thread and its thread pool, which signs the tokens), ` +
        `so this machine allows at most ${c(ceiling)}x`,
    );
    return result;
  } finally {
    await second.child.stop();
  }
}
