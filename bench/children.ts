/** The servers under test run in child processes, so the load generator does not share their event loop. */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { knobs } from './knobs.js';
import { onCleanup } from './lifecycle.js';

export const profDir = knobs.cpuProfile ? mkdtempSync(join(os.tmpdir(), 'yihao-bench-prof-')) : undefined;

export function reachable(url: string, fallbackPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || fallbackPort) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Child<In> {
  proc: ChildProcess;
  pid: number;
  send(msg: In): void;
  /** The next message of this type (an `error` message from the child throws). */
  next<T>(type: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Names JIT-compiled functions for Linux perf (`/tmp/perf-<pid>.map`). The flag also starts V8's
 * own log, which would land in the working directory (the repository) as isolate-*.log: it goes to
 * the temporary directory instead.
 */
const PERF_MAP_FLAGS = ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${join(os.tmpdir(), 'yihao-bench-v8-%p.log')}`];

/** Forks a compiled bench entry with an IPC channel; stdout (logs) goes to /dev/null, stderr is kept for errors. */
export function startChild<In>(entry: string, env: Record<string, string>, nodeFlags: readonly string[] = []): Child<In> {
  const devnull = openSync('/dev/null', 'w');
  const proc = fork(fileURLToPath(new URL(entry, import.meta.url)), [], {
    ...(knobs.serverNode ? { execPath: knobs.serverNode } : {}),
    // As `npm start` and the Dockerfile run Yihao (docs/memory.md): one malloc arena keeps argon2's
    // buffers bounded by argon2.maxConcurrent. The bare provider gets the same, so both are alike.
    env: { PATH: process.env.PATH ?? '', MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '1', ...env },
    stdio: ['ignore', devnull, 'pipe', 'ipc'],
    execArgv: [...nodeFlags, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), ...(knobs.perfMap ? PERF_MAP_FLAGS : [])],
  });
  closeSync(devnull);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const inbox: { type: string; message?: string }[] = [];
  const waiters: (() => void)[] = [];
  proc.on('message', (m: { type: string }) => {
    inbox.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  let exited = false;
  const exitedP = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      waiters.splice(0).forEach((w) => w());
      resolve();
    }),
  );
  const child: Child<In> = {
    proc,
    pid: proc.pid!,
    send: (msg) => proc.send(msg as object),
    async next<T>(type: string, timeoutMs = 60_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = inbox.findIndex((m) => m.type === type || m.type === 'error');
        if (i >= 0) {
          const [m] = inbox.splice(i, 1);
          if (m!.type === 'error') throw new Error(`${entry} failed: ${m!.message}`);
          return m as T;
        }
        if (exited) throw new Error(`${entry} exited early (code ${proc.exitCode}): ${stderr.trim().slice(-1500)}`);
        if (Date.now() > deadline) throw new Error(`${entry}: no "${type}" within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 500);
        });
      }
    },
    async stop() {
      if (exited) return;
      if (proc.connected) proc.send({ type: 'close' });
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exitedP;
      clearTimeout(timer);
    },
  };
  onCleanup(() => child.stop());
  return child;
}
