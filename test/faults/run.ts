/**
 * The fault suite (`npm run test:faults`, docs/operations.md): two real Yihao processes on a private
 * PostgreSQL and on Redis as one server, a Sentinel set and a Cluster, under bounded load, while a
 * store is killed and brought back or an instance is stopped. Per scenario it prints what the load
 * saw and what the stores lost; the last line is `N passed, N failed`, and any failure exits 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import knexFactory, { type Knex } from 'knex';
import { loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logger.js';
import { createYihao } from '../../src/yihao.js';
import { consoleClient } from '../../src/admin/index.js';
import { syntheticCitizenId } from '../../bench/sign-in.js';
import { signInOperator, type ConsoleSite, type SignedInOperator } from '../support/admin-operators.js';
import { action, basic, Balancer, browserSend, drive, field, loginAttempt, newTally, signInFlow, type Rp, type Tally } from './load.js';
import { freePort, movingAddress, privatePostgres, redisCli, redisCluster, redisServer, sentinelSet, sleep, stopAll, until, type PrivatePostgres } from './stores.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const SECONDS = Number(process.env.FAULTS_SECONDS ?? 18);
/** Where the instances' log of each scenario's latest run is kept (`<deployment>.log`). */
const LAST_LOGS = join(tmpdir(), 'yihao-faults-last');

interface Instance {
  port: number;
  url: string;
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function startInstance(env: Record<string, string>, port: number, logFile: string): Promise<Instance> {
  const out = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], { cwd: root, env: { PATH: process.env.PATH ?? '', MALLOC_ARENA_MAX: '1', ...env, PORT: String(port) }, stdio: ['ignore', out, out] });
  closeSync(out);
  const url = `http://127.0.0.1:${port}`;
  await until(`instance on ${port}`, async () => (await fetch(`${url}/healthz`)).status === 200, 60_000);
  return {
    port,
    url,
    proc,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        proc.once('exit', (code) => resolve(code));
        proc.kill(signal);
      }),
  };
}

/** An account given operator roles before the instances started (as `yihao operator create` does). */
interface OperatorAccount {
  sub: string;
  citizenId: string;
  password: string;
}

interface Deployment {
  env: Record<string, string>;
  a: Instance;
  b: Instance;
  rp: Rp;
  issuer: string;
  citizens: { identifier: string; password: string }[];
  /** Where operators sign in: the issuer (A) and the console's client credentials. */
  console: ConsoleSite;
  /** With `operators`: a national department, its super-admin and its reviewer. */
  operators?: { departmentId: string; superAdmin: OperatorAccount; reviewer: OperatorAccount };
  db: Knex;
  redis: Redis | Cluster;
  prefix: string;
  /** The Redis servers that hold data now (the master; every Cluster master). */
  dataPorts: () => number[];
  close(): Promise<void>;
}

/**
 * Seeds a client and citizens in-process (as `yihao` would), and with `operators` a department and
 * two operators, then starts two instances on the shared stores.
 */
