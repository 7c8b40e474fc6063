/**
 * `npm run bench:argon2-memory`: how much memory argon2 keeps in a Yihao-like process, under each
 * allocator setting, and what each costs per password check. See docs/memory.md for the choice.
 *
 * For each variant it starts a child process (the setting must be in the environment before the
 * process starts) with UV_THREADPOOL_SIZE=16 as src/main.ts sets it. The child runs Yihao's own
 * password hasher (src/accounts/password-hasher.ts) with config.argon2 from config/default.json:
 *   1. BENCH_ARGON2_VERIFIES (500) verifies, `maxConcurrent` at once through the hasher's queue, while
 *      BENCH_ARGON2_FILLERS (6) ES256 signatures (what jose does for tokens) keep libuv's pool busy, so
 *      the hashes land on many pool threads as they do under real load. RSS is read at the start,
 *      half-way and at the end (it should stay flat), and the peak (VmHWM) at the end.
 *   2. BENCH_ARGON2_CPU_VERIFIES (100) verifies without the fillers, one at a time: CPU ms per verify
 *      (user + system, all threads). CPU time, not wall time: the machine may be shared.
 * BENCH_ARGON2_MAX_CONCURRENT overrides config's maxConcurrent ("auto": cores - 1).
 * Figures are printed as a table; BENCH_JSON=<path> also writes them as JSON.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPasswordHasher } from '../src/accounts/password-hasher.js';
import { loadConfig } from '../src/config/index.js';

interface Variant {
  name: string;
  env: Record<string, string>;
  note: string;
}

const VARIANTS: Variant[] = [
  { name: 'today (glibc defaults)', env: {}, note: 'every pool thread that ever hashed keeps a buffer' },
  { name: 'MALLOC_ARENA_MAX=1 (chosen)', env: { MALLOC_ARENA_MAX: '1' }, note: 'one arena: about maxConcurrent buffers' },
  { name: 'MALLOC_ARENA_MAX=2', env: { MALLOC_ARENA_MAX: '2' }, note: 'two arenas, more fragments' },
  { name: 'MALLOC_MMAP_THRESHOLD_=131072', env: { MALLOC_MMAP_THRESHOLD_: '131072' }, note: 'every buffer mmapped, faulted in and unmapped' },
];

interface Figures {
  maxConcurrent: number;
  verifies: number;
  rssStartMb: number;
  rssHalfMb: number;
  rssAfterMb: number;
  peakMb: number;
  cpuMsPerVerify: number;
  /** The kernel's part of it: faulting in (and zeroing) a buffer that is not reused, and unmapping it. */
  systemMsPerVerify: number;
  pageFaultsPerVerify: number;
}

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

function memory(): { rssMb: number; peakMb: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kib('VmRSS') / 1024, peakMb: kib('VmHWM') / 1024 };
}

