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
import { afterAll, describe, expect, it, vi } from 'vitest';
import { anchoredHead, redisAuditAnchor, type AuditAnchor } from '../../src/audit/audit-anchor.js';
import { signCheckpoint } from '../../src/audit/audit-key.js';
import { createAuditLog, createAuditSealer, verifyKeys, type AuditSigningKey } from '../../src/audit/index.js';
import { migrate, type Database } from '../../src/storage/database.js';
import { auditOn, auditStores, auditTestKey, quietSealerLog, type AuditStore } from '../support/audit.js';
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
  async function sealedLog(s: AuditStore, anchorPrefix?: string | AuditAnchor, key = auditTestKey()) {
    await migrate(s.db);
    const anchor = typeof anchorPrefix === 'string' && redis ? redisAuditAnchor(redis, anchorPrefix) : typeof anchorPrefix === 'object' ? anchorPrefix : undefined;
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

  /**
   * The way around the memory of the sealer that signed the log: take its lease (as an instance
   * renews it: one further ahead is freed as forged), rewrite, add a
   * filler row so the rewritten chain reaches the anchor's place again, and free the lease for an
   * instance that never sealed.
   */
  async function rewriteBehindTheLease(s: AuditStore, sealer: { sealNow(): Promise<unknown> }) {
    await s.db('audit_sealer_lease').update({ holder: 'attacker', expires_at: Date.now() + 10_000 });
    expect(await sealer.sealNow()).toMatchObject({ leader: false });
    await rewrite(s);
    await s.db('audit_events').insert({ at: Date.now(), action: 'admin.test.event', actor_type: 'system', details: '{"i":"filler"}' });
    await s.db('audit_sealer_lease').update({ holder: null, expires_at: 0 });
  }

  const newAnchorPrefix = () => `${prefix}${Math.random().toString(36).slice(2)}:`;

  /** The anchor in Redis, with a switch that makes its reads fail as a stalled Redis's commands time out. */
  function flakyAnchor(anchorPrefix: string) {
    const real = redisAuditAnchor(redis!, anchorPrefix);
    const redisDown = { now: false };
    const anchor: AuditAnchor = {
      ...real,
      read: async () => {
        if (redisDown.now) throw new Error('Command timed out');
        return real.read();
      },
    };
    return { anchor, redisDown };
  }

  /**
   * The anchor in Redis, or (while `redisDown` says so) the same key through a Redis that refuses
   * every command: a server that is down, or unreachable from the sealing instance.
   */
  function switchableAnchor(anchorPrefix: string) {
    const up = redisAuditAnchor(redis!, anchorPrefix);
    const refusing = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    refusing.on('error', () => undefined);
    const down = redisAuditAnchor(refusing, anchorPrefix);
    const redisDown = { reads: false, writes: false };
    const anchor: AuditAnchor = {
      read: () => (redisDown.reads ? down : up).read(),
      write: (...a) => (redisDown.writes ? down : up).write(...a),
      replace: (...a) => (redisDown.writes ? down : up).replace(...a),
    };
    return { anchor, redisDown };
  }

  /** Deletes every row sealed after row 10 together with the checkpoints that signed them. */
  async function cutAfterTen(s: AuditStore) {
    await s.db('audit_checkpoints').where('seq', '>', 10).delete();
    await s.db('audit_events').where('seq', '>', 10).delete();
  }

  /** A sealer on another instance, whose log lines the test reads. */
  function sealerWith(db: Database, key: AuditSigningKey, anchor: AuditAnchor, more: { retiredPublicKeys?: AuditSigningKey['publicKey'][] } = {}) {
    const errors: { event?: string }[] = [];
    const sealer = createAuditSealer({
      db,
      key,
      intervalMs: 1_000,
      batchSize: 500,
      leaseMs: 10_000,
      idleCheckpointMs: 60_000,
      anchor,
      ...more,
      log: { ...quietSealerLog, error: (obj: object) => void errors.push(obj) },
    });
    return { sealer, errors };
  }

  it.skipIf(!enabled || !redisAvailable)('a sealer elected while Redis does not answer seals nothing until it has compared the head with the anchor', async () => {
    const s = await open();
    try {
      const flaky = flakyAnchor(newAnchorPrefix());
      const { key, sealer } = await sealedLog(s, flaky.anchor);
      await rewriteBehindTheLease(s, sealer);
      flaky.redisDown.now = true;
      const next = auditOn(s.second(), key, { anchor: flaky.anchor });
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'anchor_unreadable' });
      // Verify meanwhile checks the rest, and says that it could not check the anchor.
      expect(await next.log.check()).toMatchObject({ intact: true, anchor: { status: 'unreadable' } });
      // Redis answers again: the next pass asks it, and finds the rewrite below the anchor.
      flaky.redisDown.now = false;
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'head_lost' });
      expect(await next.log.check()).toMatchObject({ intact: false, firstBroken: { reason: 'rows_missing_at_end', anchor: true }, unsealed: { count: 7 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('rows sealed while Redis does not answer cannot be cut off with their checkpoints unnoticed', async () => {
    const s = await open();
    try {
      const sw = switchableAnchor(newAnchorPrefix());
      const { key, log, sealer } = await sealedLog(s, sw.anchor);
      // Redis stops answering; events keep coming, and their appends succeed.
      sw.redisDown.reads = sw.redisDown.writes = true;
      for (let i = 11; i <= 15; i++) await log.append(event(i));
      const duringOutage = await sealer.sealNow();
      const reportDuringOutage = await log.check();
      // Someone who can write the database cuts whatever was sealed during the outage, with its
      // checkpoints, and hands the lease to an instance that never sealed (or waits for a restart).
      await cutAfterTen(s);
      await s.db('audit_sealer_lease').update({ holder: 'attacker', expires_at: Date.now() + 10_000 });
      expect(await sealer.sealNow()).toMatchObject({ leader: false });
      await s.db('audit_sealer_lease').update({ holder: null, expires_at: 0 });
      // Redis answers again, and another instance is elected.
      sw.redisDown.reads = sw.redisDown.writes = false;
      const next = sealerWith(s.second(), key, sw.anchor);
      await next.sealer.sealNow();
      // Every event appended is in the chain, and the anchor holds its head: nothing was cut.
      expect(await auditOn(s.second(), key, { anchor: sw.anchor }).log.check()).toMatchObject({ intact: true, checked: 15, unsealed: { count: 0 }, anchor: { status: 'checked', seq: 15 } });
      expect(next.errors).toEqual([]);
      // Because nothing was sealed while the anchor could not follow: the window grew, and verify said so.
      expect(duringOutage).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'anchor_unreadable' });
      expect(reportDuringOutage).toMatchObject({ intact: true, unsealed: { count: 5 }, anchor: { status: 'unreadable' } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a checkpoint Redis did not take holds sealing back, and reaches the anchor even after the lease was taken away', async () => {
    const s = await open();
    try {
      const sw = switchableAnchor(newAnchorPrefix());
      const { key, log, sealer } = await sealedLog(s, sw.anchor);
      // Redis fails between the pass's read and its write: the batch is committed and signed, but the anchor stays at 10.
      sw.redisDown.writes = true;
      for (let i = 11; i <= 13; i++) await log.append(event(i));
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 3, checkpoints: 1, refused: 'anchor_unwritable' });
      // No further batch is signed while the anchor lags behind.
      await log.append(event(14));
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'anchor_unwritable' });
      expect(sealer.refusal).toBe('anchor_unwritable');
      // The attacker cuts the batch the anchor does not hold yet, and takes the lease away.
      await cutAfterTen(s);
      await s.db('audit_sealer_lease').update({ holder: 'attacker', expires_at: Date.now() + 10_000 });
      sw.redisDown.writes = false;
      // The instance that signed it is no longer the leader, but still hands its checkpoint to Redis.
      expect(await sealer.sealNow()).toMatchObject({ leader: false });
      expect(anchoredHead(await sw.anchor.read())).toMatchObject({ seq: 13 });
      await s.db('audit_sealer_lease').update({ holder: null, expires_at: 0 });
      const next = sealerWith(s.second(), key, sw.anchor);
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, refused: 'head_lost' });
      expect(await log.check()).toMatchObject({ intact: false, firstBroken: { reason: 'rows_missing_at_end', anchor: true } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a sealer whose anchor writes failed catches the anchor up first, then seals on', async () => {
    const s = await open();
    try {
      const sw = switchableAnchor(newAnchorPrefix());
      const { log, sealer } = await sealedLog(s, sw.anchor);
      sw.redisDown.writes = true;
      for (let i = 11; i <= 13; i++) await log.append(event(i));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 3, refused: 'anchor_unwritable' });
      await log.append(event(14));
      sw.redisDown.writes = false;
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      expect(sealer.refusal).toBeUndefined();
      expect(await log.check()).toMatchObject({ intact: true, checked: 14, unsealed: { count: 0 }, anchor: { status: 'checked', seq: 14 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('accepting the head while the sealer signs further never moves the anchor back', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer, anchor } = await sealedLog(s, anchorPrefix);
      // The operator's verify reads the log up to row 10; the running sealer signs five more rows
      // before the operator's head reaches Redis.
      const racing: AuditAnchor = {
        ...anchor!,
        replace: async (...a) => {
          for (let i = 11; i <= 15; i++) await log.append(event(i));
          expect(await sealer.sealNow()).toMatchObject({ checkpoints: 1 });
          return anchor!.replace(...a);
        },
      };
      const operator = createAuditLog(s.second(), { verifyKeys: verifyKeys(key, []), anchor: racing });
      const outcome = await operator.acceptHead(key).then(
        () => 'accepted',
        (e: unknown) => (e as Error).message,
      );
      expect(anchoredHead(await anchor!.read())).toMatchObject({ seq: 15 });
      expect(outcome).toMatch(/anchor in Redis moved/);
      expect((await log.query({ limit: 20 })).events.map((e) => e.action)).not.toContain('admin.audit.anchor_accepted');
      // The sealer goes on, and nothing it signed can be cut unnoticed.
      await log.append(event(16));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1, checkpoints: 1 });
      expect(sealer.refusal).toBeUndefined();
      expect(await log.check()).toMatchObject({ intact: true, checked: 16, anchor: { status: 'checked', seq: 16 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a sealer refusing for a lost head seals again once the operator accepted the head, without a restart', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      // A restore to a backup taken at row 6, under the running sealer.
      await s.db('audit_events').where('seq', '>', 6).delete();
      await s.db('audit_checkpoints').where('seq', '>', 6).delete();
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'head_lost' });
      expect(await log.acceptHead(key)).toMatchObject({ accepted: { seq: 6 }, previous: { seq: 10 } });
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      expect(sealer.refusal).toBeUndefined();
      expect(await log.check()).toMatchObject({ intact: true, checked: 7, anchor: { status: 'checked', seq: 7 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a leader that cannot reach Redis frees the lease after a few passes, and an instance that can seals on', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      // This instance reaches the database but not Redis (a network split, a firewall rule).
      const sw = switchableAnchor(anchorPrefix);
      sw.redisDown.reads = sw.redisDown.writes = true;
      await sealer.stop();
      const cut = sealerWith(s.db, key, sw.anchor);
      const reaching = sealerWith(s.second(), key, redisAuditAnchor(redis!, anchorPrefix));
      for (let i = 11; i <= 13; i++) await log.append(event(i));
      expect(await cut.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, refused: 'anchor_unreadable' });
      expect(await reaching.sealer.sealNow()).toMatchObject({ leader: false });
      for (let i = 0; i < 2; i++) expect(await cut.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'anchor_unreadable' });
      // Three passes refused for the anchor: the lease is free, and the instance that reaches Redis takes it.
      expect(await reaching.sealer.sealNow()).toMatchObject({ leader: true, sealed: 3, checkpoints: 1 });
      expect(await cut.sealer.sealNow()).toMatchObject({ leader: false });
      expect(await log.check()).toMatchObject({ intact: true, checked: 13, unsealed: { count: 0 }, anchor: { status: 'checked', seq: 13 } });
      await reaching.sealer.stop();
      await cut.sealer.stop();
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('an old line signed by an instance whose clock ran ahead, replayed into Redis, does not set the head back', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer, anchor } = await sealedLog(s, anchorPrefix);
      // The checkpoint at row 6 as an instance whose clock was an hour ahead signed it.
      const six = (await s.db('audit_checkpoints').where({ seq: 6 }).first('seq', 'hash')) as { seq: number; hash: string };
      const at = Date.now() + 3_600_000;
      const old = JSON.stringify({ seq: 6, hash: six.hash, at, kid: key.kid, jws: await signCheckpoint(key, { seq: 6, hash: six.hash, at }) });
      // Someone who can write Redis puts it back in place of the anchor.
      await redis!.set(`${anchorPrefix}audit:anchor`, old);
      // The database still holds what this sealer signed: its own line goes back.
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 0 });
      expect(anchoredHead(await anchor!.read())).toMatchObject({ seq: 10 });
      // So cutting the rows after 6 with their checkpoints is still seen, by the sealer and by verify.
      await s.db('audit_checkpoints').where('seq', '>', 6).delete();
      await s.db('audit_events').where('seq', '>', 6).delete();
      await log.append(event(11));
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'head_lost' });
      expect(await log.check()).toMatchObject({ intact: false, firstBroken: { reason: 'rows_missing_at_end', anchor: true } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('an operator whose clock is behind accepts the head after a restore, and the running sealer goes by it', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer, anchor } = await sealedLog(s, anchorPrefix);
      await s.db('audit_events').where('seq', '>', 6).delete();
      await s.db('audit_checkpoints').where('seq', '>', 6).delete();
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'head_lost' });
      // The CLI host's clock is an hour behind the sealing instance's.
      const behind = Date.now() - 3_600_000;
      const clock = vi.spyOn(Date, 'now').mockReturnValue(behind);
      try {
        expect(await log.acceptHead(key)).toMatchObject({ accepted: { seq: 6 }, previous: { seq: 10 } });
      } finally {
        clock.mockRestore();
      }
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      expect(sealer.refusal).toBeUndefined();
      expect(anchoredHead(await anchor!.read())).toMatchObject({ seq: 7 });
      expect(await log.check()).toMatchObject({ intact: true, checked: 7, anchor: { status: 'checked', seq: 7 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a sealer elected after Redis lost the anchor refuses to seal a log that has checkpoints, and says so', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, sealer } = await sealedLog(s, anchorPrefix);
      await rewriteBehindTheLease(s, sealer);
      // Redis restarted without persistence, FLUSHALL, or the key evicted.
      await redis!.del(`${anchorPrefix}audit:anchor`);
      const anchor = redisAuditAnchor(redis!, anchorPrefix);
      const next = sealerWith(s.second(), key, anchor);
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'anchor_missing' });
      expect(await next.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'anchor_missing' });
      expect(next.sealer.refusal).toBe('anchor_missing');
      expect(next.errors).toEqual([expect.objectContaining({ event: 'audit.anchor_missing' })]);
      // Nothing signed: the rewrite stays unsealed and no anchor names it.
      expect(await anchor.read()).toBeUndefined();
      expect(Number(((await s.db('audit_events').whereNull('seq').count({ n: '*' }).first()) as { n: number | string }).n)).toBe(7);
      // And verify does not call the log intact as if it had been compared with the anchor.
      expect((await auditOn(s.db, key, { anchor }).log.check()).anchor).toEqual({ status: 'missing' });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('after an operator accepts the database’s head, sealing resumes and the acceptance is in the log', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      await sealer.stop();
      // A restore to a backup taken at row 6: shorter than the anchor, legitimately.
      await s.db('audit_events').where('seq', '>', 6).delete();
      await s.db('audit_checkpoints').where('seq', '>', 6).delete();
      const anchor = redisAuditAnchor(redis!, anchorPrefix);
      const refusing = sealerWith(s.second(), key, anchor);
      expect(await refusing.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'head_lost' });
      expect(await log.check()).toMatchObject({ intact: false, firstBroken: { reason: 'rows_missing_at_end', anchor: true } });

      const accepted = await log.acceptHead(key);
      expect(accepted).toMatchObject({ report: { intact: true, checked: 6 }, accepted: { seq: 6 }, previous: { seq: 10 } });
      expect(anchoredHead(await anchor.read())).toMatchObject({ seq: 6, hash: accepted.accepted!.hash });
      // The instances restart (the refusing one remembers the old head), and the next one seals.
      await refusing.sealer.stop();
      const next = sealerWith(s.second(), key, anchor);
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      expect(next.errors).toEqual([]);
      expect(await log.check()).toMatchObject({ intact: true, checked: 7, anchor: { status: 'checked', seq: 7 } });
      const [event] = (await log.query({ limit: 1 })).events;
      expect(event).toMatchObject({ action: 'admin.audit.anchor_accepted', actorType: 'system', details: { seq: 6, previous: { seq: 10 } } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a sealer refusing for a lost anchor seals again once the head is accepted, without a restart', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      await sealer.stop();
      await redis!.del(`${anchorPrefix}audit:anchor`);
      const next = sealerWith(s.second(), key, redisAuditAnchor(redis!, anchorPrefix));
      expect(await next.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'anchor_missing' });
      expect(await log.acceptHead(key)).toMatchObject({ accepted: { seq: 10 }, previous: null });
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 1, checkpoints: 1 });
      expect(next.sealer.refusal).toBeUndefined();
      expect(await log.check()).toMatchObject({ intact: true, checked: 11, anchor: { status: 'checked', seq: 11 } });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('accepting the head of a log that no longer verifies changes nothing', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      await sealer.stop();
      await s.db('audit_events').where({ seq: 2 }).update({ details: '{"i":"edited"}' });
      const before = await redis!.get(`${anchorPrefix}audit:anchor`);
      expect(await log.acceptHead(key)).toMatchObject({ report: { intact: false, firstBroken: { reason: 'row_altered' } } });
      expect(await redis!.get(`${anchorPrefix}audit:anchor`)).toBe(before);
      expect((await log.query({ limit: 20 })).events.map((e) => e.action)).not.toContain('admin.audit.anchor_accepted');
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('a sealer after a key rotation goes by the anchor the retired key signed, and refuses one no key of ours signed', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const old = auditTestKey();
      const { sealer } = await sealedLog(s, anchorPrefix, old);
      await rewriteBehindTheLease(s, sealer);
      const anchor = redisAuditAnchor(redis!, anchorPrefix);
      const rotated = sealerWith(s.second(), auditTestKey(), anchor, { retiredPublicKeys: [old.publicKey] });
      expect(await rotated.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'head_lost' });
      await rotated.sealer.stop();
      const stranger = sealerWith(s.second(), auditTestKey(), anchor);
      expect(await stranger.sealer.sealNow()).toMatchObject({ sealed: 0, refused: 'anchor_invalid' });
      expect(stranger.errors).toEqual([expect.objectContaining({ event: 'audit.anchor_invalid' })]);
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled)('the sealer that signed it refuses to chain the rows again or to sign an older head', async () => {
    const s = await open();
    try {
      const { log, sealer } = await sealedLog(s);
      await rewrite(s);
      expect(await sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'head_lost' });
      // Nothing signed the rewrite: the rows stay unsealed, and the last checkpoint keeps its age.
      const report = await log.check();
      expect(report.unsealed.count).toBe(6);
      expect(report.lastCheckpoint?.seq).toBe(3);
      expect(Number(((await s.db('audit_checkpoints').count({ n: '*' }).first()) as { n: number | string }).n)).toBe(1);

      // The newest rows deleted instead: the quiet sealer does not sign the shorter log as its head either.
      await s.db('audit_events').whereNull('seq').delete();
      expect(await sealer.sealNow()).toMatchObject({ sealed: 0, checkpoints: 0, refused: 'head_lost' });
    } finally {
      await s.close();
    }
  });

  it.skipIf(!enabled || !redisAvailable)('another instance taking over refuses too, and verify names the rewrite', async () => {
    const s = await open();
    try {
      const anchorPrefix = newAnchorPrefix();
      const { key, log, sealer } = await sealedLog(s, anchorPrefix);
      await sealer.stop();
      await rewrite(s);
      // A new sealer (a fresh process on another instance) with the database and Redis to go by.
      const next = auditOn(s.second(), key, { anchor: redisAuditAnchor(redis!, anchorPrefix) });
      expect(await next.sealer.sealNow()).toMatchObject({ leader: true, sealed: 0, checkpoints: 0, refused: 'head_lost' });
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

describe('the anchor in Redis', () => {
  const redis = redisAvailable ? new Redis(REDIS_URL) : undefined;
  const prefix = `${uniqueName('yihao_audit_anchor')}:`;
  afterAll(async () => {
    const keys = (await redis?.keys(`${prefix}*`)) ?? [];
    if (keys.length) await redis!.del(...keys);
    redis?.disconnect();
  });
  const line = (seq: number, hash: string) => JSON.stringify({ seq, hash, at: 1, kid: 'k', jws: 'j' });
  const [a, b, c] = ['a', 'b', 'c'].map((x) => x.repeat(64)) as [string, string, string];

  it.skipIf(!redisAvailable)('keeps the head it holds against another hash at the same place, and against one further back', async () => {
    const anchor = redisAuditAnchor(redis!, prefix);
    expect(await anchor.write(line(10, a), 10, a)).toBe('kept');
    // Another history signed up to the same place: the first one stays, and the sealer is told.
    expect(await anchor.write(line(10, b), 10, b)).toBe('forked');
    expect(anchoredHead(await anchor.read())?.hash).toBe(a);
    expect(await anchor.write(line(9, c), 9, c)).toBe('behind');
    expect(await anchor.write(line(10, a), 10, a)).toBe('kept');
    expect(await anchor.write(line(11, c), 11, c)).toBe('kept');
    expect(anchoredHead(await anchor.read())).toMatchObject({ seq: 11, hash: c });
  });
});