async function deploy(
  name: string,
  pg: PrivatePostgres,
  redisEnv: Record<string, string>,
  redis: Redis | Cluster,
  dataPorts: () => number[],
  opts: { operators?: boolean; /** The instances reach PostgreSQL on this port instead (movingAddress). */ databasePort?: number } = {},
): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), `yihao-faults-${name}-`));
  // A database of its own: each deployment has its own secrets (generated in its data directory).
  const database = `faults_${name.replace(/\W/g, '_')}`;
  const admin = knexFactory({ client: 'pg', connection: pg.url, pool: { min: 0, max: 1 } });
  await admin.raw(`create database "${database}"`);
  await admin.destroy();
  const directUrl = pg.url.replace(/\/postgres$/, `/${database}`);
  const dbUrl = directUrl.replace(`:${pg.port}/`, `:${opts.databasePort ?? pg.port}/`);
  const [portA, portB] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${portA}`;
  const prefix = `faults-${name}:`;
  const configFile = join(dir, 'config.json');
  // Quick key refresh, short sealing lease: what the two-instance checks wait for stays short.
  writeFileSync(configFile, JSON.stringify({ keys: { refreshSeconds: 2, retiredKeepSeconds: 7200, publishSeconds: 6 }, audit: { sealIntervalMs: 200, leaseSeconds: 3 }, shutdown: { drainSeconds: 1.5, deadlineSeconds: 10 } }));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    ISSUER: issuer,
    DATABASE_URL: dbUrl,
    YIHAO_DATA_DIR: dir,
    YIHAO_CONFIG: configFile,
    YIHAO_REDIS_PREFIX: prefix,
    ...redisEnv,
  };
  const config = loadConfig(env);
  const seeder = await createYihao(config, { logger: createLogger('silent') });
  const redirectUri = 'http://127.0.0.1:9/cb';
  const client = await seeder.clients.create({ name: `Fault RP ${name}`, redirectUris: [redirectUri], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], scope: 'openid profile' });
  const citizens: { identifier: string; password: string }[] = [];
  // Enough citizens that no one of them signs in often: a sign-in counts as a guess until it
  // succeeds (src/accounts/lockout.ts), so attempts that a fault cut short stay counted, and five
  // of them in a row on one citizen would rightly throttle that citizen (a 429 the load reports).
  for (let i = 0; i < 24; i++) {
    const identifier = syntheticCitizenId();
    const password = `faults-${i}-${Date.now()}-Aa1`;
    await seeder.accounts.create({ citizenId: identifier, name: '测试', password });
    citizens.push({ identifier, password });
  }
  let operators: Deployment['operators'];
  if (opts.operators) {
    // What `yihao department create` and `yihao operator create` do; the operators then sign in on A.
    const boot = seeder.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const account = async (name: string, role: 'super-admin' | 'reviewer'): Promise<OperatorAccount> => {
      const citizenId = syntheticCitizenId();
      const password = `faults-op-${role}-${Date.now()}-Aa1`;
      const { sub } = await seeder.accounts.create({ citizenId, name, password });
      await boot.grantRole({ identifier: sub, role, departmentId: nation.id });
      return { sub, citizenId, password };
    };
    operators = { departmentId: nation.id, superAdmin: await account('总管理员', 'super-admin'), reviewer: await account('审核员', 'reviewer') };
  }
  // Every instance derives the console's secret alike; the suite redeems operators' codes with it, as the console does.
  const { clientId: consoleId, secret: consoleSecret } = consoleClient({ issuer, clientSecrets: seeder.services.clientSecrets, Adapter: seeder.services.Adapter, provider: () => seeder.holder.current });
  await seeder.close();
  const log = join(dir, 'instances.log');
  const a = await startInstance(env, portA, log);
  const b = await startInstance(env, portB, log);
  // The suite's own pool sees PostgreSQL go away too: knex's "Connection Error" line is expected noise there.
  const quiet = () => undefined;
  // The suite's own checks reach the database directly, past any fault of the instances' path.
  const db = knexFactory({ client: 'pg', connection: directUrl, pool: { min: 0, max: 2 }, log: { warn: quiet, error: quiet, deprecate: quiet, debug: quiet } });
  // The suite's own view of Redis goes down with it; its errors are expected.
  redis.on('error', () => undefined);
  const deployment: Deployment = {
    env,
    a,
    b,
    rp: { clientId: client.client_id, clientSecret: client.client_secret!, redirectUri },
    issuer,
    citizens,
    console: { issuer, console: { clientId: consoleId, secret: consoleSecret } },
    ...(operators ? { operators } : {}),
    db,
    redis,
    prefix,
    dataPorts,
    async close() {
      // SIGTERM: their logs (pino, asynchronous) reach the file.
      await Promise.all([deployment.a.stop('SIGTERM'), deployment.b.stop('SIGTERM')]);
      await db.destroy();
      redis.disconnect();
      // The instances' log of each scenario's latest run stays, so that a flake can be read afterwards.
      mkdirSync(LAST_LOGS, { recursive: true });
      if (existsSync(log)) copyFileSync(log, join(LAST_LOGS, `${name}.log`));
      if (process.env.FAULTS_KEEP_LOGS !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
  return deployment;
}

interface Snapshot {
  accounts: Set<string>;
  clients: Set<string>;
  refreshTokens: Set<string>;
  sessions: Set<string>;
}

/** Keys on the servers that hold data now, straight from each (a client's node list may lag after a restart). */
function scanPorts(ports: number[], match: string): string[] {
  return ports.flatMap((port) => redisCli(port, '--scan', '--pattern', match).split('\n').filter(Boolean));
}

/**
 * What the lockout counted after a Redis fault, per (account, address): the highest count left and
 * how many pairs reached maxFailures (5, when the next attempt waits). Told, not judged: the load's
 * wrong-password sign-ins count too. If a correct password was answered 429, this says whether
 * counted attempts piled up on one citizen.
 */
function lockoutCounts(ports: number[], prefix: string): string {
  const counts = ports.flatMap((port) =>
    redisCli(port, '--scan', '--pattern', `${prefix}lockout:*:ip:*`)
      .split('\n')
      .filter(Boolean)
      .map((key) => Number(redisCli(port, 'hget', key, 'n').trim() || 0)),
  );
  return `lockout counts left per (account, address): ${counts.length} pairs, highest ${Math.max(0, ...counts)}, at 5 or more ${counts.filter((n) => n >= 5).length}`;
}

async function snapshot(d: Deployment): Promise<Snapshot> {
  const ids = async (model: string) => new Set(((await d.db('oidc_models').where({ model }).select('id')) as { id: string }[]).map((r) => r.id));
  return {
    accounts: new Set(((await d.db('accounts').select('id')) as { id: string }[]).map((r) => r.id)),
    clients: await ids('Client'),
    refreshTokens: await ids('RefreshToken'),
    sessions: new Set(scanPorts(d.dataPorts(), `${d.prefix}{oidc}:Session:*`)),
  };
}

/**
 * Rows that must come in sets, checked row by row after the fault: a change that spans rows was
 * written whole or not at all (a restart mid-transaction leaves no half of it).
 */
async function halfWritten(d: Deployment): Promise<Outcome['checks']> {
  const count = async (q: Knex.QueryBuilder) => Number(((await q.count({ n: '*' })) as { n: string | number }[])[0]!.n);
  const now = Date.now();
  const live = (alias: string) => (q: Knex.QueryBuilder) => q.whereNull(`${alias}.expires_at`).orWhere(`${alias}.expires_at`, '>', now);
  const accounts = await count(d.db('accounts'));
  const noPassword = await count(d.db('accounts as a').whereNotExists((q) => q.select(d.db.raw('1')).from('credentials as c').whereRaw('c.account_id = a.id').andWhere('c.type', 'password')));
  const registrations = await count(d.db('client_registrations').where({ status: 'active' }));
  const unpublished = await count(
    d.db('client_registrations as r').where('r.status', 'active').whereNotExists((q) => q.select(d.db.raw('1')).from('oidc_models as m').where('m.model', 'Client').whereRaw('m.id = r.client_id')),
  );
  const tokens = await count(d.db('oidc_models as t').where('t.model', 'RefreshToken').whereNull('t.consumed_at').where(live('t')));
  const orphanTokens = await count(
    d.db('oidc_models as t').where('t.model', 'RefreshToken').whereNull('t.consumed_at').where(live('t')).whereNotExists((q) => q.select(d.db.raw('1')).from('oidc_models as g').where('g.model', 'Grant').whereRaw('g.id = t.grant_id')),
  );
  const grants = await count(d.db('oidc_models as g').where('g.model', 'Grant').where(live('g')));
  const unindexed = await count(
    d.db('oidc_models as g').where('g.model', 'Grant').where(live('g')).whereNotExists((q) => q.select(d.db.raw('1')).from('account_index as i').where('i.model', 'Grant').whereRaw('i.id = g.id')),
  );
  return [
    { what: `every account (${accounts}) has its password credential row: ${noPassword} without`, ok: accounts > 0 && noPassword === 0 },
    { what: `every active client registration (${registrations}) has its published client row: ${unpublished} without`, ok: unpublished === 0 },
    { what: `every live refresh token (${tokens}) has its grant row: ${orphanTokens} without`, ok: tokens > 0 && orphanTokens === 0 },
    { what: `every live grant (${grants}) has its account-index row: ${unindexed} without`, ok: grants > 0 && unindexed === 0 },
  ];
}

const lost = (before: Set<string>, after: Set<string>) => [...before].filter((id) => !after.has(id)).length;

interface Outcome {
  name: string;
  tally: Tally;
  recoverMs: number | undefined;
  lost: { accounts: number; clients: number; sessions: number; refreshTokens: number };
  /** What the scenario documents as possibly lost (written but not yet replicated when the master died). */
  allowedSessionLoss: number;
  checks: { what: string; ok: boolean }[];
  error?: string;
}

/**
 * Load for SECONDS; `fault` runs a third of the way in and returns when the store is back; recovery
 * is measured from then to the first 2xx token answered on both instances.
 */
async function underLoad(
  d: Deployment,
  name: string,
  fault: (lb: Balancer) => Promise<void>,
  opts: { allowedSessionLoss?: number; targets?: () => string[]; recovered?: () => Promise<boolean> } = {},
): Promise<Outcome> {
  const tally = newTally();
  const lb = new Balancer(opts.targets ?? (() => [d.a.url, d.b.url]), tally).healthChecks();
  const endAt = Date.now() + SECONDS * 1000;
  // Warm up with sign-ins, so that there are sessions and refresh tokens to lose.
  const warm = new Balancer(() => [d.a.url, d.b.url], newTally());
  await drive(warm, d.rp, d.issuer, d.citizens, { workers: 4, untilMs: Date.now() + 3000, flowEvery: 1 });
  await sleep(1_200); // replication and fsync settle: what is in the snapshot was acknowledged a second ago
  const before = await snapshot(d);
  const load = drive(lb, d.rp, d.issuer, d.citizens, { workers: 6, untilMs: endAt, flowEvery: 4 });
  await sleep((SECONDS * 1000) / 3);
  let recoverMs: number | undefined;
  const faultDone = (async () => {
    await fault(lb);
    const back = Date.now();
    const probe = new Balancer(opts.targets ?? (() => [d.a.url, d.b.url]), newTally());
    const ok = async (i: number) => {
      try {
        const res = await probe.send('/token', { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${d.rp.clientId}:${d.rp.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }, i);
        return res.status === 200;
      } catch {
        return false;
      }
    };
    await until(`${name}: recovery`, opts.recovered ?? (async () => (await ok(0)) && (await ok(1))), 60_000);
    recoverMs = Date.now() - back;
  })();
  await Promise.all([load, faultDone]).finally(() => lb.stop());
  const after = await snapshot(d);
  if (process.env.FAULTS_DEBUG) console.log(`  [debug] sessions before ${before.sessions.size}, after ${after.sessions.size}; lost: ${[...before.sessions].filter((k) => !after.sessions.has(k)).join(' ')}`);
  return {
    name,
    tally,
    recoverMs,
    lost: { accounts: lost(before.accounts, after.accounts), clients: lost(before.clients, after.clients), sessions: lost(before.sessions, after.sessions), refreshTokens: lost(before.refreshTokens, after.refreshTokens) },
    allowedSessionLoss: opts.allowedSessionLoss ?? 0,
    checks: [{ what: 'sessions before the fault', ok: before.sessions.size > 0 }, ...(await halfWritten(d))],
  };
}

/**
 * After a Redis fault: the events that waited unsealed while the anchor could not follow are sealed,
 * and the anchor holds the newest checkpoint again (docs/audit.md).
 */
async function auditAnchoredAgain(d: Deployment): Promise<{ what: string; ok: boolean }> {
  let seen = '';
  const ok = await until(
    'audit events sealed and anchored',
    async () => {
      const unsealed = Number(((await d.db('audit_events').whereNull('seq').count({ n: '*' })) as { n: string }[])[0]!.n);
      const newest = Number(((await d.db('audit_checkpoints').max({ seq: 'seq' })) as { seq: string | null }[])[0]!.seq ?? 0);
      const line = await d.redis.get(`${d.prefix}audit:anchor`);
      const anchored = line ? (JSON.parse(line) as { seq?: number }).seq : undefined;
      seen = `${unsealed} unsealed, newest checkpoint at row ${newest}, anchor at row ${anchored ?? 'none'}`;
      return unsealed === 0 && newest > 0 && anchored === newest;
    },
    20_000,
  ).then(
    () => true,
    () => false,
  );
  return { what: `audit log after the fault: every event sealed, the anchor at the newest checkpoint (${seen})`, ok };
}

function verdict(o: Outcome): boolean {
  const t = o.tally;
  return (
    !o.error &&
    t.otherNon2xx === 0 &&
    t.other5xx === 0 &&
    t.ok > 0 &&
    o.recoverMs !== undefined &&
    o.lost.accounts === 0 &&
    o.lost.clients === 0 &&
    o.lost.refreshTokens === 0 &&
    o.lost.sessions <= o.allowedSessionLoss &&
    o.checks.every((c) => c.ok)
  );
}

function print(o: Outcome): void {
  const t = o.tally;
  const pass = verdict(o);
  console.log(`\n${pass ? 'PASS' : 'FAIL'} ${o.name}`);
  if (o.error) console.log(`  error: ${o.error}`);
  console.log(
    `  requests ${t.sent}: 2xx ${t.ok}, 3xx ${t.redirects}, 503 ${t.unavailable}, other non-2xx ${t.otherNon2xx}, 5xx other than 503 ${t.other5xx}` +
      `; refused connections re-routed by the balancer ${t.rerouted}; sign-ins completed ${t.flowsDone}, interrupted by a 503 ${t.flowsInterrupted}`,
  );
  console.log(`  time to recover: ${o.recoverMs === undefined ? 'did not recover' : `${(o.recoverMs / 1000).toFixed(1)} s`}`);
  console.log(
    `  lost: accounts ${o.lost.accounts}, clients ${o.lost.clients}, sessions ${o.lost.sessions}${o.allowedSessionLoss ? ` (up to ${o.allowedSessionLoss} documented as in flight)` : ''}, refresh tokens ${o.lost.refreshTokens}`,
  );
  for (const c of o.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}`);
  for (const s of t.samples) console.log(`  unexpected: ${s}`);
}

