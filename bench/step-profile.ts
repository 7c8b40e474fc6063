/**
 * `bench:steps -- N --perf`: each perf sample charged to the request that was in flight when it was
 * taken. Sign-ins run one at a time, so the server's work between a request's send and its answer
 * is that request's; what it does after an answer (audit appends, writes left for later) is
 * reported apart, as is anything between two sign-ins (timers).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerOf, perfSamples, recordPerf } from './perf-record.js';

/** A request in flight, in µs on CLOCK_MONOTONIC (`process.hrtime`). */
export interface Span {
  step: string;
  start: number;
  end: number;
}

interface StepCost {
  /** µs of the main thread, by owner (perf-record.ts `ownerOf`). */
  owners: Map<string, number>;
  mainUs: number;
  /** libuv's pool (argon2, some crypto), V8's compiler and GC threads. */
  otherUs: number;
  /** The main thread after the step's answer, before the next request went out. */
  afterUs: number;
}

export interface StepProfile {
  steps: Map<string, StepCost>;
  /** Main thread after the code exchange's answer and before the next sign-in. */
  betweenUs: number;
}

const HZ = 999;
/** `BENCH_NATIVE_LEAF=1`: "native" split by the sample's innermost symbol (which library, GC or kernel). */
const NATIVE_LEAF = process.env.BENCH_NATIVE_LEAF === '1';
/** `BENCH_FUNCTIONS_OF=<owner>` (a path part, as `redis-adapter`): that owner split by JavaScript function. */
const FUNCTIONS_OF = process.env.BENCH_FUNCTIONS_OF ?? '';
/** The last step of a sign-in (steps.ts records it after the browser's requests). */
const CODE_EXCHANGE = 'POST /token';

/** Runs `run` under perf on `pid` and charges the samples to the spans it records. */
export async function profileSteps(who: string, pid: number, run: (spans: Span[]) => Promise<unknown>): Promise<StepProfile> {
  const dir = mkdtempSync(join(tmpdir(), `yihao-steps-${who}-`));
  try {
    const data = join(dir, 'perf.data');
    const perf = recordPerf(pid, data, { hz: HZ, monotonic: true });
    const spans: Span[] = [];
    await run(spans);
    await perf.stop();
    return await charge(data, spans);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function charge(data: string, spans: Span[]): Promise<StepProfile> {
  const sampleUs = 1e6 / HZ;
  const profile: StepProfile = { steps: new Map(), betweenUs: 0 };
  const costOf = (step: string): StepCost => {
    let cost = profile.steps.get(step);
    if (!cost) profile.steps.set(step, (cost = { owners: new Map(), mainUs: 0, otherUs: 0, afterUs: 0 }));
    return cost;
  };
  const starts = spans.map((s) => s.start);
  /** The last span begun at or before `t`. */
  const spanAt = (t: number): Span | undefined => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 ? spans[found] : undefined;
  };
  const last = spans.at(-1);
  for await (const sample of perfSamples(data)) {
    const span = spanAt(sample.timeUs);
    if (!span || (last && sample.timeUs > last.end)) continue;
    const cost = costOf(span.step);
    const inFlight = sample.timeUs <= span.end;
    if (!sample.mainThread) {
      if (inFlight) cost.otherUs += sampleUs;
      continue;
    }
    if (!inFlight) {
      // After the code exchange, until the next sign-in: its late work and timers.
      if (span.step === CODE_EXCHANGE) profile.betweenUs += sampleUs;
      else cost.afterUs += sampleUs;
      continue;
    }
    cost.mainUs += sampleUs;
    const owner = ownerOf(sample.frames, { nativeLeaf: NATIVE_LEAF, functionOf: FUNCTIONS_OF });
    cost.owners.set(owner, (cost.owners.get(owner) ?? 0) + sampleUs);
  }
  return profile;
}


const us = (v: number) => v.toFixed(0);
const ms = (v: number) => (v / 1000).toFixed(2);

/** Per step: the main thread's CPU per request by owner, Yihao beside the bare provider. */
export function printStepProfiles(steps: string[], yihao: StepProfile, bare: StepProfile, signIns: number, top = Number(process.env.BENCH_TOP ?? 10)): void {
  if (yihao.steps.size === 0 || bare.steps.size === 0) {
    console.log('\nperf recorded no samples (is perf allowed here? see /proc/sys/kernel/perf_event_paranoid)');
    return;
  }
  console.log(`\nWhere each step's CPU goes (perf, one more pass of ${signIns} sign-ins on each server; µs per request; the owner is the innermost JavaScript frame's package, Node module or Yihao file, and "native" a sample with none):`);
  for (const step of steps) {
    const y = yihao.steps.get(step);
    const b = bare.steps.get(step);
    if (!y) continue;
    const per = (v: number | undefined) => (v ?? 0) / signIns;
    console.log(`\n${step}: main thread ${ms(per(y.mainUs))} ms (bare ${ms(per(b?.mainUs))}), other threads ${ms(per(y.otherUs))} (bare ${ms(per(b?.otherUs))}), main thread after the answer ${ms(per(y.afterUs))} (bare ${ms(per(b?.afterUs))})`);
    const owners = [...y.owners.entries()].sort((p, q) => q[1] - p[1]).slice(0, top);
    const width = Math.max(5, ...owners.map(([o]) => o.length));
    console.log(`  ${'owner'.padEnd(width)}  Yihao µs   bare µs`);
    for (const [owner, v] of owners) console.log(`  ${owner.padEnd(width)}  ${us(per(v)).padStart(8)}  ${us(per(b?.owners.get(owner))).padStart(8)}`);
  }
  console.log(`\nmain thread after the code exchange's answer, until the next sign-in: Yihao ${ms(yihao.betweenUs / signIns)} ms, bare ${ms(bare.betweenUs / signIns)} ms per sign-in`);
}
