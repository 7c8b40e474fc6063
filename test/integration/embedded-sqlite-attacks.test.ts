// Attacks on the embedded default (a helper's review: SQLite under the data directory, no
// DATABASE_URL, no REDIS_URL) as one instance used together with the `yihao` CLI on the same data
// directory. The first three failed before (files 0644 in a data directory that already existed; a
// 2 s CLI lock froze the whole server; past the busy timeout a write answered 500), and so did the
// fourth (a second server on the same directory started, and said nothing). The server runs as
// a process of its own (dist/src/main.js), as a deployment runs it; what the CLI does to the file is
// done either by the real CLI (bin/yihao.js) or, where its timing must be controlled, by a second
// SQLite connection holding the write lock as a CLI transaction does.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/harness.js';
import { runYihao } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The parts of better-sqlite3 this file uses (the package ships no types; knex loads the same module). */
interface SqliteConnection {
  exec(sql: string): void;
  pragma(sql: string, opts?: { simple: boolean }): unknown;
  prepare(sql: string): { get(): unknown };
  close(): void;
}
const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string, opts?: { readonly?: boolean }) => SqliteConnection;

interface Server {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yihao-embedded-sqlite-'));
  dirs.push(dir);
  return dir;
}

const env = (dir: string, port: number, extra: Record<string, string> = {}) => ({
  NODE_ENV: 'test',
  LOG_LEVEL: 'warn',
  YIHAO_DATA_DIR: dir,
  PORT: String(port),
  ISSUER: `http://127.0.0.1:${port}`,
  ...extra,
});

/** Spawns the server on `dir`; resolves once /healthz answers, or once the process has exited. */
async function startServer(dir: string, opts: { port?: number; issuerPort?: number; extra?: Record<string, string> } = {}): Promise<Server> {
  const port = opts.port ?? (await freePort());
  const e = env(dir, opts.issuerPort ?? port, opts.extra);
  const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], { cwd: root, env: { PATH: process.env.PATH, ...e, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => (gone = true));
  await expect.poll(async () => gone || (await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false)), { timeout: 60_000, interval: 200 }).toBe(true);
  return { child, port, url, output: () => output, exited };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  await server.exited;
}

/** An unauthenticated admin API call: the server writes its admin.denied audit row before it answers 401. */
const writingRequest = (url: string) => fetch(`${url}/admin/api/v1/audit/events`).then((r) => r.status);

/** Timed GET of /healthz, which reads nothing from the database. */
async function timedHealth(url: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const status = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
  return { status, ms: performance.now() - t0 };
}

