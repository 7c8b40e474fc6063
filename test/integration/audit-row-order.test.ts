/**
 * Found by a review: the chain's order is `seq`, but what auditors (console, admin API) and
 * citizens (portal) are shown is ordered, paged and cut by `id`, which no hash covered. A database
 * writer without the audit key rewrote the order the log is read in (or buried an event below a
 * citizen's page) and verify still said intact. Rows sealed now hash their id (`hash_version` 2).
 * And a row planted at the top of the place range made verify throw (PostgreSQL) or the sealer sign
 * a checkpoint no one could read (SQLite): verify now names it, and sealing stops, naming it.
 */
import { describe, expect, it } from 'vitest';
import { rowHash } from '../../src/audit/audit-chain.js';
import { migrations } from '../../migrations/index.js';
import { auditOn, auditStores, auditTestKey } from '../support/audit.js';

const stores = auditStores({ migrated: true });

describe.each(stores)('audit rows moved by id, or planted out of range ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('a sealed row given another id changes the order auditors read, and verify notices', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key);
      await log.append({ action: 'admin.client_change.submitted', actorType: 'operator', actorId: 'op-a', clientId: 'c1', departmentId: 'dp_1', details: { step: 1 } });
      await new Promise((r) => setTimeout(r, 5));
      await log.append({ action: 'admin.client_change.approved', actorType: 'operator', actorId: 'op-b', clientId: 'c1', departmentId: 'dp_1', details: { step: 2 } });
      await sealer.sealNow();
      expect((await log.check()).intact).toBe(true);
      const before = await log.query({ limit: 10 });
      expect(before.events.map((e) => e.details?.step)).toEqual([2, 1]);

      // The DBA swaps the two ids (no hash covers the id).
      const [a, b] = (await s.db('audit_events').orderBy('seq').select('id')) as { id: number }[];
      await s.db('audit_events').where({ id: a!.id }).update({ id: -1 });
      await s.db('audit_events').where({ id: b!.id }).update({ id: a!.id });
      await s.db('audit_events').where({ id: -1 }).update({ id: b!.id });

      const after = await log.query({ limit: 10 });
      const report = await log.check();
      // The approval is now shown before the submission (newest first: the submission is "newest").
      expect(after.events.map((e) => e.details?.step)).toEqual([1, 2]);
      // What the brief promises: a reorder does not pass verify.
      expect(report.intact).toBe(false);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('an event buried under a low id drops out of the citizen portal view, and verify notices', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key);
      await log.append({ action: 'account.disabled', actorType: 'operator', actorId: 'op-evil', accountId: 'sub-100', details: { reason: 'x' } });
      for (let i = 0; i < 50; i++) await log.append({ action: 'login.succeeded', actorType: 'citizen', actorId: 'sub-100', accountId: 'sub-100' });
      await sealer.sealNow();
      expect((await log.check()).intact).toBe(true);
      // Once sealed, the disable is buried far below the citizen's page of 50.
      const disabled = (await s.db('audit_events').where({ action: 'account.disabled' }).first('id')) as { id: number };
      await s.db('audit_events').where({ id: disabled.id }).update({ id: -1_000_000 });
      expect((await log.forAccount('sub-100', 50)).some((e) => e.action === 'account.disabled')).toBe(false);
      expect((await log.check()).intact).toBe(false);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('a row planted at the top of the place range: verify names it, and sealing stops naming it until it is removed', async () => {
    const s = await open();
    try {
      const key = auditTestKey();
      const { log, sealer } = auditOn(s.db, key);
      await log.append({ action: 'admin.test.event', actorType: 'system', details: { i: 1 } });
      await sealer.sealNow();
      const head = (await s.db('audit_events').orderBy('seq', 'desc').first()) as { seq: number; hash: string };
      const row = { at: Date.now(), action: 'admin.role.assigned', actor_type: 'operator', actor_id: 'ghost', account_id: null, client_id: null, channel: 'web', ip: null, request_id: null, details: '{}', department_id: null };
      const seq = s.db.client.config.client === 'pg' ? '9223372036854775807' : Number.MAX_VALUE * 10;
      await s.db('audit_events').insert({ ...row, seq, prev_hash: head.hash, hash: rowHash(head.hash, row) });
      // verify names the planted row, rather than throwing.
      const [planted] = (await s.db('audit_events').where({ action: 'admin.role.assigned' }).select('id')) as { id: number }[];
      expect(await log.check()).toMatchObject({ intact: false, firstBroken: { id: Number(planted!.id), reason: 'row_outside_chain' } });
      // Sealing stops, naming it, rather than chaining after it (an overflow, or a checkpoint no one can read).
      await log.append({ action: 'admin.test.event', actorType: 'system', details: { i: 2 } });
      await expect(sealer.sealNow()).rejects.toThrow(new RegExp(`audit row ${Number(planted!.id)} holds a place`));
      // Removed, the log seals on and verifies.
      await s.db('audit_events').where({ id: planted!.id }).delete();
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1 });
      expect(await log.check()).toMatchObject({ intact: true });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('migration 20261208_120 adds the hash version, and goes down and up again', async () => {
    const s = await open();
    try {
      const [, m] = migrations.find(([n]) => n === '20261208_120_audit_row_ids')!;
      expect(await s.db.schema.hasColumn('audit_events', 'hash_version')).toBe(true);
      await m.down!(s.db);
      expect(await s.db.schema.hasColumn('audit_events', 'hash_version')).toBe(false);
      await m.up(s.db);
      expect(await s.db.schema.hasColumn('audit_events', 'hash_version')).toBe(true);
    } finally {
      await s.close();
    }
  });
});
