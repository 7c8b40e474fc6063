import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { Sealer } from '../identity/index.js';

export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

interface SigningKeyRow {
  kid: string;
  alg: SigningAlg;
  sealed_private_jwk: string;
  created_at: number;
  retired_at: number | null;
}

export interface SigningKeyInfo {
  kid: string;
  alg: SigningAlg;
  status: 'active' | 'retired';
  createdAt: string;
  retiredAt: string | undefined;
}

export const signingKeyPurpose = (kid: string) => `signing_key:${kid}`;

/** A set of signing keys with its own table, algorithms and sealing purpose. */
export interface SigningKeySet {
  table: string;
  algs: readonly SigningAlg[];
  /** The AAD a key of this set is sealed for: a key copied into another set does not open there. */
  aad: (kid: string) => string;
  /** Put before the algorithm in each kid, so keys of different sets are told apart at a glance. */
  kidPrefix: string;
}

/** The token signing keys (oidc-provider's JWKS). */
export const TOKEN_SIGNING_KEYS: SigningKeySet = { table: 'signing_keys', algs: SIGNING_ALGS, aad: signingKeyPurpose, kidPrefix: '' };

/**
 * Signing keys live sealed in SQL so that every instance signs with the same keys. A rotation adds
 * a new active key per algorithm and retires the old one: retired keys stay in the JWKS (for
 * verification only; they sort after the active key, and oidc-provider signs with the first match)
 * until `retiredKeepSeconds` has passed.
 */
export function createSigningKeys(db: Database, sealer: Sealer, { retiredKeepSeconds }: { retiredKeepSeconds: number }, set: SigningKeySet = TOKEN_SIGNING_KEYS) {
  const { table, algs, aad } = set;
  async function generate(alg: SigningAlg, now: number): Promise<SigningKeyRow> {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    const jwk = await exportJWK(privateKey);
    const kid = `${set.kidPrefix}${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
    const full: JWK = { ...jwk, kid, alg, use: 'sig' };
    return { kid, alg, sealed_private_jwk: sealer.seal(JSON.stringify(full), aad(kid)), created_at: now, retired_at: null };
  }

  const visible = () =>
    db<SigningKeyRow>(table)
      .whereNull('retired_at')
      .orWhere('retired_at', '>', Date.now() - retiredKeepSeconds * 1000)
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'kid', order: 'asc' }]);

  return {
    /**
     * Creates the first key of each algorithm that has none. Instances starting together may each
     * add one; that is harmless: every key is published and the newest active one signs.
     */
    async ensure(): Promise<void> {
      const now = Date.now();
      for (const alg of algs) {
        const active = await db(table).where({ alg }).whereNull('retired_at').first();
        if (!active) await db(table).insert(await generate(alg, now));
      }
    },

    /** Adds new active keys and retires the previous ones, in one transaction. */
    /** `record` writes the audit event in the rotation's own transaction: both land or neither. */
    async rotate(record?: (trx: Knex.Transaction, activated: string[]) => Promise<void>): Promise<SigningKeyInfo[]> {
      const now = Date.now();
      const fresh = await Promise.all(algs.map((alg) => generate(alg, now)));
      await db.transaction(async (trx) => {
        await trx(table).whereNull('retired_at').update({ retired_at: now });
        await trx(table).insert(fresh);
        await record?.(trx, fresh.map((k) => k.kid));
      });
      return fresh.map(info);
    },

    async list(): Promise<SigningKeyInfo[]> {
      return (await visible()).map(info);
    },

    /** The private JWKS for oidc-provider, active keys first, and a fingerprint that changes with it. */
    async load(): Promise<{ keys: JWK[]; fingerprint: string }> {
      const rows = await visible();
      rows.sort((a, b) => Number(a.retired_at !== null) - Number(b.retired_at !== null));
      const keys = rows.map((r) => JSON.parse(sealer.open(r.sealed_private_jwk, aad(r.kid))) as JWK);
      return { keys, fingerprint: rows.map((r) => `${r.kid}:${r.retired_at ?? ''}`).join(',') };
    },
  };
}
export type SigningKeys = ReturnType<typeof createSigningKeys>;

function info(r: SigningKeyRow): SigningKeyInfo {
  return {
    kid: r.kid,
    alg: r.alg,
    status: r.retired_at === null ? 'active' : 'retired',
    createdAt: new Date(Number(r.created_at)).toISOString(),
    retiredAt: r.retired_at === null ? undefined : new Date(Number(r.retired_at)).toISOString(),
  };
}
