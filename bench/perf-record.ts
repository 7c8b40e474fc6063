/**
 * Linux perf around one process, for `bench:profile` and `bench:steps -- N --perf`: perf samples CPU
 * time per thread, so a busy machine does not skew it towards idle waits as V8's own profiler does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

export const perfInstalled = (): boolean => spawnSync('perf', ['--version']).status === 0;

/**
 * Starts `perf record -g` on `pid` into `file`; `stop()` ends it and resolves once the data is
 * written. `monotonic`: sample times on CLOCK_MONOTONIC, the clock of `process.hrtime`, so that
 * samples can be matched with times the bench took itself.
 */
export function recordPerf(pid: number, file: string, { hz = 999, monotonic = false }: { hz?: number; monotonic?: boolean } = {}): { stop(): Promise<void> } {
  const perf = spawn('perf', ['record', '-F', String(hz), '-g', ...(monotonic ? ['-k', 'CLOCK_MONOTONIC'] : []), '-o', file, '-p', String(pid)], { stdio: 'ignore' });
  const done = new Promise<void>((resolve) => perf.once('exit', () => resolve()));
  return {
    stop() {
      perf.kill('SIGINT');
      return done;
    },
  };
}

/** One sample: its thread, its time (µs on the recording's clock) and its stack, innermost frame first. */
export interface PerfSample {
  mainThread: boolean;
  timeUs: number;
  frames: string[];
}

/** Every sample of `file`, streamed from `perf script` (a run's text can be hundreds of MB). */
export async function* perfSamples(file: string): AsyncGenerator<PerfSample> {
  const script = spawn('perf', ['script', '-i', file, '-F', 'tid,pid,time,ip,sym'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let head: RegExpExecArray | null = null;
  let frames: string[] = [];
  const sample = (): PerfSample | undefined => (head ? { mainThread: head[1] === head[2], timeUs: Number(head[3]) * 1e6, frames } : undefined);
  for await (const line of createInterface({ input: script.stdout })) {
    if (!line.trim()) continue;
    if (line.startsWith('\t')) {
      // "<address> <symbol>": the symbol may hold spaces (a JIT frame's file and position).
      frames.push(line.trim().replace(/^[0-9a-f]+\s+/, ''));
      continue;
    }
    const done = sample();
    if (done) yield done;
    head = /^\s*(\d+)\/(\d+)\s+([\d.]+):/.exec(line);
    frames = [];
  }
  const last = sample();
  if (last) yield last;
}

/**
 * Whose code a sample ran: its innermost JavaScript frame's package (`oidc-provider`), Node module
 * (`node:internal/streams/writable`) or Yihao file (`src/storage/redis-adapter.js`). A sample with
 * no JavaScript frame (the kernel, the GC, a native addon reached from none) is `native`. V8's
 * builtins and the kernel below a JavaScript frame count towards that frame's owner: a socket write
 * is charged to whoever wrote.
 */
export function ownerOf(frames: readonly string[], { nativeLeaf = false, functionOf = '' } = {}): string {
  for (const frame of frames) {
    const js = /^JS:\S?\S* (\S+?):\d+:\d+$/.exec(frame);
    if (!js) continue;
    const path = js[1]!;
    if (functionOf.startsWith('^') && frame.includes(functionOf.slice(1))) {
      // `^name`: where that function is called from (its next JavaScript frames), every other sample as usual.
      const callers = frames.filter((f) => f.startsWith('JS:')).slice(1, 4).map((f) => f.slice(3).replace(/file:\/\/\/work\/main\/|\/work\/main\//g, ''));
      return `${functionOf.slice(1)} <- ${callers.join(' <- ')}`;
    }
    if (functionOf && (functionOf === '*' || path.includes(functionOf))) return `${functionOf} ${frame.slice(3, 90)}`;
    if (path.startsWith('node:')) return path;
    const modules = path.lastIndexOf('node_modules/');
    if (modules >= 0) {
      const [scope = '', name = ''] = path.slice(modules + 'node_modules/'.length).split('/');
      return scope.startsWith('@') ? `${scope}/${name}` : scope;
    }
    const dist = path.lastIndexOf('/dist/');
    return dist >= 0 ? path.slice(dist + '/dist/'.length) : path;
  }
  return nativeLeaf && frames[0] ? `native ${frames[0].slice(0, 70)}` : 'native';
}

/** A recording's CPU by owner (`ownerOf`): the main thread's per owner, and the other threads' together, in µs. */
export interface OwnerTotals {
  mainUs: number;
  otherUs: number;
  owners: Map<string, number>;
}

/** Sums a recording made at `hz` by owner. */
export async function ownerTotals(file: string, hz = 999): Promise<OwnerTotals> {
  const sampleUs = 1e6 / hz;
  const totals: OwnerTotals = { mainUs: 0, otherUs: 0, owners: new Map() };
  for await (const sample of perfSamples(file)) {
    if (!sample.mainThread) {
      totals.otherUs += sampleUs;
      continue;
    }
    totals.mainUs += sampleUs;
    const owner = ownerOf(sample.frames);
    totals.owners.set(owner, (totals.owners.get(owner) ?? 0) + sampleUs);
  }
  return totals;
}
