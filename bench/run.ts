/**
 * `npm run bench`: starts Yihao and a bare oidc-provider in child processes on 127.0.0.1, loads
 * them with autocannon and scripted sign-ins, measures raw argon2id verifies in this process, prints
 * a table and two ratios against the targets in DESIGN.md ("Performance notes"). Stops by itself.
 *
 * Knobs (all optional): BENCH_SECONDS (5), BENCH_CONNECTIONS (10), BENCH_SIGNIN_LOOPS (8),
 * BENCH_SIGNIN_SECONDS (8), BENCH_BACKEND (auto | sqlite | postgres+redis), BENCH_LOG_LEVEL
 * (Yihao's LOG_LEVEL; default: config/default.json), BENCH_CONFIG_JSON (merged into Yihao's config),
 * BENCH_QUIET_WAIT (seconds to wait for an idle machine, 20), BENCH_CPU_PROF=1 (children write .cpuprofile),
 * BENCH_DATABASE_URL / BENCH_REDIS_URL (defaults: the local test services).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import argon2 from 'argon2';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import knexFactory from 'knex';
import { loadConfig } from '../src/config/index.js';
import { basicAuth, signIn, type RelyingParty, type TokenSet } from './sign-in.js';
import type { FromYihao, ToYihao } from './yihao-server.js';
import type { FromBare, ToBare } from './bare-provider.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const SECONDS = num('BENCH_SECONDS', 5);
const WARMUP_SECONDS = 1;
const CONNECTIONS = num('BENCH_CONNECTIONS', 10);
const SIGNIN_LOOPS = num('BENCH_SIGNIN_LOOPS', 8);
const SIGNIN_SECONDS = num('BENCH_SIGNIN_SECONDS', 8);
const ARGON2_SECONDS = 4; // split in two: before and after the sign-ins
const HARD_LIMIT_MS = 170_000;
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT', 20);
const QUIET_BUSY = 0.25;

const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RESOURCE = 'https://bench.example/api';
const RESOURCE_SCOPE = 'bench';
const REDIRECT = 'http://127.0.0.1:9/cb';
const THREADPOOL = process.env.UV_THREADPOOL_SIZE ?? '16'; // src/main.ts's default

const TARGET_CC = 0.7;
const TARGET_SIGNIN = 0.85;

// ---------------------------------------------------------------------------------------------
// Cleanup and the hard time limit

const cleanups: (() => Promise<void> | void)[] = [];
async function cleanup(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
    } catch (e) {
      console.error(`bench: cleanup step failed: ${(e as Error).message}`);
    }
  }
}
const hardLimit = setTimeout(() => {
  console.error(`bench: still running after ${HARD_LIMIT_MS / 1000} s; giving up`);
  void cleanup().finally(() => process.exit(1));
}, HARD_LIMIT_MS);
hardLimit.unref();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

// ---------------------------------------------------------------------------------------------
// Backend and child processes

function reachable(url: string, fallbackPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port || fallbackPort) });
    s.setTimeout(1000);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function deleteRedisPrefix(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) deleted += await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
  return deleted;
}

const profDir = process.env.BENCH_CPU_PROF ? mkdtempSync(join(os.tmpdir(), 'yihao-bench-prof-')) : undefined;

interface Child<In> {
  proc: ChildProcess;
  send(msg: In): void;
  next<T>(type: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** Forks a compiled bench entry with an IPC channel; stdout (logs) goes to /dev/null, stderr is kept for errors. */
function startChild<In>(entry: string, env: Record<string, string>): Child<In> {
  const devnull = openSync('/dev/null', 'w');
  const proc = fork(fileURLToPath(new URL(entry, import.meta.url)), [], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', devnull, 'pipe', 'ipc'],
    execArgv: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
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
  cleanups.push(() => child.stop());
  return child;
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** CPU time (user + system, all threads) a process has used so far, in ms; from /proc on Linux. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN; // not Linux: the CPU column shows "-"
  }
}
const CLK_TCK = 100; // USER_HZ; 100 on every mainstream Linux build

interface Row {
  name: string;
  server: 'Yihao' | 'bare oidc-provider' | 'in-process';
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU the server process spent per successful operation, ms. */
  cpuPerOp: number;
  total: number;
  failed: number;
}

