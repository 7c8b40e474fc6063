import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import type { Database } from '../../storage/database.js';

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

export type EnrolResult = { ok: true; key: DeviceKey } | { ok: false; reason: 'already_enrolled' };

/** Device keys in SQL (`device_keys`). Revoked keys stay for the record but never verify again. */
export function createDeviceKeys(db: Database) {
  const table = () => db<DeviceKeyRow>('device_keys');
  return {
    async enrol(input: { accountId: string; clientId: string; jwk: JWK; amr: DeviceKeyAmr; claimedStorage?: string | undefined; name: string }): Promise<EnrolResult> {
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
      try {
        await table().insert(row);
      } catch {
        // Lost a race with the same key enrolled at the same moment: the unique jkt decided.
        if (await table().where({ jkt }).first()) return { ok: false, reason: 'already_enrolled' };
        throw new Error('device key insert failed');
      }
      return { ok: true, key: toKey(row) };
    },

    /** An active (not revoked) key. */
    async find(id: string): Promise<DeviceKey | undefined> {
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
      return db.transaction(async (trx) => {
        const n = await trx<DeviceKeyRow>('device_keys').where({ id, account_id: accountId }).whereNull('revoked_at').update({ revoked_at: Date.now() });
        if (n > 0) await record?.(trx);
        return n > 0;
      });
    },

    async touch(id: string): Promise<void> {
      await table().where({ id }).update({ last_used_at: Date.now() });
    },
  };
}
export type DeviceKeys = ReturnType<typeof createDeviceKeys>;
