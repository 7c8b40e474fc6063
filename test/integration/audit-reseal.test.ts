/**
 * Someone who can write the database but does not hold the audit key must not be able to get the
 * key's holder, the running sealer, to sign a history they rewrote. The attack: delete the newest
 * checkpoints, edit or delete sealed rows, mark the rows after the last remaining checkpoint
 * unsealed (or delete them), and wait for the sealer to chain and sign them afresh. The log would
 * then verify, with a fresh last checkpoint that hides the rewrite. The sealer remembers the head
 * it signed last (and, with Redis, keeps it outside the database for the next sealer), refuses to
 * seal below it, and `yihao audit verify` checks the database against the copy in Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisAuditAnchor } from '../../src/audit/audit-anchor.js';
import { migrate } from '../../src/storage/database.js';
import { auditOn, auditStores, auditTestKey, type AuditStore } from '../support/audit.js';
import { redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';

const event = (i: number) => ({ action: 'admin.test.event' as const, actorType: 'system' as const, details: { i } });

describe.each(auditStores({ migrated: false }))('a rewritten history is not sealed again ($name)', ({ enabled, open }) => {
  const redis = redisAvailable ? new Redis(REDIS_URL) : undefined;
  const prefix = `${uniqueName('yihao_audit_anchor')}:`;
  afterAll(async () => {
    const keys = (await redis?.keys(`${prefix}*`)) ?? [];
    if (keys.length) await redis!.del(...keys);
    redis?.disconnect();
  });

  /** Ten events sealed in three batches: checkpoints at 3, 6 and 10. */
  async function sealedLog(s: AuditStore, anchorPrefix?: string) {
    await migrate(s.db);
    const key = auditTestKey();
    const anchor = anchorPrefix && redis ? redisAuditAnchor(redis, anchorPrefix) : undefined;
    const a = auditOn(s.db, key, { anchor });
    for (const [from, to] of [[1, 3], [4, 6], [7, 10]] as const) {
      for (let i = from; i <= to; i++) await a.log.append(event(i));
      expect(await a.sealer.sealNow()).toMatchObject({ sealed: to - from + 1, checkpoints: 1 });
    }
    expect(await a.log.check()).toMatchObject({ intact: true, checked: 10, checkpoints: 3 });
    return { key, anchor, ...a };
  }

  /** The attack: back to the checkpoint at row 3, row 5 gone, row 8 edited, the rest unsealed for the sealer to chain again. */
  async function rewrite(s: AuditStore) {
    await s.db('audit_checkpoints').where('seq', '>', 3).delete();
    const five = (await s.db('audit_events').where({ seq: 5 }).first('id')) as { id: number };
    await s.db('audit_events').where({ id: five.id }).delete();
    await s.db('audit_events').where({ seq: 8 }).update({ details: JSON.stringify({ i: 'edited' }) });
    await s.db('audit_events').where('seq', '>', 3).update({ seq: null, prev_hash: null, hash: null });
  }

  it.skipIf(!enabled)('the sealer that signed it refuses to chain the rows again or to sign an older head', async () => {
    const s = await open();
    try {
      const { log, sealer } = await sealedLog(s);
      await rewrite(s);
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: true });
      // Nothing signed the rewrite: the rows stay unsealed, and the last checkpoint keeps its age.
      const report = await log.check();
      expect(report.unsealed.count).toBe(6);
      expect(report.lastCheckpoint?.seq).toBe(3);
      expect(Number(((await s.db('audit_checkpoints').count({ n: '*' }).first()) as { n: number | string }).n)).toBe(1);

      // The newest rows deleted instead: the quiet sealer does not sign the shorter log as its head either.
      await s.db('audit_events').whereNull('seq').delete();
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, checkpoints: 0, refused: true });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('another instance taking over refuses too, and verify names the rewrite', async () => {
    const s = await open();
    try {
      const anchorPrefix = `${prefix}${Math.random().toString(36).slice(2)}:`;
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      await sealer.stop();
      await rewrite(s);
      // A new sealer (a fresh process on another instance) with the database and Redis to go by.
      const next = auditOn(s.second(), key, { anchor: redisAuditAnchor(redis!, anchorPrefix) });
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: true });
      const report = await next.log.check();
      expect(report.intact).toBe(false);
      expect(report.firstBroken).toMatchObject({ reason: 'rows_missing_at_end', anchor: true });
      // The log the first instance sees says the same.
      expect((await log.check()).intact).toBe(false);
    } finally {
      await s.close();
    }
  });
});