interface Part {
  ok: number;
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
  cpuMs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Target {
  server: Row['server'];
  base: string;
  pid: number;
  request: autocannon.Request;
}

async function cannon(t: Target, seconds: number): Promise<Part> {
  const cpu0 = processCpuMs(t.pid);
  const r = await autocannon({ url: t.base, connections: CONNECTIONS, pipelining: 1, duration: seconds, timeout: 10, requests: [t.request] });
  return { ok: r['2xx'], failed: r.non2xx + r.errors, seconds: r.duration, p50: r.latency.p50, p99: r.latency.p99, cpuMs: processCpuMs(t.pid) - cpu0 };
}

/** Several runs of one scenario as one row: rate over the summed time, p50 the mean, p99 the worst. */
function combine(name: string, server: Row['server'], parts: Part[]): Row {
  const ok = parts.reduce((n, p) => n + p.ok, 0);
  const seconds = parts.reduce((n, p) => n + p.seconds, 0);
  const row: Row = {
    name,
    server,
    perSecond: ok / seconds,
    p50: Math.round(parts.reduce((n, p) => n + p.p50, 0) / parts.length),
    p99: Math.max(...parts.map((p) => p.p99)),
    cpuPerOp: parts.reduce((n, p) => n + p.cpuMs, 0) / ok,
    total: ok,
    failed: parts.reduce((n, p) => n + p.failed, 0),
  };
  process.stdout.write(
    `  ${name} (${server}): ${fmtRate(row.perSecond)}/s, p50 ${row.p50} ms, p99 ${row.p99} ms, server CPU ${fmtMs(row.cpuPerOp)} ms/op` +
      `${row.failed ? `, ${row.failed} FAILED` : ''}\n`,
  );
  return row;
}

async function measure(name: string, t: Target): Promise<Row> {
  await cannon(t, WARMUP_SECONDS);
  return combine(name, t.server, [await cannon(t, SECONDS)]);
}

const fmtRate = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const fmtMs = (n: number) => (Number.isFinite(n) ? (n >= 10 ? n.toFixed(1) : n.toFixed(2)) : '-');

const FORM = 'application/x-www-form-urlencoded';

function clientCredentialsRequest(clientId: string, secret: string): autocannon.Request {
  return {
    method: 'POST',
    path: '/token',
    headers: { authorization: basicAuth(clientId, secret), 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: RESOURCE_SCOPE, resource: RESOURCE }).toString(),
  };
}

