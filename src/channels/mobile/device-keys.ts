import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import { isPostgres, type Database } from '../../storage/database.js';

/** RFC 8176: `hwk` for a key whose hardware origin we trust, `swk` for any other. */
export type DeviceKeyAmr = 'hwk' | 'swk';

export interface DeviceKey {
  id: string;
  accountId: string;
  clientId: string;
  jkt: string;
  jwk: JWK;
  amr: DeviceKeyAmr;
  claimedStorage: string | undefined;
  name: string;
  createdAt: number;
  lastUsedAt: number | undefined;
}

interface DeviceKeyRow {
  id: string;
  account_id: string;
  client_id: string;
  jkt: string;
  public_jwk: string;
  amr: DeviceKeyAmr;
  claimed_storage: string | null;
  name: string;
  created_at: number | string;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
}

const b64u = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url P-256 coordinate');

/** A P-256 public key, nothing else: a private part or another curve is refused. */
export const p256PublicJwk = z
  .object({ kty: z.literal('EC'), crv: z.literal('P-256'), x: b64u, y: b64u })
  .passthrough()
  .refine((jwk) => !('d' in jwk), 'must be a public key (no "d")')
  .transform(({ kty, crv, x, y }) => ({ kty, crv, x, y }));

const toKey = (r: DeviceKeyRow): DeviceKey => ({
  id: r.id,
  accountId: r.account_id,
  clientId: r.client_id,
  jkt: r.jkt,
  jwk: JSON.parse(r.public_jwk) as JWK,
  amr: r.amr,
  claimedStorage: r.claimed_storage ?? undefined,
  name: r.name,
  createdAt: Number(r.created_at),
  lastUsedAt: r.last_used_at === null ? undefined : Number(r.last_used_at),
});

/** How many active device keys an account may hold. */
export const MAX_DEVICE_KEYS_PER_ACCOUNT = 10;

export type EnrolResult = { ok: true; key: DeviceKey } | { ok: false; reason: 'already_enrolled' | 'too_many' };

/**
 * What a device key's id looks like (`dk_` and base64url). An id from a URL or a JWS header that
 * does not (a NUL, which PostgreSQL refuses in text with an error) names no key, without a query.
 */
const KEY_ID = /^dk_[A-Za-z0-9_-]{1,64}$/;

/** Device keys in SQL (`device_keys`). Revoked keys stay for the record but never verify again. */
export function createDeviceKeys(db: Database) {
  const table = () => db<DeviceKeyRow>('device_keys');
  return {
    /**
     * Enrols a key, unless the account already holds `maxPerAccount` active keys. The count and the
     * insert are one step per account (its row locked on PostgreSQL; SQLite runs one writer), so
     * enrolments racing each other cannot pass the cap together.
     */
    /** `record` writes the enrolment's audit event (given the new key's id) in its transaction: the key is enrolled with its record, or not at all. */
    async enrol(
      input: { accountId: string; clientId: string; jwk: JWK; amr: DeviceKeyAmr; claimedStorage?: string | undefined; name: string },
      maxPerAccount = MAX_DEVICE_KEYS_PER_ACCOUNT,
      record?: (keyId: string, trx: Knex.Transaction) => Promise<void>,
    ): Promise<EnrolResult> {
      const jkt = await calculateJwkThumbprint(input.jwk, 'sha256');
      if (await table().where({ jkt }).first()) return { ok: false, reason: 'already_enrolled' };
      const row: DeviceKeyRow = {
        id: `dk_${randomBytes(16).toString('base64url')}`,
        account_id: input.accountId,
        client_id: input.clientId,
        jkt,
        public_jwk: JSON.stringify(input.jwk),
        amr: input.amr,
        claimed_storage: input.claimedStorage ?? null,
        name: input.name,
        created_at: Date.now(),
        last_used_at: null,
        revoked_at: null,
      };
      let inserted: boolean;
      try {
        inserted = await db.transaction(async (trx) => {
          if (isPostgres(db)) await trx('accounts').where({ id: input.accountId }).forUpdate().first('id');
          const held = await trx<DeviceKeyRow>('device_keys').where({ account_id: input.accountId }).whereNull('revoked_at').count({ n: '*' }).first();
          if (Number((held as { n: number | string } | undefined)?.n ?? 0) >= maxPerAccount) return false;
          await trx<DeviceKeyRow>('device_keys').insert(row);
          await record?.(row.id, trx);
          return true;
        });
      } catch {
        // Lost a race with the same key enrolled at the same moment: the unique jkt decided.
        if (await table().where({ jkt }).first()) return { ok: false, reason: 'already_enrolled' };
        throw new Error('device key insert failed');
      }
      return inserted ? { ok: true, key: toKey(row) } : { ok: false, reason: 'too_many' };
    },

    /** An active (not revoked) key. */
    async find(id: string): Promise<DeviceKey | undefined> {
      if (!KEY_ID.test(id)) return undefined;
      const row = await table().where({ id }).whereNull('revoked_at').first();
      return row && toKey(row as DeviceKeyRow);
    },

    async listForAccount(accountId: string): Promise<DeviceKey[]> {
      const rows = await table().where({ account_id: accountId }).whereNull('revoked_at').orderBy('created_at');
      return (rows as DeviceKeyRow[]).map(toKey);
    },

    /**
     * Revokes one of the account's keys; false when it has no such active key. `record` writes the
     * revocation's audit event in the same transaction: the key is revoked with its record, or not at all.
     */
    async revoke(accountId: string, id: string, record?: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
      if (!KEY_ID.test(id)) return false;
      return db.transaction(async (trx) => {
        const n = await trx<DeviceKeyRow>('device_keys').where({ id, account_id: accountId }).whereNull('revoked_at').update({ revoked_at: Date.now() });
        if (n > 0) await record?.(trx);
        return n > 0;
      });
    },

    /** Records a use of an active key; false when the key is revoked (a revocation that raced the use). */
    async touch(id: string): Promise<boolean> {
      return (await table().where({ id }).whereNull('revoked_at').update({ last_used_at: Date.now() })) > 0;
    },
  };
}
export type DeviceKeys = ReturnType<typeof createDeviceKeys>;