function argon2Settings() {
  // Throw-away secrets: loadConfig needs some, and nothing here uses them.
  const dataDir = mkdtempSync(join(tmpdir(), 'yihao-argon2-bench-'));
  try {
    return loadConfig({
      YIHAO_DATA_DIR: dataDir,
      YIHAO_COOKIE_KEYS: 'c'.repeat(40),
      YIHAO_SEAL_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
      YIHAO_INDEX_KEY: Buffer.alloc(32, 2).toString('base64'),
    }).argon2;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function child(): Promise<Figures> {
  const start = memory();
  const configured = argon2Settings();
  const settings = { ...configured, maxConcurrent: num('BENCH_ARGON2_MAX_CONCURRENT', configured.maxConcurrent) };
  const hasher = createPasswordHasher(settings);
  const verifies = num('BENCH_ARGON2_VERIFIES', 500);
  const password = 'bench-password-Aa1';
  const hash = await hasher.hash(password);

  const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const payload = new Uint8Array(300);
  let loaded = true;
  const filler = async () => {
    while (loaded) await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, payload);
  };
  const fillers = Array.from({ length: num('BENCH_ARGON2_FILLERS', 6) }, filler);

  let half = start;
  let started = 0;
  const loop = async () => {
    while (started < verifies) {
      started++;
      if (!(await hasher.verify(hash, password))) throw new Error('the hasher refused the right password');
      if (started === Math.floor(verifies / 2)) half = memory();
    }
  };
  // More loops than the cap, so the hasher's queue (not this loop) is what bounds the hashes at once.
  await Promise.all(Array.from({ length: settings.maxConcurrent * 2 }, loop));
  loaded = false;
  await Promise.all(fillers);
  const after = memory();

  const cpuRuns = num('BENCH_ARGON2_CPU_VERIFIES', 100);
  const usage0 = process.resourceUsage();
  for (let i = 0; i < cpuRuns; i++) await hasher.verify(hash, password);
  const usage = process.resourceUsage();
  return {
    maxConcurrent: settings.maxConcurrent,
    verifies,
    rssStartMb: start.rssMb,
    rssHalfMb: half.rssMb,
    rssAfterMb: after.rssMb,
    peakMb: memory().peakMb,
    cpuMsPerVerify: (usage.userCPUTime - usage0.userCPUTime + usage.systemCPUTime - usage0.systemCPUTime) / 1000 / cpuRuns,
    systemMsPerVerify: (usage.systemCPUTime - usage0.systemCPUTime) / 1000 / cpuRuns,
    // A buffer that is not reused is faulted in afresh (and zeroed by the kernel) on every verify.
    pageFaultsPerVerify: (usage.minorPageFault - usage0.minorPageFault) / cpuRuns,
  };
}

function runChild(variant: Variant): Promise<Figures> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', UV_THREADPOOL_SIZE: '16', BENCH_ARGON2_CHILD: '1', ...variant.env };
  for (const knob of ['BENCH_ARGON2_VERIFIES', 'BENCH_ARGON2_FILLERS', 'BENCH_ARGON2_MAX_CONCURRENT', 'BENCH_ARGON2_CPU_VERIFIES']) if (process.env[knob]) env[knob] = process.env[knob]!;
  return new Promise((resolve, reject) => {
    const proc = fork(fileURLToPath(import.meta.url), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let figures: Figures | undefined;
    proc.on('message', (m: Figures) => (figures = m));
    proc.on('error', reject);
    proc.on('exit', (code) => (figures ? resolve(figures) : reject(new Error(`${variant.name}: child exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('reads /proc/self/status and glibc settings: Linux only');
  const rows: (Variant & Figures)[] = [];
  for (const variant of VARIANTS) {
    process.stdout.write(`${variant.name} ... `);
    const figures = await runChild(variant);
    rows.push({ ...variant, ...figures });
    process.stdout.write(`done (${figures.verifies} verifies, ${figures.maxConcurrent} at once)\n`);
  }
  const mb = (v: number) => v.toFixed(0).padStart(6);
  process.stdout.write(`\n${'variant'.padEnd(32)} ${'RSS start'.padStart(9)} ${'half'.padStart(6)} ${'after'.padStart(6)} ${'peak'.padStart(6)}  CPU ms/verify  of it system  faults/verify\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.name.padEnd(32)} ${mb(r.rssStartMb).padStart(9)} ${mb(r.rssHalfMb)} ${mb(r.rssAfterMb)} ${mb(r.peakMb)}  ${r.cpuMsPerVerify.toFixed(1).padStart(13)}  ${r.systemMsPerVerify.toFixed(1).padStart(12)}  ${r.pageFaultsPerVerify.toFixed(0).padStart(13)}  ${r.note}\n`,
    );
  }
  process.stdout.write('(MB; "half" and "after" are RSS after half and all of the verifies, "peak" is VmHWM; CPU and minor page faults are per verify, user + system, all threads)\n');
  const today = rows[0]!;
  const chosen = rows[1]!;
  process.stdout.write(
    `\nchosen vs today: RSS after ${chosen.rssAfterMb.toFixed(0)} vs ${today.rssAfterMb.toFixed(0)} MB, peak ${chosen.peakMb.toFixed(0)} vs ${today.peakMb.toFixed(0)} MB, ` +
      `CPU per verify ${(chosen.cpuMsPerVerify / today.cpuMsPerVerify).toFixed(2)}x\n`,
  );
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ variants: rows }, null, 2)}\n`);
}

if (process.env.BENCH_ARGON2_CHILD) {
  child().then(
    (figures) => process.send!(figures, () => process.exit(0)),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