/** One request by hand before loading an endpoint, so a misconfiguration fails loudly instead of measuring 400s. */
async function expectOk(url: string, init: RequestInit, what: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function signInLoad(rp: RelyingParty, citizens: { identifier: string; password: string }[], pid: number) {
  const latencies: number[] = [];
  const tokens: TokenSet[] = [];
  let failed = 0;
  let firstError: unknown;
  const cpu0 = processCpuMs(pid);
  const client0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + SIGNIN_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: SIGNIN_LOOPS }, async (_, i) => {
      const creds = citizens[i % citizens.length]!;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          tokens.push(await signIn(rp, creds));
          latencies.push(performance.now() - t0);
        } catch (e) {
          failed++;
          firstError ??= e;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const client = process.cpuUsage(client0);
  if (firstError) console.error(`  sign-in failures: ${failed}, first: ${(firstError as Error).message}`);
  latencies.sort((a, b) => a - b);
  const row: Row = {
    name: `complete sign-ins (${SIGNIN_LOOPS} loops)`,
    server: 'Yihao',
    perSecond: latencies.length / elapsed,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    cpuPerOp: (processCpuMs(pid) - cpu0) / latencies.length,
    total: latencies.length,
    failed,
  };
  const clientMs = (client.user + client.system) / 1000 / latencies.length;
  process.stdout.write(
    `  sign-ins (Yihao): ${fmtRate(row.perSecond)}/s, p50 ${row.p50} ms, p99 ${row.p99} ms, server CPU ${fmtMs(row.cpuPerOp)} ms/op, ` +
      `scripted browser CPU ${fmtMs(clientMs)} ms/op\n`,
  );
  return { row, tokens };
}

type Argon2Settings = { memoryKiB: number; iterations: number; parallelism: number; maxConcurrent: number };

/** Raw argon2.verify with the configured parameters, as many at once as Yihao's cap allows. */
async function argon2Run(settings: Argon2Settings, hash: string, password: string, seconds: number): Promise<{ latencies: number[]; seconds: number; cpuMs: number }> {
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

function argon2Row(settings: Argon2Settings, runs: { latencies: number[]; seconds: number; cpuMs: number }[]): Row {
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const row: Row = {
    name: `raw argon2.verify (${settings.maxConcurrent} at once)`,
    server: 'in-process',
    perSecond: latencies.length / seconds,
    p50: Math.round(percentile(latencies, 50)),
    p99: Math.round(percentile(latencies, 99)),
    cpuPerOp: runs.reduce((n, r) => n + r.cpuMs, 0) / latencies.length,
    total: latencies.length,
    failed: 0,
  };
  process.stdout.write(`  argon2.verify (m=${settings.memoryKiB} KiB t=${settings.iterations} p=${settings.parallelism}): ${fmtRate(row.perSecond)}/s, p50 ${row.p50} ms, CPU ${fmtMs(row.cpuPerOp)} ms/op\n`);
  return row;
}

// ---------------------------------------------------------------------------------------------

function table(rows: Row[]): string {
  const head = ['scenario', 'server', 'per second', 'p50 ms', 'p99 ms', 'server CPU ms/op', 'ok', 'failed'];
  const body = rows.map((r) => [r.name, r.server, fmtRate(r.perSecond), String(r.p50), String(r.p99), fmtMs(r.cpuPerOp), String(r.total), String(r.failed)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`, ...body.map(line)].join('\n');
}

/** Busy and total CPU time of the whole machine so far (jiffies), from /proc/stat. */
function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = fields[3]! + fields[4]!; // idle + iowait
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * Other engineers' test runs share these machines. Waits (up to `maxSeconds`) for a second in which
 * the machine is mostly idle; returns the busy share of the last second sampled.
 */
async function waitForQuiet(maxSeconds: number): Promise<{ busy: number; waited: number }> {
  const started = Date.now();
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const b = machineCpu();
    if (!a || !b) return { busy: NaN, waited: 0 };
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    const waited = (Date.now() - started) / 1000;
    if (busy < QUIET_BUSY || waited >= maxSeconds) return { busy, waited };
  }
}

const loadavg = () => os.loadavg().map((n) => n.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const wanted = process.env.BENCH_BACKEND ?? 'auto';
  const servicesUp = wanted !== 'sqlite' && (await reachable(PG_URL, 5432)) && (await reachable(REDIS_URL, 6379));
  if (wanted === 'postgres+redis' && !servicesUp) throw new Error(`BENCH_BACKEND=postgres+redis but ${PG_URL} or ${REDIS_URL} is not reachable`);
  const backend = servicesUp ? 'postgres+redis' : 'sqlite';
  const quiet = await waitForQuiet(QUIET_WAIT_SECONDS);
  const loadBefore = loadavg();

  const dataDir = mkdtempSync(join(os.tmpdir(), 'yihao-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const configFile = join(dataDir, 'bench-config.json');
  // BENCH_CONFIG_JSON (e.g. '{"argon2":{"memoryKiB":19456,"iterations":2,"parallelism":1,"maxConcurrent":1}}') is merged
  // in too, to try settings; the raw argon2 figure follows config.argon2 either way.
  const extra = process.env.BENCH_CONFIG_JSON ? (JSON.parse(process.env.BENCH_CONFIG_JSON) as Record<string, unknown>) : {};
  writeFileSync(configFile, JSON.stringify({ ...extra, resourceServers: { [RESOURCE]: { scope: RESOURCE_SCOPE, accessTokenFormat: 'jwt' } } }));

  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    NODE_ENV: 'development',
    PORT: String(port),
    ISSUER: issuer,
    YIHAO_DATA_DIR: dataDir,
    YIHAO_CONFIG: configFile,
    UV_THREADPOOL_SIZE: THREADPOOL,
    ...(process.env.BENCH_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_LOG_LEVEL } : {}),
  };
  if (backend === 'postgres+redis') {
    const schema = `bench_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
    const prefix = `yihao-bench:${schema}:`;
    const admin = knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 } });
    await admin.raw(`create schema "${schema}"`);
    cleanups.push(async () => {
      await admin.raw(`drop schema if exists "${schema}" cascade`);
      await admin.destroy();
    });
    cleanups.push(async () => void (await deleteRedisPrefix(prefix)));
    Object.assign(env, { DATABASE_URL: PG_URL, REDIS_URL, YIHAO_REDIS_PREFIX: prefix, BENCH_PG_SCHEMA: schema });
  }
  // Also writes <dataDir>/secrets.json once, which the child then reads.
  const config = loadConfig(env);

  console.log(`Yihao benchmark — ${new Date().toISOString()}`);
  console.log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), Node ${process.version}, load average ${loadBefore}; ` +
      `backend: ${backend === 'postgres+redis' ? `PostgreSQL (${PG_URL}) + Redis (${REDIS_URL})` : `SQLite in ${dataDir}`}`,
  );
  const busyPct = `${(quiet.busy * 100).toFixed(0)}%`;
  console.log(
    quiet.busy < QUIET_BUSY
      ? `machine ${busyPct} busy before the start${quiet.waited > 1.5 ? ` (waited ${quiet.waited.toFixed(0)} s for quiet)` : ''}`
      : `WARNING: the machine is ${busyPct} busy with other work after waiting ${quiet.waited.toFixed(0)} s; figures will be low and noisy ` +
          '(the ratios interleave their two sides to limit the bias)',
  );
  console.log(
    `servers in child processes on 127.0.0.1, UV_THREADPOOL_SIZE=${THREADPOOL}, Yihao log level ${config.logLevel} (to /dev/null); ` +
      `autocannon ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s per endpoint\n`,
  );

  // --- start both servers; the idle one costs nothing while the other is measured -----------------
  const yihao = startChild<ToYihao>('./yihao-server.js', env);
  const barePort = await freePort();
  const bareId = 'bench-bare';
  const bareSecret = randomBytes(32).toString('base64url');
  const bare = startChild<ToBare>('./bare-provider.js', {
    NODE_ENV: 'development',
    UV_THREADPOOL_SIZE: THREADPOOL,
    BENCH_PORT: String(barePort),
    BENCH_CLIENT_ID: bareId,
    BENCH_CLIENT_SECRET: bareSecret,
    BENCH_RESOURCE: RESOURCE,
    BENCH_SCOPE: RESOURCE_SCOPE,
  });
  await yihao.next('ready');
  await bare.next<FromBare>('ready');
  yihao.send({ type: 'setup', citizens: SIGNIN_LOOPS, redirectUri: REDIRECT });
  const setup = await yihao.next<Extract<FromYihao, { type: 'setup' }>>('setup');
  const discovery = await expectOk(`${issuer}/.well-known/openid-configuration`, {}, 'discovery');
  const endpoint = (key: string) => new URL(String(discovery[key])).pathname;
  const yPid = yihao.proc.pid!;

  // --- client_credentials: Yihao and the bare provider in ABBA order, so drift in the machine's
  // other load hits both alike ------------------------------------------------------------------
  console.log('client_credentials, Yihao and bare oidc-provider interleaved (Y B B Y):');
  const ccY: Target = { server: 'Yihao', base: issuer, pid: yPid, request: clientCredentialsRequest(setup.clientId, setup.clientSecret) };
  const bareBase = `http://127.0.0.1:${barePort}`;
  const ccB: Target = { server: 'bare oidc-provider', base: bareBase, pid: bare.proc.pid!, request: clientCredentialsRequest(bareId, bareSecret) };
  for (const t of [ccY, ccB]) {
    const tok = await expectOk(`${t.base}/token`, { method: 'POST', headers: t.request.headers as Record<string, string>, body: t.request.body as string }, `${t.server} client_credentials`);
    const header = JSON.parse(Buffer.from(String(tok.access_token).split('.')[0]!, 'base64url').toString()) as { alg?: string; typ?: string };
    if (header.alg !== 'ES256' || header.typ !== 'at+jwt') throw new Error(`${t.server}: client_credentials token is not an ES256 at+jwt: ${JSON.stringify(header)}`);
  }
  await cannon(ccY, WARMUP_SECONDS);
  await cannon(ccB, WARMUP_SECONDS);
  const half = SECONDS / 2;
  const y1 = await cannon(ccY, half);
  const b1 = await cannon(ccB, half);
  const b2 = await cannon(ccB, half);
  const y2 = await cannon(ccY, half);
  const ccYihao = combine('client_credentials /token', 'Yihao', [y1, y2]);
  const ccBare = combine('client_credentials /token', 'bare oidc-provider', [b1, b2]);
  const rows: Row[] = [ccYihao, ccBare];

  console.log('Yihao endpoints:');
  rows.push(await measure('JWKS', { server: 'Yihao', base: issuer, pid: yPid, request: { method: 'GET', path: endpoint('jwks_uri') } }));

  const rp: RelyingParty = {
    issuer,
    authorizationEndpoint: String(discovery.authorization_endpoint),
    tokenEndpoint: String(discovery.token_endpoint),
    clientId: setup.clientId,
    clientSecret: setup.clientSecret,
    redirectUri: REDIRECT,
    scope: 'openid profile phone',
  };
  const first = await signIn(rp, setup.citizens[0]!); // warm-up and sanity check
  if (!first.refresh_token || !first.id_token) throw new Error('the sign-in returned no refresh token or ID token');

  const bearer = { authorization: `Bearer ${first.access_token}` };
  await expectOk(`${issuer}${endpoint('userinfo_endpoint')}`, { headers: bearer }, 'userinfo');
  rows.push(await measure('userinfo', { server: 'Yihao', base: issuer, pid: yPid, request: { method: 'GET', path: endpoint('userinfo_endpoint'), headers: bearer } }));

  // --- sign-ins, bracketed by raw argon2 runs (A B A) for the same reason ----------------------
  console.log('sign-ins, bracketed by raw argon2.verify runs in this process (A S A):');
  const password = 'bench-password-Aa1';
  const hash = await argon2.hash(password, { type: argon2.argon2id, memoryCost: config.argon2.memoryKiB, timeCost: config.argon2.iterations, parallelism: config.argon2.parallelism });
  await argon2.verify(hash, password);
  const a1 = await argon2Run(config.argon2, hash, password, ARGON2_SECONDS / 2);
  const { row: signInRow, tokens } = await signInLoad(rp, setup.citizens, yPid);
  const a2 = await argon2Run(config.argon2, hash, password, ARGON2_SECONDS / 2);
  const argon = argon2Row(config.argon2, [a1, a2]);
  rows.push(signInRow, argon);

  // Refresh tokens rotate: every request takes an unused token from the pool, and each answer puts
  // its new refresh token at the back, so the pool (seeded by the sign-ins) never runs dry.
  const pool = [first, ...tokens].map((t) => t.refresh_token).filter((t): t is string => Boolean(t));
  // A very busy machine may leave too few; top up so that every connection always finds one.
  while (pool.length < CONNECTIONS * 2) {
    const more = await Promise.all(setup.citizens.slice(0, 4).map((c) => signIn(rp, c)));
    pool.push(...more.map((t) => t.refresh_token!));
  }
  const seeded = pool.length;
  console.log(`refresh_token (pool of ${seeded} rotating tokens from the sign-ins):`);
  rows.push(
    await measure('refresh_token /token', {
      server: 'Yihao',
      base: issuer,
      pid: yPid,
      request: {
        method: 'POST',
        path: endpoint('token_endpoint'),
        headers: { authorization: basicAuth(setup.clientId, setup.clientSecret), 'content-type': FORM },
        setupRequest: (req) => ({ ...req, body: `grant_type=refresh_token&refresh_token=${pool.shift() ?? 'pool-ran-dry'}` }),
        onResponse: (status, body) => {
          if (status !== 200) return;
          const next = (JSON.parse(body) as TokenSet).refresh_token;
          if (next) pool.push(next);
        },
      },
    }),
  );
  await Promise.all([yihao.stop(), bare.stop()]);

  // --- report ------------------------------------------------------------------------------------
  console.log(`\n${table(rows)}\n`);
  const verdict = (value: number, target: number) => (value >= target ? 'PASS' : 'BELOW TARGET');
  const ccRatio = ccYihao.perSecond / ccBare.perSecond;
  const signInRatio = signInRow.perSecond / argon.perSecond;
  console.log(`Yihao client_credentials / bare oidc-provider: ${ccRatio.toFixed(2)} (target >= ${TARGET_CC}) ${verdict(ccRatio, TARGET_CC)}  [${fmtRate(ccYihao.perSecond)} / ${fmtRate(ccBare.perSecond)} per s]`);
  console.log(`Yihao sign-ins / raw argon2 verifies: ${signInRatio.toFixed(2)} (target >= ${TARGET_SIGNIN}) ${verdict(signInRatio, TARGET_SIGNIN)}  [${fmtRate(signInRow.perSecond)} / ${fmtRate(argon.perSecond)} per s]`);
  console.log(
    `  CPU view (less sensitive to other load): bare/Yihao CPU per client_credentials token ${(ccBare.cpuPerOp / ccYihao.cpuPerOp).toFixed(2)}` +
      ` (${fmtMs(ccBare.cpuPerOp)} vs ${fmtMs(ccYihao.cpuPerOp)} ms); argon2 share of Yihao's CPU per sign-in ${(argon.cpuPerOp / signInRow.cpuPerOp).toFixed(2)}` +
      ` (${fmtMs(argon.cpuPerOp)} of ${fmtMs(signInRow.cpuPerOp)} ms)`,
  );
  console.log(`load average before ${loadBefore}, after ${loadavg()} (on ${os.cpus().length} cores; the bench itself adds about 2)`);
  const failures = rows.reduce((n, r) => n + r.failed, 0);
  if (failures) console.log(`\nWARNING: ${failures} requests failed (non-2xx or connection errors); see the "failed" column.`);
  if (profDir) console.log(`\nCPU profiles of the server processes: ${profDir}`);
}

const started = Date.now();
main()
  .then(
    () => cleanup(),
    async (e: unknown) => {
      console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
      process.exitCode = 1;
      await cleanup();
    },
  )
  .finally(() => {
    console.log(`(bench took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    clearTimeout(hardLimit);
  });

