import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';
import { isPostgres, type Database } from '../storage/database.js';
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
  /** `next`: published, not signing yet (from `signsFrom`); `active`: signs now (until `retiredAt`, when set); `retired`: published for verification only. */
  status: 'next' | 'active' | 'retired';
  createdAt: string;
  retiredAt: string | undefined;
  signsFrom: string | undefined;
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
  /**
   * Where what a key signed is recorded with its kid and expiry: a retired key stays published
   * while any of it is unexpired, however long after `retiredKeepSeconds` (a certificate credential
   * valid for years).
   */
  signedFor?: { table: string; kid: string; expiresAt: string };
}

/** The token signing keys (oidc-provider's JWKS). */
export const TOKEN_SIGNING_KEYS: SigningKeySet = { table: 'signing_keys', algs: SIGNING_ALGS, aad: signingKeyPurpose, kidPrefix: '' };

/** Where a key stands at `now`: signing (0), published before it signs (1), or retired (2); oidc-provider signs with the first key of an algorithm. */
function standing(row: Pick<SigningKeyRow, 'retired_at'>, now: number): 0 | 1 | 2 {
  if (row.retired_at === null) return 1;
  return Number(row.retired_at) > now ? 0 : 2;
}

/**
 * Signing keys live sealed in SQL so that every instance signs with the same keys. A rotation adds
 * a new key per algorithm and retires the old one: retired keys stay in the JWKS (for verification
 * only; they sort after the signing key, and oidc-provider signs with the first match) until
 * `retiredKeepSeconds` has passed.
 *
 * With `publishSeconds`, a rotation publishes the new key first and lets the old one sign on until
 * then (its `retired_at` lies ahead). Every instance reads the keys every `keys.refreshSeconds`:
 * were the new key to sign at once, an app fetching the JWKS from an instance that had not read it
 * yet would find no key for a token another instance just signed, and its JWKS client would not
 * ask again for a while (jose: 30 s). A key whose `retired_at` lies ahead therefore sorts first, and
 * the new key, not yet retired, after it.
 */
export function createSigningKeys(
  db: Database,
  sealer: Sealer,
  { retiredKeepSeconds, publishSeconds = 0 }: { retiredKeepSeconds: number; publishSeconds?: number },
  set: SigningKeySet = TOKEN_SIGNING_KEYS,
) {
  const { table, algs, aad } = set;
  async function generate(alg: SigningAlg, now: number): Promise<SigningKeyRow> {
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
    const jwk = await exportJWK(privateKey);
    const kid = `${set.kidPrefix}${alg.toLowerCase()}-${(await calculateJwkThumbprint(jwk)).slice(0, 16)}`;
    const full: JWK = { ...jwk, kid, alg, use: 'sig' };
    return { kid, alg, sealed_private_jwk: sealer.seal(JSON.stringify(full), aad(kid)), created_at: now, retired_at: null };
  }

  const { signedFor } = set;
  const visible = () => {
    const now = Date.now();
    return db<SigningKeyRow>(table)
      .whereNull('retired_at')
      .orWhere('retired_at', '>', now - retiredKeepSeconds * 1000)
      .modify((q) => {
        if (signedFor) {
          q.orWhereExists((used) =>
            used
              .select(db.raw('1'))
              .from(signedFor.table)
              .whereRaw('?? = ??', [`${signedFor.table}.${signedFor.kid}`, `${table}.kid`])
              .andWhere(`${signedFor.table}.${signedFor.expiresAt}`, '>', now),
          );
        }
      })
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'kid', order: 'asc' }]);
  };

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

    /**
     * Adds a new key per algorithm and retires the current ones, in one transaction: after
     * `publishSeconds` (the new keys are published meanwhile and sign from then), or at once with
     * `immediate` (a key that must stop signing now; apps may fail to verify tokens for up to
     * `keys.refreshSeconds` where several instances serve). `record` writes the audit event in the
     * rotation's own transaction: both land or neither.
     */
    async rotate(record?: (trx: Knex.Transaction, activated: string[]) => Promise<void>, { immediate = false }: { immediate?: boolean } = {}): Promise<SigningKeyInfo[]> {
      const now = Date.now();
      const fresh = await Promise.all(algs.map((alg) => generate(alg, now)));
      await db.transaction(async (trx) => {
        // Rotations one at a time (SQLite writes one at a time anyway): a second one started at the
        // same moment would not see the first one's new key, and leave both without an end.
        if (isPostgres(db)) await trx.raw('lock table ?? in share row exclusive mode', [table]);
        // Read once the lock is held (a rotation that waited for another ends its keys after that
        // one's), and from the database's clock: the servers that compare it with theirs are kept in
        // time with it, a host running the CLI may not be (60 s slow made a new key sign at once).
        const at = await databaseNow(trx);
        const end = immediate ? at : at + publishSeconds * 1000;
        // A key still signing from an earlier staged rotation keeps its own end when it comes sooner;
        // a later one (a clock far ahead, a forged row) is brought forward, or that key signs on.
        await trx(table).where((w) => w.whereNull('retired_at').orWhere('retired_at', '>', end)).update({ retired_at: end });
        for (const key of fresh) key.created_at = at;
        await trx(table).insert(fresh);
        await record?.(trx, fresh.map((k) => k.kid));
      });
      return infos(await visible(), Date.now()).filter((k) => fresh.some((f) => f.kid === k.kid));
    },

    async list(): Promise<SigningKeyInfo[]> {
      return infos(await visible(), Date.now());
    },

    /**
     * The private JWKS for oidc-provider, signing keys first, and a fingerprint that changes with it
     * (and when a staged rotation's time comes); `changesAt`, the next such time (epoch ms).
     */
    async load(): Promise<{ keys: JWK[]; fingerprint: string; changesAt: number | undefined; signingKid: string | undefined; unsigned: SigningAlg[] }> {
      const now = Date.now();
      const rows = ordered(await visible(), now);
      const keys = rows.map((r) => JSON.parse(sealer.open(r.sealed_private_jwk, aad(r.kid))) as JWK);
      const ends = rows.filter((r) => standing(r, now) === 0).map((r) => Number(r.retired_at));
      // The first key signs, unless it is retired: then none may (the next one was deleted).
      const signingKid = rows[0] && standing(rows[0], now) < 2 ? rows[0].kid : undefined;
      // Algorithms whose every key is retired: oidc-provider would sign with a retired one.
      const unsigned = algs.filter((alg) => !rows.some((r) => r.alg === alg && standing(r, now) < 2));
      return { keys, fingerprint: rows.map((r) => `${r.kid}:${r.retired_at ?? ''}:${standing(r, now)}`).join(','), changesAt: ends.length ? Math.min(...ends) : undefined, signingKid, unsigned };
    },
  };
}
export type SigningKeys = ReturnType<typeof createSigningKeys>;

