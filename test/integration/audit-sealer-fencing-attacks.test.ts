/**
 * Attacks on the elected audit sealer (issue 10; a helper's review) under stalls, races, clock skew and lease tampering.
 * One sealer at a time, each batch fenced by the lease row it renews first; no row sealed twice,
 * no fork, no event lost, and `verify` intact afterwards. Stalls are made by holding a sealer's own
 * database calls (a proxy over its handle) and the lease's expiry by moving the clock forward.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { redisAuditAnchor, type AuditAnchor } from '../../src/audit/audit-anchor.js';
import type { Database } from '../../src/storage/database.js';
import { auditOn, auditStores, auditTestKey, type AuditStore } from '../support/audit.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';

const LEASE_MS = 10_000;
const event = (i: number) => ({ action: 'admin.test.event' as const, actorType: 'system' as const, details: { i } });

/** Date.now moved by `offset` ms (every instance in this process reads it). */
function controlClock() {
  const real = Date.now.bind(Date);
  const clock = { offset: 0 };
  const spy = vi.spyOn(Date, 'now').mockImplementation(() => real() + clock.offset);
  return { clock, restore: () => spy.mockRestore() };
}

type Gate = { table: string; reached: () => void; held: Promise<void> };

/**
 * A handle on `db` whose next sealing transaction can be held: before it starts (`beforeBatch`), or
 * at the first statement on `table` inside it. Returns a promise that resolves once the sealer is
 * held, and the release.
 */
