/**
 * `npm run bench`: every scenario against PostgreSQL + Redis and then SQLite (or the one backend
 * BENCH_BACKEND names), Yihao and a bare oidc-provider in child processes on 127.0.0.1; prints the
 * scenario tables side by side with issue 10's budgets, and writes BENCH_JSON. Stops by itself
 * within HARD_LIMIT_MS. Knobs: bench/knobs.ts and bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { chooseBackends } from './backends.js';
import { runBackend, type BackendResult } from './backend-run.js';
import { profDir } from './children.js';
import { startBare } from './instances.js';
import { knobs } from './knobs.js';
import { runBench } from './lifecycle.js';
import { loadavg, QUIET_BUSY, waitForQuiet } from './proc.js';
import { budgetReport, scenarioTable } from './report.js';

const HARD_LIMIT_MS = 175_000;

/** The version of the node that runs the servers (BENCH_NODE, else this one). */
function serverNodeVersion(): string {
  if (!knobs.serverNode) return process.version;
  return spawnSync(knobs.serverNode, ['--version'], { encoding: 'utf8' }).stdout.trim() || `${knobs.serverNode} (did not answer --version)`;
}

async function main(): Promise<void> {
  const backends = await chooseBackends();
  const quiet = await waitForQuiet(knobs.quietWaitSeconds);
  const loadBefore = loadavg();
  const startedAt = new Date().toISOString();
  console.log(`Yihao benchmark — ${startedAt}`);
  console.log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, load average ${loadBefore}; ` +
      `backends: ${backends.join(', ')}`,
  );
  const busyPct = `${(quiet.busy * 100).toFixed(0)}%`;
  console.log(
    quiet.busy < QUIET_BUSY
      ? `machine ${busyPct} busy before the start${quiet.waited > 1.5 ? ` (waited ${quiet.waited.toFixed(0)} s for quiet)` : ''}`
      : `WARNING: the machine is ${busyPct} busy with other work after waiting ${quiet.waited.toFixed(0)} s; figures will be low and noisy ` +
          '(the ratios interleave their two sides to limit the bias)',
  );
  console.log(
    `servers in child processes on 127.0.0.1 (node ${serverNodeVersion()}), UV_THREADPOOL_SIZE=${knobs.threadpool}, Yihao log level ${knobs.logLevel ?? 'from config'} (to /dev/null); ` +
      `autocannon ${knobs.connections} connections, ${knobs.warmupSeconds} s warm-up + ${knobs.seconds} s per endpoint; ` +
      `${knobs.signInLoops} sign-in loops for ${knobs.signInSeconds} s`,
  );

  // The idle bare provider costs nothing while Yihao is measured; one serves both backends.
  const bare = await startBare();
  const results: BackendResult[] = [];
  for (const backend of backends) {
    console.log(`\n=== ${backend} ===`);
    results.push(await runBackend(backend, bare));
  }
  await bare.child.stop();

  console.log('');
  for (const r of results) console.log(`${scenarioTable(r)}\n`);
  const { text, json } = budgetReport(results);
  console.log(text);
  console.log(`\nload average before ${loadBefore}, after ${loadavg()} (on ${os.cpus().length} cores; the bench itself adds about 2)`);
  const failures = results.flatMap((r) => r.rows).reduce((n, r) => n + r.failed, 0);
  if (failures) console.log(`\nWARNING: ${failures} requests failed (non-2xx or connection errors); see the "failed" columns.`);
  if (profDir) console.log(`\nCPU profiles of the server processes: ${profDir}`);
  if (knobs.jsonPath) {
    const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), node: process.version, busyBeforeStart: quiet.busy, loadBefore, loadAfter: loadavg() };
    writeFileSync(knobs.jsonPath, `${JSON.stringify({ run: 'npm run bench', startedAt, machine, knobs: { ...knobs, jsonPath: undefined }, ...json }, null, 2)}\n`);
    console.log(`figures written to ${knobs.jsonPath}`);
  }
}

runBench('bench', HARD_LIMIT_MS, main);