type Scenario = { name: string; run(pg: PrivatePostgres): Promise<Outcome> };

/** Whether an instance's /readyz says it can reach every store. */
const ready = async (url: string) => (await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5_000) }).catch(() => undefined))?.status === 200;

/** A store's address loses every open connection without a reset, and points to the store again 4 s later; recovered once both instances are ready. */
async function lostThenFailedOver(d: Deployment, name: string, address: { lose(): void; failOver(): void }): Promise<Outcome> {
  try {
    return await underLoad(
      d,
      name,
      async () => {
        address.lose();
        await sleep(4_000);
        address.failOver();
      },
      { recovered: async () => (await ready(d.a.url)) && (await ready(d.b.url)) },
    );
  } finally {
    await d.close();
  }
}

const scenarios: Scenario[] = [
  { name: 'Two instances are one provider', run: oneProvider },
  {
    name: 'Redis (one server) killed and restarted',
    async run(pg) {
      const r = await redisServer();
      const d = await deploy('standalone', pg, { REDIS_URL: `redis://127.0.0.1:${r.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port]);
      try {
        const o = await underLoad(d, this.name, async () => {
          await r.kill();
          await sleep(5_000);
          await r.start();
        });
        o.checks.push(await auditAnchoredAgain(d));
        return o;
      } finally {
        await d.close();
      }
    },
  },
  {
    name: 'Redis Sentinel: the master killed, the replica promoted',
    async run(pg) {
      const s = await sentinelSet();
      const d = await deploy('sentinel', pg, { REDIS_SENTINELS: s.sentinels.map((x) => `127.0.0.1:${x.port}`).join(','), REDIS_SENTINEL_MASTER: s.masterName }, new Redis({ sentinels: s.sentinels.map((x) => ({ host: '127.0.0.1', port: x.port })), name: s.masterName }), () => [s.currentMasterPort()]);
      try {
        const o = await underLoad(
          d,
          this.name,
          async () => {
            await s.master.kill();
            await until('fail-over', () => s.currentMasterPort() === s.replica.port, 30_000);
            // The old master comes back as a replica of the new one.
            await s.master.start();
          },
          // Asynchronous replication: what the master acknowledged in its last moments may not have
          // reached the replica. The snapshot is taken a second before the kill, so in practice 0.
          { allowedSessionLoss: 0 },
        );
        o.checks.push({ what: 'the replica is the master now', ok: s.currentMasterPort() === s.replica.port });
        o.checks.push({ what: lockoutCounts([s.currentMasterPort()], d.prefix), ok: true });
        return o;
      } finally {
        await d.close();
      }
    },
  },
  {
    name: 'Redis Cluster (3 masters): the master holding the sessions killed and restarted',
    async run(pg) {
      const c = await redisCluster();
      const nodes = c.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
      const d = await deploy('cluster', pg, { REDIS_CLUSTER_NODES: nodes }, new Cluster(c.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))), () => c.nodes.map((n) => n.port));
      try {
        const holder = c.nodeFor('{oidc}');
        const o = await underLoad(d, this.name, async () => {
          await holder.kill();
          await sleep(5_000);
          await holder.start();
          await until('cluster_state:ok on every node', () => c.nodes.every((n) => redisCli(n.port, 'cluster', 'info').includes('cluster_state:ok')), 30_000);
        });
        // Lockout keys (one hash tag per account) spread over the masters; the sign-ins with a wrong password make some.
        const perNode = c.nodes.map((n) => scanPorts([n.port], `${d.prefix}lockout:*`).length);
        o.checks.push({ what: `lockout keys on each master: ${perNode.join(', ')}`, ok: true });
        o.checks.push({ what: lockoutCounts(c.nodes.map((n) => n.port), d.prefix), ok: true });
        return o;
      } finally {
        await d.close();
      }
    },
  },
  {
    name: 'PostgreSQL restarted (pg_ctl restart -m fast)',
    async run(pg) {
      const r = await redisServer();
      const d = await deploy('pg-restart', pg, { REDIS_URL: `redis://127.0.0.1:${r.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port]);
      try {
        return await underLoad(d, this.name, async () => {
          pg.stop();
          await sleep(4_000);
          pg.start();
        });
      } finally {
        await d.close();
      }
    },
  },
  {
    name: 'PostgreSQL lost without a reset, then failed over to the same address',
    async run(pg) {
      const r = await redisServer();
      const address = await movingAddress(pg.port);
      const d = await deploy('pg-lost', pg, { REDIS_URL: `redis://127.0.0.1:${r.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port], { databasePort: address.port });
      // Ready again means PostgreSQL answers each instance again: client_credentials would not tell.
      return lostThenFailedOver(d, this.name, address);
    },
  },
  {
    name: 'Redis lost without a reset, then failed over to the same address',
    async run(pg) {
      const r = await redisServer();
      const address = await movingAddress(r.port);
      const d = await deploy('redis-lost', pg, { REDIS_URL: `redis://127.0.0.1:${address.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port]);
      // Ready again means Redis answers each instance again, on a new connection.
      return lostThenFailedOver(d, this.name, address);
    },
  },
  {
    name: 'Rolling restart: SIGTERM to one of two instances under load, then started again',
    async run(pg) {
      const r = await redisServer();
      const d = await deploy('rolling', pg, { REDIS_URL: `redis://127.0.0.1:${r.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port]);
      let exitCode: number | null = -1;
      try {
        const o = await underLoad(d, this.name, async () => {
          exitCode = await d.a.stop('SIGTERM');
          d.a = await startInstance(d.env, d.a.port, join(d.env.YIHAO_DATA_DIR!, 'instances.log'));
        });
        o.checks.push({ what: `the stopped instance exited with code 0 (got ${exitCode})`, ok: exitCode === 0 });
        return o;
      } finally {
        await d.close();
      }
    },
  },
];

/** The `kid` of a JWT's header. */
const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid?: string }).kid;

/** "Two instances are one provider": each promise checked across two processes on different ports. */
async function oneProvider(pg: PrivatePostgres): Promise<Outcome> {
  const r = await redisServer();
  const d = await deploy('one-provider', pg, { REDIS_URL: `redis://127.0.0.1:${r.port}` }, new Redis(r.port, '127.0.0.1'), () => [r.port], { operators: true });
  const tally = newTally();
  const host = new URL(d.issuer).host;
  const onA = new Balancer(() => [d.a.url], tally, host);
  const onB = new Balancer(() => [d.b.url], tally, host);
  const checks: Outcome['checks'] = [];
  const check = async (what: string, run: () => Promise<boolean>) => {
    try {
      checks.push({ what, ok: await run() });
    } catch (e) {
      checks.push({ what: `${what}: ${(e as Error).message}`, ok: false });
    }
  };
  try {
    const citizen = d.citizens[0]!;
    let tokens: Awaited<ReturnType<typeof signInFlow>>;
    await check('sign in on A, then userinfo and refresh on B with A\'s tokens', async () => {
      tokens = await signInFlow(onA, d.rp, d.issuer, citizen, onB);
      return Boolean(tokens?.refreshToken);
    });
    await check('a refresh token rotated on B is refused on A when reused', async () => {
      const body = `grant_type=refresh_token&refresh_token=${encodeURIComponent(tokens!.refreshToken)}`;
      const auth = `Basic ${Buffer.from(`${d.rp.clientId}:${d.rp.clientSecret}`).toString('base64')}`;
      const first = await onB.send('/token', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body });
      // The reuse is refused (invalid_grant, a 400): counted here as expected, not as an unexpected answer.
      const reuse = await fetch(`${d.a.url}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', host: new URL(d.issuer).host }, body });
      return first.status === 200 && reuse.status === 400 && ((await reuse.json()) as { error: string }).error === 'invalid_grant';
    });
    // The operators sign in at loa:2 on A (the issuer), as at the console: password, then TOTP set-up.
    let superAdmin: SignedInOperator | undefined;
    let reviewer: SignedInOperator | undefined;
    await check('two operators (a super-admin and a reviewer) sign in on A at loa:2 and get admin API tokens', async () => {
      superAdmin = await signInOperator(d.console, d.operators!.superAdmin);
      reviewer = await signInOperator(d.console, d.operators!.reviewer);
      const me = await superAdmin.api('GET', '/me');
      return me.status === 200 && me.body.sub === superAdmin.sub;
    });
    await check('a key rotated through A\'s admin API (POST /keys/rotate) is published by A and B before either signs with it, and B signs ID tokens with it after keys.publishSeconds (6 s, three polls; failed past 18 s, a margin for a loaded machine)', async () => {
      if (!superAdmin) throw new Error('no operator signed in');
      const rotated = await superAdmin.api('POST', '/keys/rotate');
      if (rotated.status !== 200) throw new Error(`rotate answered ${rotated.status}: ${JSON.stringify(rotated.body).slice(0, 200)}`);
      const rotatedAt = Date.now();
      const activated = (rotated.body as { activated: string[] }).activated;
      const jwks = async (url: string) => (await (await fetch(`${url}/jwks`)).json()) as JSONWebKeySet;
      const has = (set: JSONWebKeySet, kid: string) => set.keys.some((k) => k.kid === kid);
      let idToken: string | undefined;
      let unpublishedUse: string | undefined;
      await until('B signs with the new key, and A and B publish it', async () => {
        // Read before the sign-in: a key must be published by both before any token carries it.
        const [onA, onBNow] = await Promise.all([jwks(d.a.url), jwks(d.b.url)]);
        const t = await signInFlow(onB, d.rp, d.issuer, d.citizens[1]!);
        idToken = t?.idToken;
        const kid = idToken ? kidOf(idToken)! : undefined;
        if (kid && activated.includes(kid) && !(has(onA, kid) && has(onBNow, kid))) unpublishedUse ??= kid;
        return Boolean(kid && activated.includes(kid));
      }, 26_000);
      if (unpublishedUse) throw new Error(`B signed with ${unpublishedUse} before A and B both published it`);
      const took = Date.now() - rotatedAt;
      // The ID token B signed verifies with B's published key of that kid; A's earlier one still verifies (the retired key stays published).
      const published = createLocalJWKSet(await jwks(d.b.url));
      const fresh = await jwtVerify(idToken!, published, { issuer: d.issuer, audience: d.rp.clientId });
      const earlier = await jwtVerify(tokens!.idToken, published, { issuer: d.issuer, audience: d.rp.clientId });
      checks.push({ what: `  new key ${kidOf(idToken!)} in use on B ${(took / 1000).toFixed(1)} s after A answered the rotation (published by both before; one sign-in included)`, ok: true });
      return fresh.protectedHeader.kid === kidOf(idToken!) && earlier.protectedHeader.kid !== fresh.protectedHeader.kid && took < 6_000 + 12_000;
    });
    await check('lockout counts across both: 5 wrong passwords, alternating A and B, lock the account on both', async () => {
      const citizen = d.citizens[2]!;
      // Refusals are the point here (401, then 423): tallied apart from the unexpected answers.
      const refusedA = new Balancer(() => [d.a.url], newTally(), host);
      const refusedB = new Balancer(() => [d.b.url], newTally(), host);
      for (let i = 0; i < 5; i++) await loginAttempt(i % 2 ? refusedB : refusedA, d.rp, { identifier: citizen.identifier, password: `wrong-${i}-Aa1` });
      // The right password, now, on each instance: both refuse it (the guess throttle of
      // src/accounts/lockout.ts: a wait after maxFailures, told as "Too many failed sign-in attempts").
      const [a, b] = [await loginAttempt(refusedA, d.rp, citizen), await loginAttempt(refusedB, d.rp, citizen)];
      const refused = (page: string) => /Too many failed sign-in attempts|temporarily locked/.test(page);
      if (!refused(a) || !refused(b)) throw new Error(`not refused: ${[a, b].map((p) => p.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 160)).join(' | ')}`);
      return true;
    });
    await check('log out on A ends the session on B (prompt=none on B: a code before, login_required after)', async () => {
      const jar = new Map<string, string>();
      const t = await signInFlow(onA, d.rp, d.issuer, d.citizens[3]!, onA, jar);
      if (!t) throw new Error('the sign-in on A failed');
      // A silent authorization on B with the browser's cookies: where it sends the browser back.
      const silent = async () => {
        const q = new URLSearchParams({ client_id: d.rp.clientId, response_type: 'code', redirect_uri: d.rp.redirectUri, scope: 'openid profile', prompt: 'none', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
        let res = await browserSend(onB, jar, `/auth?${q}`);
        for (let hops = 0; hops < 5 && res.status >= 300 && res.status < 400; hops++) {
          const loc = new URL(String(res.headers.location), d.issuer);
          if (loc.origin !== new URL(d.issuer).origin) return loc.searchParams;
          res = await browserSend(onB, jar, `${loc.pathname}${loc.search}`);
        }
        throw new Error(`no redirect back to the RP (${res.status})`);
      };
      const before = await silent();
      if (!before.get('code')) throw new Error(`B did not see A's session: ${before.get('error') ?? 'no code'}`);
      // RP-initiated logout on A: the confirmation page, then "Sign out".
      const page = await browserSend(onA, jar, `/session/end?${new URLSearchParams({ id_token_hint: t.idToken, client_id: d.rp.clientId, ui_locales: 'en' })}`);
      const xsrf = field(page.text, 'xsrf');
      const confirm = action(page.text, '/session/end');
      if (!xsrf || !confirm) throw new Error(`no logout form (${page.status})`);
      const done = await browserSend(onA, jar, new URL(confirm, d.issuer).pathname, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ xsrf, logout: 'yes' }).toString() });
      if (done.status >= 400) throw new Error(`logout answered ${done.status}`);
      const after = await silent();
      return !after.get('code') && after.get('error') === 'login_required';
    });
    await check('a client made through A\'s admin API and approved by a second operator is refused by B at once when suspended through A (invalid_client), and taken back at once when resumed (10 times)', async () => {
      if (!superAdmin || !reviewer) throw new Error('no operators signed in');
      const made = await superAdmin.api('POST', '/clients', { department_id: d.operators!.departmentId, settings: { client_name: '故障演练服务', grant_types: ['client_credentials'], scope: 'openid' } });
      if (made.status !== 201) throw new Error(`create answered ${made.status}: ${JSON.stringify(made.body).slice(0, 200)}`);
      const clientId = made.body.client.client_id as string;
      const change = `/client-changes/${made.body.change.id as string}`;
      const submitted = await superAdmin.api('POST', `${change}/submit`);
      if (submitted.status !== 200) throw new Error('submit refused');
      // Four eyes: its author cannot approve it; the reviewer can (naming the revision it saw).
      const own = await superAdmin.api('POST', `${change}/approve`, { revision: submitted.body.revision });
      const approved = await reviewer.api('POST', `${change}/approve`, { revision: submitted.body.revision });
      if (own.status !== 403 || approved.status !== 200 || approved.body.client.status !== 'active') throw new Error(`approval: by its author ${own.status}, by the reviewer ${approved.status}`);
      const rp = { clientId, clientSecret: made.body.client_secret as string };
      // Its refusals are the point: tallied apart.
      const checkOnB = new Balancer(() => [d.b.url], newTally(), host);
      const tokenOnB = async () => {
        const res = await checkOnB.send('/token', { method: 'POST', headers: { authorization: basic(rp), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
        return res.status === 401 ? (JSON.parse(res.text) as { error: string }).error : String(res.status);
      };
      const seen: string[] = [];
      for (let i = 0; i < 10; i++) {
        const cached = await tokenOnB(); // B has just read (and cached) the client
        const suspend = await superAdmin.api('POST', `/clients/${clientId}/suspend`, { reason: '故障演练' });
        const suspended = await tokenOnB();
        const resume = await superAdmin.api('POST', `/clients/${clientId}/resume`);
        const resumed = await tokenOnB();
        seen.push(`${cached}/${suspend.status}:${suspend.body?.status}/${suspended}/${resume.status}:${resume.body?.status}/${resumed}`);
      }
      const ok = seen.every((x) => x === '200/200:suspended/invalid_client/200:active/200');
      if (!ok) throw new Error(`B answered (before/suspend on A/after/resume on A/after): ${seen.join(' ')}`);
      return ok;
    });
    await check('rate limits count across both: failed client authentication at /token alternating A and B is refused (429) by the 50th in total (the suspension check\'s 10 refusals count too)', async () => {
      // Refusals are the point: tallied apart. One bad secret, so every answer is invalid_client.
      const refusedA = new Balancer(() => [d.a.url], newTally(), host);
      const refusedB = new Balancer(() => [d.b.url], newTally(), host);
      const auth = `Basic ${Buffer.from(`${d.rp.clientId}:not-the-secret`).toString('base64')}`;
      let firstRefused: number | undefined;
      for (let i = 1; i <= 50 && firstRefused === undefined; i++) {
        const res = await (i % 2 ? refusedA : refusedB).send('/token', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
        if (res.status === 429) firstRefused = i;
        else if (res.status !== 401) throw new Error(`attempt ${i} answered ${res.status}`);
      }
      // And the other instance refuses too, at once.
      const other = await ((firstRefused ?? 0) % 2 ? refusedB : refusedA).send('/token', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      checks.push({ what: `  first 429 at attempt ${firstRefused ?? 'none'} of 50; the other instance then answered ${other.status}`, ok: true });
      return firstRefused !== undefined && firstRefused <= 50 && other.status === 429;
    });
    await check('exactly one audit sealer: one lease holder, every event sealed once, in one unbroken sequence', async () => {
      await until('every event sealed', async () => Number(((await d.db('audit_events').whereNull('seq').count({ n: '*' })) as { n: string }[])[0]!.n) === 0, 20_000);
      const seqs = ((await d.db('audit_events').orderBy('seq').select('seq')) as { seq: number }[]).map((x) => Number(x.seq));
      const holder = (await d.db('audit_sealer_lease').first('holder')) as { holder: string | null };
      const pids = [d.a.proc.pid, d.b.proc.pid].map(String);
      return seqs.length > 0 && seqs.every((v, i) => v === i + 1) && Boolean(holder.holder && pids.some((p) => holder.holder!.includes(`:${p}:`)));
    });
  } finally {
    await d.close();
  }
  return { name: 'Two instances are one provider', tally, recoverMs: 0, lost: { accounts: 0, clients: 0, sessions: 0, refreshTokens: 0 }, allowedSessionLoss: 0, checks };
}

async function main(): Promise<void> {
  const only = process.env.FAULTS_ONLY;
  const chosen = only ? scenarios.filter((s) => s.name.toLowerCase().includes(only.toLowerCase())) : scenarios;
  const started = Date.now();
  const pg = await privatePostgres();
  console.log(`fault suite: private PostgreSQL on ${pg.port}, ${chosen.length} scenarios of ${SECONDS} s of load each`);
  const outcomes: Outcome[] = [];
  try {
    for (const s of chosen) {
      let o: Outcome;
      try {
        o = await s.run(pg);
      } catch (e) {
        o = { name: s.name, tally: newTally(), recoverMs: undefined, lost: { accounts: 0, clients: 0, sessions: 0, refreshTokens: 0 }, allowedSessionLoss: 0, checks: [], error: (e as Error).stack ?? String(e) };
      }
      print(o);
      outcomes.push(o);
    }
  } finally {
    await stopAll();
  }
  const passed = outcomes.filter(verdict).length;
  console.log(`\nfault suite took ${Math.round((Date.now() - started) / 1000)} s; the instances' logs of this run: ${LAST_LOGS}/`);
  console.log(`${passed} passed, ${outcomes.length - passed} failed`);
  process.exit(passed === outcomes.length ? 0 : 1);
}

main().catch(async (e: unknown) => {
  console.error(e);
  await stopAll();
  console.log('0 passed, 1 failed');
  process.exit(1);
});