function stallable(db: Database) {
  let before: Gate | undefined;
  let inside: Gate | undefined;
  const gate = (table: string) => {
    let release!: () => void;
    let reached!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const at = new Promise<void>((r) => (reached = r));
    return { g: { table, reached, held }, at, release };
  };
  const wrapTrx = (trx: Database) =>
    new Proxy(trx, {
      apply(target, self, args: unknown[]) {
        const builder = Reflect.apply(target, self, args) as { then: (...a: unknown[]) => unknown };
        if (inside && String(args[0]) === inside.table) {
          const g = inside;
          inside = undefined;
          const then = builder.then.bind(builder);
          builder.then = (...a: unknown[]) => (g.reached(), g.held.then(() => then(...a)));
        }
        return builder;
      },
    });
  const proxy = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === 'transaction') {
        return async (cb: (trx: Database) => Promise<unknown>) => {
          if (before) {
            const g = before;
            before = undefined;
            g.reached();
            await g.held;
          }
          return target.transaction((trx) => cb(wrapTrx(trx as unknown as Database)));
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return {
    db: proxy,
    beforeBatch() {
      const { g, at, release } = gate('');
      before = g;
      return { at, release };
    },
    insideBatchAt(table: string) {
      const { g, at, release } = gate(table);
      inside = g;
      return { at, release };
    },
  };
}

describe.each(auditStores({ migrated: true }))('audit sealer fencing under attack ($name)', ({ name, enabled, open }) => {
  const redis = name === 'postgres' && enabled && redisAvailable ? new Redis(REDIS_URL) : undefined;
  const prefix = `${uniqueName('yihao_sealer_fencing')}:`;
  afterAll(async () => {
    const keys = (await redis?.keys(`${prefix}*`)) ?? [];
    if (keys.length) await redis!.del(...keys);
    redis?.disconnect();
  });
  /** postgres+redis: the anchor in Redis, shared by the instances; SQLite: none. */
  const newAnchor = (): AuditAnchor | undefined => (redis ? redisAuditAnchor(redis, `${prefix}${Math.random().toString(36).slice(2)}:`) : undefined);

  /** One chain, places 1..n, every event once, every place once, verify intact (and the anchor checked). */
  async function expectOneIntactChain(s: AuditStore, log: ReturnType<typeof auditOn>['log'], n: number, anchor: AuditAnchor | undefined) {
    const rows = (await s.db('audit_events').orderBy('seq').select('id', 'seq', 'details')) as { id: number; seq: number | null; details: string }[];
    expect(rows.filter((r) => r.seq === null)).toEqual([]);
    expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => (JSON.parse(r.details) as { i: number }).i).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // No two checkpoints sign two hashes at one place.
    const cps = (await s.db('audit_checkpoints').select('seq', 'hash')) as { seq: number; hash: string }[];
    const bySeq = new Map<number, Set<string>>();
    for (const c of cps) bySeq.set(Number(c.seq), (bySeq.get(Number(c.seq)) ?? new Set()).add(c.hash));
    for (const hashes of bySeq.values()) expect(hashes.size).toBe(1);
    const report = await log.check();
    expect(report.firstBroken).toBeUndefined();
    expect(report).toMatchObject({ intact: true, checked: n, unsealed: { count: 0 } });
    if (anchor) expect(report.anchor).toEqual({ status: 'checked', seq: n });
  }

  it.skipIf(!enabled)('a sealer held up between taking its lease and its batch, past the lease, while another seals, commits nothing when it resumes', async () => {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const stalled = stallable(s.db);
      const a = auditOn(stalled.db, key, { leaseMs: LEASE_MS, anchor });
      const b = auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor });
      for (let i = 1; i <= 3; i++) await a.log.append(event(i));
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 3 });
      for (let i = 4; i <= 7; i++) await a.log.append(event(i));

      const hold = stalled.beforeBatch();
      const aPass = a.sealer.sealNow();
      await hold.at;
      // A's lease runs out while it is held; B takes it and seals everything.
      clock.offset += 3 * LEASE_MS;
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 4 });
      for (let i = 8; i <= 9; i++) await b.log.append(event(i));
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 2 });
      hold.release();
      expect(await aPass).toMatchObject({ leader: false, sealed: 0, checkpoints: 0 });
      expect(await a.sealer.sealNow()).toMatchObject({ leader: false, sealed: 0 });
      await expectOneIntactChain(s, a.log, 9, anchor);
    } finally {
      restore();
      await s.close();
    }
  });

  it.skipIf(!enabled)('a sealer held up inside its batch before it renews the lease, past the lease, while another seals, rolls back when it resumes', async () => {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const stalled = stallable(s.db);
      const a = auditOn(stalled.db, key, { leaseMs: LEASE_MS, anchor });
      const b = auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor });
      for (let i = 1; i <= 3; i++) await a.log.append(event(i));
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 3 });
      for (let i = 4; i <= 7; i++) await a.log.append(event(i));

      // Held after `now` was read and the transaction began, before the renewal statement.
      const hold = stalled.insideBatchAt('audit_sealer_lease');
      const aPass = a.sealer.sealNow();
      await hold.at;
      clock.offset += 3 * LEASE_MS;
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 4 });
      await b.log.append(event(8));
      hold.release();
      expect(await aPass).toMatchObject({ leader: false, sealed: 0, checkpoints: 0 });
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1 });
      await expectOneIntactChain(s, a.log, 8, anchor);
    } finally {
      restore();
      await s.close();
    }
  });

  it.skipIf(!enabled || name !== 'postgres')('a sealer held up inside its batch after renewing, past its lease: the instance taking over waits for it, then chains after it', async () => {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const stalled = stallable(s.db);
      const a = auditOn(stalled.db, key, { leaseMs: LEASE_MS, anchor });
      const bDb = s.second();
      const b = auditOn(bDb, key, { leaseMs: LEASE_MS, anchor });
      for (let i = 1; i <= 3; i++) await a.log.append(event(i));
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 3 });
      for (let i = 4; i <= 7; i++) await a.log.append(event(i));

      // Held at its first read of the chain, the lease row renewed and locked by its transaction.
      const hold = stalled.insideBatchAt('audit_events');
      const aPass = a.sealer.sealNow();
      await hold.at;
      clock.offset += 3 * LEASE_MS;
      let bDone = false;
      const bPass = b.sealer.sealNow().finally(() => (bDone = true));
      // B's election statement waits on the lease row's lock (seen in pg_stat_activity).
      const waiting = async () =>
        Number(((await s.db.raw(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`)) as { rows: { n: string }[] }).rows[0]!.n);
      await expect.poll(waiting, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0);
      expect(bDone).toBe(false);
      for (let i = 8; i <= 9; i++) await b.log.append(event(i));
      hold.release();
      const aResult = await aPass;
      const bResult = await bPass;
      // A finishes the batch it had begun (it still held the row); B then takes the expired lease.
      expect(aResult.sealed + bResult.sealed).toBe(6);
      expect(bResult.leader).toBe(true);
      expect(await a.sealer.sealNow()).toMatchObject({ leader: false, sealed: 0 });
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true });
      await expectOneIntactChain(s, a.log, 9, anchor);
    } finally {
      restore();
      await s.close();
    }
  });

  it.skipIf(!enabled)('two instances starting at once on a free lease: exactly one seals, nothing twice', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const instances = [auditOn(s.db, key, { leaseMs: LEASE_MS, anchor, batchSize: 7 }), auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor, batchSize: 7 }), auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor, batchSize: 7 })];
      for (let i = 1; i <= 40; i++) await instances[i % 3]!.log.append(event(i));
      const passes = await Promise.all(instances.map((x) => x.sealer.sealNow()));
      expect(passes.filter((p) => p.leader)).toHaveLength(1);
      expect(passes.reduce((n, p) => n + p.sealed, 0)).toBe(40);
      await expectOneIntactChain(s, instances[0]!.log, 40, anchor);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('an instance whose clock runs ahead by more than the lease takes the lease from the sealer mid-run, yet nothing forks, repeats or is lost', async () => {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const a = auditOn(s.db, key, { leaseMs: LEASE_MS, anchor, batchSize: 3 });
      const b = auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor, batchSize: 3 });
      const SKEW = 5 * LEASE_MS;
      let n = 0;
      const leaders: string[] = [];
      for (let round = 0; round < 8; round++) {
        for (let i = 0; i < 4; i++) await (round % 2 ? b : a).log.append(event(++n));
        // Each instance passes on its own clock: A true, B five leases ahead.
        clock.offset = 0;
        const pa = await a.sealer.sealNow();
        clock.offset = SKEW;
        const pb = await b.sealer.sealNow();
        if (pa.leader) leaders.push('a');
        if (pb.leader) leaders.push('b');
      }
      clock.offset = SKEW;
      while ((await b.sealer.sealNow()).sealed > 0);
      expect(leaders).toContain('b');
      clock.offset = 0;
      await expectOneIntactChain(s, a.log, n, anchor);
    } finally {
      restore();
      await s.close();
    }
  });

  it.skipIf(!enabled || name !== 'postgres')('an event whose business transaction rolls back while the sealer seals later events is never sealed or shown, and leaves no gap', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const { log, sealer } = auditOn(s.db, key, { leaseMs: LEASE_MS, anchor });
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const early = new Promise<void>((r) => (inserted = r));
      const doomed = s.db.transaction(async (trx) => {
        await log.append({ action: 'admin.test.event', actorType: 'system', details: { i: 'rolled back' } }, { trx });
        inserted();
        await held;
        throw new Error('the change failed');
      });
      await early;
      await log.append(event(1));
      await log.append(event(2));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 2 });
      release();
      await expect(doomed).rejects.toThrow('the change failed');
      await log.append(event(3));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1 });
      expect((await log.query({ limit: 10 })).events.map((e) => e.details)).toEqual([{ i: 3 }, { i: 2 }, { i: 1 }]);
      await expectOneIntactChain(s, log, 3, anchor);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('a burst of thousands of events with odd payloads (NUL, lone surrogates, emoji, 256 KB) is sealed in one pass and verifies', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const { log, sealer } = auditOn(s.db, key, { leaseMs: LEASE_MS, anchor });
      const odd = ['nul\u0000byte', 'lone \ud800 surrogate', 'trail \udfff', '一号 🪪 \u202e rtl', 'x'.repeat(256 * 1024), '"quoted" \\ back\nslash'];
      let n = 0;
      for (let chunk = 0; chunk < 30; chunk++) await Promise.all(Array.from({ length: 100 }, () => log.append(event(++n))));
      for (const text of odd) await log.append({ action: 'admin.test.event', actorType: 'system', actorId: '操作员-😀', details: { i: ++n, text } });
      const pass = await sealer.sealNow();
      expect(pass).toMatchObject({ leader: true, sealed: n });
      expect(pass.refused).toBeUndefined();
      const shown = (await log.query({ limit: odd.length })).events.reverse();
      expect(shown.map((e) => (e.details as { text: string }).text)).toEqual(odd);
      await expectOneIntactChain(s, log, n, anchor);
    } finally {
      await s.close();
    }
  }, 120_000);

  it.skipIf(!enabled)('a checkpoint signed by an instance whose clock ran an hour ahead does not stop the next sealer signing idle checkpoints (docs/audit.md: tail truncation)', async () => {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const a = auditOn(s.db, key, { leaseMs: LEASE_MS, anchor });
      const b = auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor });
      await a.log.append(event(1));
      clock.offset = 3_600_000;
      expect(await b.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      await b.sealer.stop();
      // A (true clock) leads a quiet log; its idle checkpoint is due every 60 s (auditOn's idleCheckpointMs).
      clock.offset = 0;
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0 });
      clock.offset = 2 * 60_000;
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 1 });
    } finally {
      restore();
      await s.close();
    }
  });

  /** After `tamper` (what someone who can write the database does to the lease), a running sealer and a freshly started one still seal everything within a few leases. */
  async function sealingSurvives(tamper: (db: Database) => Promise<unknown>) {
    const s = await open();
    const { clock, restore } = controlClock();
    try {
      const key = auditTestKey();
      const anchor = newAnchor();
      const a = auditOn(s.db, key, { leaseMs: LEASE_MS, anchor });
      await a.log.append(event(1));
      expect(await a.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1 });
      await tamper(s.db);
      await a.log.append(event(2));
      const b = auditOn(s.second(), key, { leaseMs: LEASE_MS, anchor });
      for (let i = 0; i < 3; i++) {
        clock.offset += 2 * LEASE_MS;
        await a.sealer.sealNow();
        await b.sealer.sealNow();
      }
      clock.offset = 0;
      expect((await a.log.check()).unsealed.count).toBe(0);
    } finally {
      restore();
      await s.close();
    }
  }

  it.skipIf(!enabled)('a database writer who deletes the lease row cannot stop every instance from ever sealing again', () => sealingSurvives((db) => db('audit_sealer_lease').delete()));

  it.skipIf(!enabled)('a database writer who sets the lease to a holder that does not exist, expiring in the far future, cannot stop sealing for good', () =>
    // No instance ever sets an expiry further than now + lease.
    sealingSurvives((db) => db('audit_sealer_lease').update({ holder: 'ghost:1:000000', expires_at: Date.now() + 100 * 365 * 86_400_000 })),
  );
});
