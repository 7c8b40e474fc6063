import type { Database } from '../storage/database.js';
import { DEFAULT_RETAIN_EXPIRED_MS, type AttemptClaim, type OtpStore, type RollingLimit, type StoredCode, type ThrottleTake } from './otp-store.js';
import { deleteInBatches } from '../storage/batched-delete.js';

interface CodeRow {
  code_hash: string;
  expires_at: number | string;
  attempts: number | string;
  consumed_at: number | string | null;
}

interface SlotRow {
  slot: number | string;
  sent_at: number | string;
  expires_at: number | string;
}

/**
 * SMS codes and throttles in SQL (`sms_codes`, `sms_sends`; see the 003 migration). Every decision
 * is one conditional UPDATE whose row count says who won, so concurrent instances sharing the
 * database cannot both count the last attempt, both consume a code, or both take the last slot.
 */
const RING_INSERT_CHUNK = 200;

export function createSqlOtpStore(db: Database, { retainExpiredMs = DEFAULT_RETAIN_EXPIRED_MS }: { retainExpiredMs?: number } = {}): OtpStore {
  async function classify(key: string, now: number, maxAttempts: number): Promise<AttemptClaim | undefined> {
    const row = (await db('sms_codes').select('code_hash', 'expires_at', 'attempts', 'consumed_at').where({ key }).first()) as CodeRow | undefined;
    if (!row) return { status: 'missing' };
    if (row.consumed_at !== null) return { status: 'consumed' };
    if (Number(row.attempts) >= maxAttempts) return { status: 'exhausted' };
    if (Number(row.expires_at) <= now) return { status: 'expired' };
    return undefined; // claimable after all: a new code replaced the old one in between
  }

  async function takeOnce(key: string, { max, windowMs }: RollingLimit, now: number): Promise<ThrottleTake | undefined> {
    const slots = (await db('sms_sends').select('slot', 'sent_at', 'expires_at').where({ key }).andWhere('slot', '<', max)) as SlotRow[];
    if (slots.length < max) {
      // First use of this key (or the sweeper emptied it): lay out the ring, then look again.
      const present = new Set(slots.map((s) => Number(s.slot)));
      const missing = Array.from({ length: max }, (_, slot) => slot)
        .filter((slot) => !present.has(slot))
        .map((slot) => ({ key, slot, sent_at: 0, expires_at: 0 }));
      // In chunks: SQLite builds a multi-row insert as one compound SELECT, limited to 500 terms.
      for (let i = 0; i < missing.length; i += RING_INSERT_CHUNK) {
        await db('sms_sends').insert(missing.slice(i, i + RING_INSERT_CHUNK)).onConflict(['key', 'slot']).ignore();
      }
      return undefined;
    }
    let oldest = slots[0]!;
    for (const s of slots) if (Number(s.sent_at) < Number(oldest.sent_at)) oldest = s;
    const sentAt = Number(oldest.sent_at);
    if (sentAt > now - windowMs) return { ok: false, retryAfterMs: sentAt + windowMs - now };

    const slot = Number(oldest.slot);
    const expiresAt = now + windowMs;
    const won = await db('sms_sends').where({ key, slot, sent_at: sentAt }).update({ sent_at: now, expires_at: expiresAt });
    if (won !== 1) return undefined; // another instance took this slot first
    const previousExpiresAt = Number(oldest.expires_at);
    return {
      ok: true,
      async release() {
        await db('sms_sends').where({ key, slot, sent_at: now, expires_at: expiresAt }).update({ sent_at: sentAt, expires_at: previousExpiresAt });
      },
    };
  }

  return {
    async putCode(key: string, { codeHash, createdAt, expiresAt }: StoredCode): Promise<void> {
      await db('sms_codes')
        .insert({ key, code_hash: codeHash, expires_at: expiresAt, attempts: 0, consumed_at: null, created_at: createdAt })
        .onConflict('key')
        .merge();
    },

    async claimAttempt(key: string, now: number, maxAttempts: number): Promise<AttemptClaim> {
      for (let round = 0; round < 3; round++) {
        const claimed = (await db('sms_codes')
          .where({ key })
          .whereNull('consumed_at')
          .andWhere('attempts', '<', maxAttempts)
          .andWhere('expires_at', '>', now)
          .increment('attempts', 1)
          .returning(['code_hash'])) as Pick<CodeRow, 'code_hash'>[];
        if (claimed[0]) return { status: 'claimed', codeHash: claimed[0].code_hash };
        const why = await classify(key, now, maxAttempts);
        if (why) return why;
      }
      // Replaced under us three times in a row: treat it as a stale attempt, not a crash.
      return { status: 'missing' };
    },

    async consume(key: string, codeHash: string, now: number): Promise<boolean> {
      const updated = await db('sms_codes').where({ key, code_hash: codeHash }).whereNull('consumed_at').update({ consumed_at: now });
      return updated === 1;
    },

    async take(key: string, limit: RollingLimit, now: number): Promise<ThrottleTake> {
      // Each failed round means another taker won a slot, so this ends within about `max` rounds;
      // if it does not (takers and releases racing), refusing is the safe answer.
      for (let round = 0; round < limit.max + 5; round++) {
        const taken = await takeOnce(key, limit, now);
        if (taken) return taken;
      }
      return { ok: false, retryAfterMs: 1000 };
    },

    async sweep(now: number, batchSize?: number): Promise<number> {
      const codes = await deleteInBatches(db, { table: 'sms_codes', key: ['key'], where: (q) => q.where('expires_at', '<', now - retainExpiredMs), batchSize });
      const sends = await deleteInBatches(db, { table: 'sms_sends', key: ['key', 'slot'], where: (q) => q.where('expires_at', '<', now), batchSize });
      return codes + sends;
    },
  };
}