/** A second connection holding the write lock, as a CLI command's transaction does, for `ms`. */
async function holdWriteLock(dir: string, ms: number, during: () => Promise<void>): Promise<void> {
  const conn = new Sqlite(join(dir, 'yihao.sqlite'));
  try {
    conn.pragma('busy_timeout = 5000');
    conn.exec('BEGIN IMMEDIATE');
    const released = new Promise<void>((r) => setTimeout(r, ms));
    await during();
    await released;
    conn.exec('COMMIT');
  } finally {
    conn.close();
  }
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the embedded SQLite default next to the CLI', () => {
  it('a data directory that already exists (mkdir data, a checkout) does not leave the database or its WAL readable by other users', async () => {
    const dir = dataDir();
    // What `mkdir data` or a volume mount gives under the usual umask 022.
    mkdirSync(join(dir, 'data'), { mode: 0o755 });
    const data = join(dir, 'data');
    const server = await startServer(data);
    try {
      expect(await writingRequest(server.url)).toBe(401);
      // The CLI, run by an operator whose umask is 022, writes too.
      const cli = await runYihao(['department', 'create', '--name', 'Review', '--level', 'national', '--json'], env(data, server.port));
      expect(cli.code, cli.stderr).toBe(0);
      const files = ['yihao.sqlite', 'yihao.sqlite-wal', 'yihao.sqlite-shm', 'secrets.json'].map((f) => join(data, f));
      // The directory keeps 0755 (nothing tightens it), so each file must guard itself.
      const readableByOthers = files.filter((f) => (mode(data) & 0o005) !== 0 && (mode(f) & 0o044) !== 0).map((f) => `${f}: ${mode(f).toString(8)}`);
      expect(readableByOthers).toEqual([]);
    } finally {
      await stop(server);
    }
  }, 120_000);

  it('a CLI transaction holding the write lock for two seconds does not freeze the running server (requests that touch no lock keep answering)', async () => {
    const dir = dataDir();
    const server = await startServer(dir);
    try {
      expect(await writingRequest(server.url)).toBe(401);
      const conn = new Sqlite(join(dir, 'yihao.sqlite'));
      let health: Promise<{ status: number; ms: number }>;
      let write: Promise<number>;
      try {
        conn.exec('BEGIN IMMEDIATE');
        // A request that has to write waits for the lock (busy_timeout): that one may wait.
        write = writingRequest(server.url);
        await new Promise((r) => setTimeout(r, 200));
        // A health check touches no lock: it must not wait behind the CLI.
        health = timedHealth(server.url);
        await new Promise((r) => setTimeout(r, 1_800));
        conn.exec('COMMIT');
      } finally {
        conn.close();
      }
      // The write waited the server's busy timeout (250 ms), then was told to try again.
      expect([401, 503]).toContain(await write);
      const h = await health;
      expect(h.status).toBe(200);
      // Held for 1.8 s after the health check was sent; an answer within 1 s is generous on a loaded machine.
      expect(h.ms).toBeLessThan(1_000);
    } finally {
      await stop(server);
    }
  }, 120_000);

  it('a request that must write while the CLI holds the lock past busy_timeout is answered 503 (try again), not 500, and the server keeps serving', async () => {
    const dir = dataDir();
    const server = await startServer(dir);
    try {
      let write: Promise<number> | undefined;
      await holdWriteLock(dir, 6_500, async () => {
        write = writingRequest(server.url);
        await new Promise((r) => setTimeout(r, 100));
      });
      const status = await write!;
      expect([401, 503]).toContain(status);
      expect(await writingRequest(server.url)).toBe(401);
    } finally {
      await stop(server);
    }
  }, 120_000);

  it('a second server started on the same data directory by mistake is refused, and says which process holds it; a lock left by a crash is taken over', async () => {
    const dir = dataDir();
    const first = await startServer(dir);
    try {
      const second = await startServer(dir, { issuerPort: first.port });
      await second.exited;
      expect(second.child.exitCode).toBe(2);
      expect(second.output()).toContain(`another Yihao server (process ${first.child.pid}) serves the data directory`);
      // The first serves on.
      expect((await timedHealth(first.url)).status).toBe(200);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    // Its lock outlived it; the next start takes it over.
    const next = await startServer(dir);
    try {
      expect(next.child.exitCode).toBeNull();
    } finally {
      await stop(next);
    }
  }, 120_000);

  it('a server killed (SIGKILL) in the middle of writes restarts with nothing corrupt and an audit log that verifies', async () => {
    const dir = dataDir();
    const configFile = join(dir, 'config.json');
    // The load is unauthenticated admin API calls from one address: lift the edge limit on those.
    writeFileSync(configFile, JSON.stringify({ rateLimits: { adminUnauthenticated: { points: 10_000, durationSeconds: 60 } } }));
    const data = join(dir, 'data');
    const extra = { YIHAO_CONFIG: configFile };
    const first = await startServer(data, { extra });
    let answered = 0;
    const burst = async () => {
      for (let i = 0; i < 30; i++) {
        await Promise.all(Array.from({ length: 8 }, () => writingRequest(first.url).then((s) => void (s === 401 && answered++), () => undefined)));
      }
    };
    const load = burst();
    await expect.poll(() => answered, { timeout: 30_000, interval: 20 }).toBeGreaterThan(60);
    first.child.kill('SIGKILL');
    await first.exited;
    await load;
    const second = await startServer(data, { port: first.port, extra });
    try {
      expect(second.child.exitCode).toBeNull();
      const conn = new Sqlite(join(data, 'yihao.sqlite'), { readonly: true });
      try {
        expect(conn.pragma('integrity_check', { simple: true })).toBe('ok');
        const rows = conn.prepare("select count(*) as n from audit_events where action = 'admin.denied'").get() as { n: number };
        expect(rows.n).toBeGreaterThanOrEqual(answered);
      } finally {
        conn.close();
      }
      // Let the new sealer chain what the killed one left.
      await expect.poll(async () => {
        const conn2 = new Sqlite(join(data, 'yihao.sqlite'), { readonly: true });
        try {
          return (conn2.prepare('select count(*) as n from audit_events where seq is null').get() as { n: number }).n;
        } finally {
          conn2.close();
        }
      }, { timeout: 30_000, interval: 200 }).toBe(0);
      const verify = await runYihao(['audit', 'verify', '--json'], env(data, second.port, extra));
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ intact: true });
    } finally {
      await stop(second);
    }
  }, 180_000);
});
