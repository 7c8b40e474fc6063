/**
 * The sealer behind the hot path: one at a time across instances, taking over when the sealing
 * instance dies (a real process killed with SIGKILL), never skipping a row that commits late, never
 * sealing a row twice; and rows chained before the sealer existed stay valid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { GENESIS, rowHash } from '../../src/audit/audit-chain.js';
import { loadConfig } from '../../src/config/index.js';
import { migrations } from '../../migrations/index.js';
import { migrate, openDatabase } from '../../src/storage/database.js';
import { auditOn, auditStores, auditTestKey } from '../support/audit.js';
import { freePort, startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { createPgSchema, pgAvailable, PG_URL, redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';
import { pgUrlWithSchema } from '../support/yihao-cli.js';

const stores = auditStores({ migrated: false });

const event = (i: number) => ({ action: 'admin.test.event' as const, actorType: 'system' as const, details: { i } });

describe.each(stores)('audit sealer ($name)', ({ name, enabled, open }) => {
  it.skipIf(!enabled)('keeps rows chained before the sealer existed valid, signs them, and chains new rows after them', async () => {
    const s = await open();
    try {
      // The schema as it was, with rows chained the old way: in id order, each under the lock.
      const before = migrations.findIndex(([n]) => n === '20261204_013_audit_sealer');
      for (const [, m] of migrations.slice(0, before)) await m.up(s.db);
      let prev = GENESIS;
      for (let i = 1; i <= 5; i++) {
        const row = { at: 1764460800000 + i, action: 'login.succeeded', actor_type: 'citizen', actor_id: `s${i}`, account_id: `s${i}`, client_id: null, channel: 'web', ip: null, request_id: null, details: '{"i":1}', department_id: i % 2 ? 'dp_1' : null };
        const hash = rowHash(prev, row);
        await s.db('audit_events').insert({ ...row, prev_hash: prev, hash });
        prev = hash;
      }
      for (const [, m] of migrations.slice(before)) await m.up(s.db);

      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key);
      // Chained, but signed by nothing yet: the first pass signs the head it finds.
      expect(await log.check()).toMatchObject({ intact: false, checked: 5, firstBroken: { reason: 'unsigned_rows' } });
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 1 });
      expect(await log.check()).toMatchObject({ intact: true, checked: 5, checkpoints: 1 });
      await log.append(event(6));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1, checkpoints: 1 });
      expect(await log.check()).toMatchObject({ intact: true, checked: 6, checkpoints: 2 });
      // Quiet: no new checkpoint until idleCheckpointMs has passed.
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, checkpoints: 0 });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('lets one instance seal at a time, and another take over when its lease runs out or it stops', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const key = auditTestKey();
      const a = auditOn(s.db, key, { leaseMs: 60_000 });
      const b = auditOn(s.second(), key, { leaseMs: 60_000 });
      await a.log.append(event(1));
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1 });
      await b.log.append(event(2));
      expect(await b.sealer.sealNow()).toEqual({ leader: false, sealed: 0, checkpoints: 0 });
      // A clean stop frees the lease at once.
      await a.sealer.stop();
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1 });

      // A holder that vanished without stopping: its lease runs out first.
      await s.db('audit_sealer_lease').update({ holder: 'gone:1:x', expires_at: Date.now() + 60_000 });
      await b.log.append(event(3));
      expect(await b.sealer.sealNow()).toMatchObject({ leader: false });
      await s.db('audit_sealer_lease').update({ expires_at: Date.now() - 1 });
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1 });
      // The old holder, back from a pause, finds the lease gone and seals nothing.
      expect(await a.sealer.sealNow()).toMatchObject({ leader: false, sealed: 0 });
      await b.sealer.stop();
      expect(await b.log.check()).toMatchObject({ intact: true, checked: 3, unsealed: { count: 0 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('reports an intact log when a batch is sealed before each of the verifier\'s reads, through all its rounds', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key, { batchSize: 7 });
      for (let i = 0; i < 7; i++) await log.append(event(i));
      await sealer.sealNow();
      // The worst order a busy log and a running sealer can give the verifier: one more batch
      // appended and signed right before it turns from reading checkpoints to walking rows, and
      // again before it turns back, for as long as it reads.
      const reads = s.second();
      let last: string | undefined;
      let sealedDuring = 0;
      const interleaved = new Proxy(reads, {
        apply(target, self, args: unknown[]) {
          const builder = Reflect.apply(target, self, args) as { then: (...a: unknown[]) => unknown };
          const table = String(args[0]);
          if (table !== last && (table === 'audit_events' || table === 'audit_checkpoints')) {
            last = table;
            const then = builder.then.bind(builder);
            const sealOneMore = async () => {
              if (sealedDuring >= 20) return;
              for (let i = 0; i < 7; i++) await log.append(event(100 + sealedDuring * 7 + i));
              if ((await sealer.sealNow()).sealed === 7) sealedDuring++;
            };
            builder.then = (...a: unknown[]) => sealOneMore().then(() => then(...a));
          }
          return builder;
        },
      });
      const { log: reader } = auditOn(interleaved, key);
      const report = await reader.check();
      expect(report.firstBroken).toBeUndefined();
      // Batch after batch signed while it ran, through all its rounds and past them.
      expect(sealedDuring).toBeGreaterThan(10);
      expect(report.intact).toBe(true);
      expect(report.checked).toBeGreaterThan(7 * 6);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('reports an intact log to a verifier that runs while the sealer seals batch after batch', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key, { batchSize: 7 });
      const { log: reader } = auditOn(s.second(), key);
      for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 30 }, (_, j) => log.append(event(i * 30 + j))));
      let sealing = true;
      const seal = (async () => {
        while ((await sealer.sealNow()).sealed > 0);
      })().finally(() => (sealing = false));
      const reports = [];
      while (sealing) reports.push(await reader.check());
      await seal;
      reports.push(await reader.check());
      expect(reports.length).toBeGreaterThan(1);
      for (const r of reports) expect(r.firstBroken).toBeUndefined();
      expect(reports.at(-1)).toMatchObject({ intact: true, checked: 300, unsealed: { count: 0 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || name !== 'postgres')('seals a row that commits after a row with a higher id was sealed, instead of skipping it', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const early = new Promise<void>((r) => (inserted = r));
      // A business transaction takes its id first and commits last.
      const late = s.db.transaction(async (trx) => {
        await log.append(event(1), { trx });
        inserted();
        await held;
      });
      await early;
      await log.append(event(2));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1 });
      release();
      await late;
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1 });
      const rows = (await s.db('audit_events').orderBy('seq').select('id', 'seq')) as { id: number; seq: number }[];
      expect(rows.map((r) => r.seq)).toEqual([1, 2]);
      expect(rows[0]!.id).toBeGreaterThan(rows[1]!.id);
      expect(await log.check()).toMatchObject({ intact: true, checked: 2, unsealed: { count: 0 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('writes an event with its business change or not at all', async () => {
    const s = await open();
    try {
      await migrate(s.db);
      const { log } = auditOn(s.db, auditTestKey());
      await expect(
        s.db.transaction(async (trx) => {
          await log.append(event(1), { trx });
          throw new Error('the change failed');
        }),
      ).rejects.toThrow('the change failed');
      await s.db.transaction(async (trx) => log.append(event(2), { trx }));
      expect((await log.query({ limit: 10 })).events.map((e) => e.details)).toEqual([{ i: 2 }]);
    } finally {
      await s.close();
    }
  });
});

describe('sign-ins under load', () => {
  let h: Harness | undefined;
  afterAll(async () => h?.close());

  it.skipIf(!pgAvailable || !redisAvailable)('seals every audit event of concurrent sign-ins on PostgreSQL + Redis, in one intact chain', async () => {
    h = await startHarness({ backend: 'postgres+redis' });
    const client = await h.client({});
    const rp = await relyingParty(h, client);
    const citizens = await Promise.all(Array.from({ length: 6 }, () => h!.citizen()));
    await Promise.all(
      citizens.map(async (c) => scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: c.citizenId, password: c.password })),
    );
    const audit = h.yihao.services.audit;
    // The running sealer (1 s passes) chains them; a margin for a loaded machine.
    await expect.poll(async () => (await audit.check()).unsealed.count, { timeout: 30_000, interval: 250 }).toBe(0);
    const report = await audit.check();
    expect(report.firstBroken).toBeUndefined();
    for (const c of citizens) expect((await audit.forAccount(c.sub)).map((e) => e.action)).toEqual(['authorization.granted', 'consent.granted', 'login.succeeded']);
    expect(report.checked).toBe(Number(((await h.yihao.stores.db('audit_events').count({ n: '*' })) as { n: string }[])[0]!.n));
  });
});

describe('sealer fail-over between two instances', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const c of cleanups.reverse()) await c();
  });

  it.skipIf(!pgAvailable || !redisAvailable)('takes over when the sealing instance is killed: nothing lost, nothing sealed twice', async () => {
    const pg = await createPgSchema();
    cleanups.push(pg.drop);
    const dir = mkdtempSync(join(tmpdir(), 'yihao-failover-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const configFile = join(dir, 'config.json');
    // The load is unauthenticated admin API calls from one address: lift the edge limit on those.
    writeFileSync(configFile, JSON.stringify({ audit: { sealIntervalMs: 100, leaseSeconds: 2 }, rateLimits: { adminUnauthenticated: { points: 10_000, durationSeconds: 60 } } }));
    const [portA, portB] = [await freePort(), await freePort()];
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: pgUrlWithSchema(PG_URL, pg.schema),
      REDIS_URL,
      YIHAO_REDIS_PREFIX: `${uniqueName('yihao')}:`,
      YIHAO_DATA_DIR: dir,
      YIHAO_CONFIG: configFile,
      ISSUER: `http://127.0.0.1:${portA}`,
    };
    // Both instances read the same secrets.json, so they sign with the same audit key.
    const config = loadConfig(env);
    const start = async (port: number) => {
      const child = spawn(process.execPath, [join(root, 'dist', 'src', 'main.js')], { cwd: root, env: { PATH: process.env.PATH, ...env, PORT: String(port) }, stdio: 'ignore' });
      children.push(child);
      await expect.poll(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0), { timeout: 60_000, interval: 200 }).toBe(200);
      return child;
    };
    const a = await start(portA);
    const b = await start(portB);

    const db = openDatabase({ url: PG_URL, dataDir: dir, schema: pg.schema });
    cleanups.push(() => db.destroy());
    const holderPid = async () => Number(String(((await db('audit_sealer_lease').first('holder')) as { holder: string | null }).holder ?? '').split(':').at(-2));
    await expect.poll(holderPid, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
    const sealing = (await holderPid()) === a.pid ? { child: a, port: portA } : { child: b, port: portB };
    const other = sealing.child === a ? { child: b, port: portB } : { child: a, port: portA };

    // Each admin API call without a token is audited (admin.denied) before it is answered.
    let answered = 0;
    const call = (port: number) =>
      fetch(`http://127.0.0.1:${port}/admin/api/v1/audit/events`).then(
        (r) => void (r.status === 401 && answered++),
        () => undefined,
      );
    const ports = [sealing.port, other.port];
    for (let i = 0; i < 40; i++) await Promise.all([call(ports[0]!), call(ports[1]!), call(ports[i % 2]!)]);
    sealing.child.kill('SIGKILL');
    ports.shift();
    for (let i = 0; i < 40; i++) await Promise.all([call(other.port), call(other.port)]);

    // The survivor's lease comes once the dead one's runs out; then it seals everything left.
    await expect.poll(holderPid, { timeout: 30_000, interval: 200 }).toBe(other.child.pid);
    const unsealed = async () => Number(((await db('audit_events').whereNull('seq').count({ n: '*' })) as { n: string }[])[0]!.n);
    await expect.poll(unsealed, { timeout: 30_000, interval: 200 }).toBe(0);

    const rows = (await db('audit_events').where({ action: 'admin.denied' }).select('id', 'seq')) as { id: number; seq: number }[];
    // Every answered call has its row (a call cut off by the kill may have one too).
    expect(rows.length).toBeGreaterThanOrEqual(answered);
    expect(answered).toBeGreaterThanOrEqual(200);
    const all = (await db('audit_events').orderBy('seq').select('seq')) as { seq: number }[];
    expect(all.map((r) => Number(r.seq))).toEqual(all.map((_, i) => i + 1));
    const { log } = auditOn(db, auditTestKey(config.secrets.auditKey));
    expect(await log.check()).toMatchObject({ intact: true, checked: all.length, unsealed: { count: 0 } });

    other.child.kill('SIGTERM');
    await new Promise((r) => other.child.once('exit', r));
    // A clean stop hands the lease back.
    expect(await db('audit_sealer_lease').first('holder')).toEqual({ holder: null });
  });
});
