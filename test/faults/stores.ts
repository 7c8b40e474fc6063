/**
 * The fault suite's own stores, on free ports of 127.0.0.1, each in a temporary directory: a private
 * PostgreSQL cluster (Debian's binaries, run as the postgres user; the machine's cluster is shared
 * with other work and is never restarted here), and Redis as one server, as a Sentinel set and as a
 * Cluster. Every process started here is stopped by `stopAll`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.js';

const started: ChildProcess[] = [];
const dirs: string[] = [];
const cleanups: (() => void)[] = [];

export { freePort };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `yihao-faults-${name}-`));
  dirs.push(d);
  return d;
}

// ---------------------------------------------------------------- PostgreSQL

const PG_BIN = process.env.YIHAO_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  url: string;
  port: number;
  restart(): void;
  stop(): void;
  start(): void;
}

function asPostgres(args: string[]): void {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args[0]} failed: ${r.stderr || r.stdout}`);
}

/** initdb + pg_ctl in a temp dir: the suite can restart it without touching anyone else's database. */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = tempDir('pg');
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(dir, id('-u'), id('-g'));
  const data = join(dir, 'data');
  asPostgres([join(PG_BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  const ctl = (...args: string[]) => asPostgres([join(PG_BIN, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', ...args]);
  ctl('-o', opts, 'start');
  cleanups.push(() => {
    try {
      ctl('-m', 'immediate', 'stop');
    } catch {
      // already stopped
    }
  });
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    // What `pg_ctlcluster ... restart` does: a fast shutdown (open sessions are ended), then a start.
    restart: () => ctl('-m', 'fast', '-o', opts, 'restart'),
    stop: () => ctl('-m', 'fast', 'stop'),
    start: () => ctl('-o', opts, 'start'),
  };
}

/**
 * PostgreSQL's address, in front of the private server, as a fail-over sees it when the old
 * primary's machine is lost: `lose()` and every connection open through it goes silent, both ways,
 * without a reset (nothing closes it); a connection opened while the address points nowhere goes
 * silent too. `failOver()` and new connections reach a database again (the same server here, as a
 * promoted replica behind the moved address would be). The silent ones stay silent for good.
 */
export async function movingAddress(port: number) {
  let era = 0;
  let pointsNowhere = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const born = era;
    const silent = () => pointsNowhere || born !== era;
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    const bornSilent = pointsNowhere;
    client.on('data', (chunk: Buffer) => void (bornSilent || silent() ? undefined : upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (bornSilent || silent() ? undefined : client.write(chunk)));
    // The client giving up closes its side; the database then ends that session (and rolls back).
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    lose: () => {
      era++;
      pointsNowhere = true;
    },
    failOver: () => {
      era++;
      pointsNowhere = false;
    },
  };
}

// ---------------------------------------------------------------- Redis

export interface RedisProc {
  port: number;
  /** SIGKILL: no shutdown, no final save. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

function cli(port: number, ...args: string[]): string {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5_000 }).stdout.trim();
}

export function redisCli(port: number, ...args: string[]): string {
  return cli(port, ...args);
}

/**
 * One redis-server. `appendfsync always`: a write Redis acknowledged survives a SIGKILL, so a
 * restart loses nothing that a citizen was told had happened.
 */
export async function redisServer(opts: { port?: number; args?: string[]; sentinel?: boolean } = {}): Promise<RedisProc> {
  const port = opts.port ?? (await freePort());
  const dir = tempDir(`redis-${port}`);
  let proc: ChildProcess | undefined;
  const conf = join(dir, 'sentinel.conf');
  // A sentinel rewrites its config file, so it needs one; a plain server takes its settings on the command line.
  if (opts.sentinel) writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\n${(opts.args ?? []).join('\n')}\n`);
  const start = async () => {
    const args = opts.sentinel
      ? [conf, '--sentinel']
      : ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', ...(opts.args ?? [])];
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    started.push(proc);
    await until(`redis on ${port}`, () => cli(port, 'ping') === 'PONG', 15_000);
  };
  await start();
  return {
    port,
    kill: () =>
      new Promise((resolve) => {
        if (!proc || proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
    start: async () => {
      if (opts.sentinel) throw new Error('sentinels are not restarted');
      await start();
    },
  };
}

export interface SentinelSet {
  master: RedisProc;
  replica: RedisProc;
  sentinels: RedisProc[];
  masterName: string;
  /** The port the sentinels now name as master. */
  currentMasterPort(): number;
}

/** 1 master + 1 replica + 3 sentinels (quorum 2), with fail-over after one second without answer. */
export async function sentinelSet(): Promise<SentinelSet> {
  const masterName = 'yihao';
  const master = await redisServer();
  const replica = await redisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  await until('replication', () => cli(master.port, 'info', 'replication').includes('connected_slaves:1'), 15_000);
  const sentinels: RedisProc[] = [];
  for (let i = 0; i < 3; i++) {
    sentinels.push(
      await redisServer({
        sentinel: true,
        args: [
          `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
        ],
      }),
    );
  }
  await until('sentinels to see each other', () => /num-other-sentinels\D+2/.test(cli(sentinels[0]!.port, 'sentinel', 'master', masterName).replace(/\n/g, ' ')), 20_000);
  return {
    master,
    replica,
    sentinels,
    masterName,
    currentMasterPort: () => Number(cli(sentinels[0]!.port, 'sentinel', 'get-master-addr-by-name', masterName).split('\n')[1]),
  };
}

export interface RedisCluster {
  nodes: RedisProc[];
  /** The node that serves `key`'s slot. */
  nodeFor(key: string): RedisProc;
}

/** Three masters, no replicas (a node that dies takes its slots down until it is back). */
export async function redisCluster(): Promise<RedisCluster> {
  const nodes: RedisProc[] = [];
  for (let i = 0; i < 3; i++) nodes.push(await redisServer({ args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000', '--cluster-config-file', `nodes.conf`] }));
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  await until('cluster_state:ok', () => nodes.every((n) => cli(n.port, 'cluster', 'info').includes('cluster_state:ok')), 30_000);
  return {
    nodes,
    nodeFor(key) {
      const slot = Number(cli(nodes[0]!.port, 'cluster', 'keyslot', key));
      const shards = cli(nodes[0]!.port, 'cluster', 'slots').split('\n');
      // CLUSTER SLOTS in redis-cli's flat form: start, end, ip, port, id, (replicas...), repeated.
      for (let i = 0; i + 3 < shards.length; i++) {
        const [start, end, , port] = [Number(shards[i]), Number(shards[i + 1]), shards[i + 2], Number(shards[i + 3])];
        if (Number.isInteger(start) && Number.isInteger(end) && slot >= start && slot <= end && nodes.some((n) => n.port === port)) return nodes.find((n) => n.port === port)!;
      }
      throw new Error(`no node found for slot ${slot}`);
    },
  };
}

export async function stopAll(): Promise<void> {
  for (const p of started.reverse()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const c of cleanups.reverse()) c();
  await sleep(200);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