/** Epoch ms by the database's clock (SQLite's is this host's). */
async function databaseNow(trx: Knex.Transaction): Promise<number> {
  if (!isPostgres(trx as unknown as Database)) return Date.now();
  const { rows } = (await trx.raw('select (extract(epoch from clock_timestamp()) * 1000)::bigint as now')) as { rows: { now: string | number }[] };
  return Number(rows[0]!.now);
}

/**
 * Keys still signing first, the oldest first (each signs until its end, then the next one: a key
 * created later was published later); then keys not yet given an end; then retired ones. Newest
 * first within the last two, as `visible()` reads them.
 */
function ordered(rows: SigningKeyRow[], now: number): SigningKeyRow[] {
  return rows
    .map((r, i) => ({ r, i, s: standing(r, now) }))
    .sort((a, b) => a.s - b.s || (a.s === 0 ? Number(a.r.created_at) - Number(b.r.created_at) || a.r.kid.localeCompare(b.r.kid) : a.i - b.i))
    .map((x) => x.r);
}

/**
 * Each key as it stands: the first key of an algorithm in signing order signs (`active`); every
 * other one not yet retired waits (`next`), and signs once the key ahead of it is retired.
 */
function infos(rows: SigningKeyRow[], now: number): SigningKeyInfo[] {
  // Per algorithm: whether its signing key was seen, and when the keys seen so far stop signing
  // (null: one of them has no end yet, so what follows it never signs).
  const ahead = new Map<string, number | null>();
  return ordered(rows, now).map((r) => {
    const s = standing(r, now);
    let status: SigningKeyInfo['status'] = 'retired';
    let signsFrom: number | null = null;
    if (s !== 2) {
      status = ahead.has(r.alg) ? 'next' : 'active';
      if (status === 'next') signsFrom = ahead.get(r.alg) ?? null;
      const until = r.retired_at === null ? null : Number(r.retired_at);
      const before = ahead.has(r.alg) ? ahead.get(r.alg)! : 0;
      ahead.set(r.alg, before === null || until === null ? null : Math.max(before, until));
    }
    return {
      kid: r.kid,
      alg: r.alg,
      status,
      createdAt: new Date(Number(r.created_at)).toISOString(),
      retiredAt: r.retired_at === null ? undefined : new Date(Number(r.retired_at)).toISOString(),
      signsFrom: signsFrom === null ? undefined : new Date(signsFrom).toISOString(),
    };
  });
}
