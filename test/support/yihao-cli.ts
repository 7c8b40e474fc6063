import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'yihao.js');
/** The first run builds dist/; later ones only start. */
const SPAWN_LIMIT_MS = 120_000;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a deployment would give the CLI: only what is passed here, plus PATH and the like. */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k === 'DATABASE_URL' || k === 'REDIS_URL' || k === 'LOG_LEVEL' || k === 'ISSUER' || k === 'PORT' || k.startsWith('YIHAO_')) continue;
    env[k] = v;
  }
  return { ...env, NODE_ENV: 'test', ...extra };
}

/** A DATABASE_URL that puts the CLI in one PostgreSQL schema (as the test harness does for the server). */
export const pgUrlWithSchema = (url: string, schema: string) => `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;

/** Runs the real `yihao` launcher as a child process; `input` goes to its stdin. A run past `limitMs` fails rather than hang the test. */
export function runYihao(args: string[], env: Record<string, string>, input = '', limitMs = SPAWN_LIMIT_MS): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: cliEnv(env), stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    // A command that refuses its input early exits before reading stdin: that is not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`yihao ${args.join(' ')} did not exit within ${limitMs} ms`));
    }, limitMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}

interface HostAnswer {
  id: number;
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A hosted command that has not answered by then is taken as hung: a spawned one would have ended
 * with exit code 1 once nothing was left to run. Below the suites' 30 s test timeout, so that the
 * next test gets a fresh host rather than waiting behind the hung one.
 */
const HOSTED_LIMIT_MS = 25_000;

/** This suite's CLI host (cli-host.mjs), started on first use; one command line at a time. */
let host: { child: ChildProcess; ready: Promise<void>; stderr: () => string; busy: boolean } | undefined;
let queue: Promise<unknown> = Promise.resolve();
let nextId = 0;

function startHost(): NonNullable<typeof host> {
  // Without vitest's node flags (fork would pass on the worker's), as the launcher runs.
  const child = fork(join(root, 'test', 'support', 'cli-host.mjs'), [], { cwd: root, env: cliEnv({}), execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  // Neither the host nor its channel keeps the suite's worker alive; the host exits when the worker does.
  child.unref();
  child.channel?.unref();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the CLI host exited before it was ready (code ${code}): ${stderr.trim()}`)));
  });
  ready.catch(() => undefined);
  const started = { child, ready, stderr: () => stderr, busy: false };
  // A failed fork or send is the run's failure (below), not an uncaught exception in the worker.
  child.on('error', () => undefined);
  child.once('exit', (code, signal) => {
    if (host === started) host = undefined;
    // Between commands no run is there to report it: a late failure of the last command must not pass unseen.
    if (!started.busy && signal !== 'SIGKILL') console.error(`the CLI host exited between commands (code ${code}): ${stderr.trim()}`);
  });
  return started;
}

/**
 * Runs a `yihao` command line in this suite's CLI host, with the environment a deployment would give
 * it (as `runYihao`) and `input` on its stdin: the same parsing, stores, output and exit code as the
 * launcher, without a process's start-up each time. A run past `limitMs` (the host's start included)
 * kills the host and fails.
 */
export function hostedYihao(args: string[], env: Record<string, string>, input = '', limitMs = HOSTED_LIMIT_MS): Promise<CliRun> {
  const run = queue.then(async () => {
    const current = (host ??= startHost());
    const deadline = Date.now() + limitMs;
    current.busy = true;
    let timer: NodeJS.Timeout | undefined;
    const startedInTime = await Promise.race([current.ready.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs)))]).finally(() => clearTimeout(timer));
    if (!startedInTime) {
      current.child.kill('SIGKILL');
      throw new Error(`the CLI host did not start within ${limitMs} ms: ${current.stderr().trim()}`);
    }
    const id = ++nextId;
    return new Promise<CliRun>((resolve, reject) => {
      const onMessage = (m: HostAnswer) => {
        if (m.id !== id) return;
        finish();
        resolve({ code: m.code, stdout: m.stdout, stderr: m.stderr });
      };
      const onExit = (code: number | null) => {
        finish();
        reject(new Error(`the CLI host exited during yihao ${args.join(' ')} (code ${code}): ${current.stderr().trim()}`));
      };
      const limit = setTimeout(() => {
        finish();
        current.child.kill('SIGKILL');
        reject(new Error(`yihao ${args.join(' ')} did not finish within ${limitMs} ms`));
      }, Math.max(0, deadline - Date.now()));
      const finish = () => {
        clearTimeout(limit);
        current.busy = false;
        current.child.off('message', onMessage);
        current.child.off('exit', onExit);
      };
      current.child.on('message', onMessage);
      current.child.once('exit', onExit);
      current.child.send({ id, args, env: cliEnv(env), input }, (err) => {
        if (!err) return;
        finish();
        reject(new Error(`yihao ${args.join(' ')} could not be handed to the CLI host: ${err.message}`));
      });
    });
  });
  queue = run.catch(() => undefined);
  return run;
}

/** Builds dist/ for the launcher (incremental), as the CLI suite does; call in beforeAll. */
export function buildCli(): void {
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-if-needed.mjs')], { cwd: root, encoding: 'utf8' });
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) throw new Error(`the build failed:\n${build.stdout}${build.stderr}`);
}
