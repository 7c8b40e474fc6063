import { hkdfSync } from 'node:crypto';
import { createBlindIndex, SealError } from './sealer.js';

/**
 * Everything that keys a hash with a server secret, each with its own key: a key that leaks from
 * one use (say, the SMS code store) says nothing about the others, and each can move to a new
 * version on its own schedule (docs/keys.md says how each one rotates).
 */
export type KeyPurpose =
  /** `accounts.citizen_index`: the blind index of the citizen ID number. */
  | 'citizen_index'
  /** HMACs of client secrets (and of secrets still in their grace period). */
  | 'client_secret'
  /** Pairwise `sub`s. Never rotates: a client's `sub`s would all change. */
  | 'pairwise'
  /** The `pseudonym` citizen-ID release policy. Never rotates, for the same reason. */
  | 'citizen_pseudonym'
  /** SMS code hashes, slots and send throttles: minutes-long records. */
  | 'sms'
  /** The derived secrets of Yihao's own clients (portal, admin console). */
  | 'first_party_secret'
  /** Hashes of TOTP recovery codes. */
  | 'recovery_code'
  /** Guess-throttle subjects of identifiers that name no account: records that live one window. */
  | 'lockout_subject'
  /** Credential-request nonces (OID4VCI `c_nonce`): minutes-long, stateless until used. */
  | 'credential_nonce'
  /** The keys tokens are stored under (refresh and access tokens, codes): never their value. */
  | 'token_id';

/** A keyed hash: (label, value) to 43 characters of base64url, as `createBlindIndex` gives. */
export type Keyed = (label: string, value: string) => string;

export interface PurposeKeys {
  /**
   * The keyed hash for `purpose` at `version`. Version 1 is the derivation that came before
   * purposes had keys of their own (the index key itself, `createBlindIndex`), so values stored
   * then still match. Version n >= 2 is HKDF-SHA256 over the index key of version n (or the index
   * key, if none is configured for n), with the purpose and version as its info.
   */
  keyed(purpose: KeyPurpose, version: number): Keyed;
}

export interface PurposeKeyRoots {
  /** The root of version 1 (and of later versions that have no root of their own). */
  indexKey: string;
  /** Roots of later versions, by version: a new root is how a leaked index key is retired. */
  indexKeys?: Readonly<Record<string, string>> | undefined;
}

const SALT = Buffer.from('yihao purpose keys', 'utf8');

export function createPurposeKeys({ indexKey, indexKeys = {} }: PurposeKeyRoots): PurposeKeys {
  const cache = new Map<string, Keyed>();
  // Checks the roots now, at start-up, rather than at the first use of a version.
  createBlindIndex(indexKey);
  for (const key of Object.values(indexKeys)) createBlindIndex(key);
  return Object.freeze({
    keyed(purpose: KeyPurpose, version: number): Keyed {
      if (!Number.isInteger(version) || version < 1) throw new SealError('a key version is a positive integer');
      const name = `${purpose}:v${version}`;
      let found = cache.get(name);
      if (!found) {
        if (version === 1) {
          found = createBlindIndex(indexKey);
        } else {
          const root = Buffer.from(indexKeys[String(version)] ?? indexKey, 'base64');
          found = createBlindIndex(Buffer.from(hkdfSync('sha256', root, SALT, `yihao:${name}`, 32)).toString('base64'));
        }
        cache.set(name, found);
      }
      return found;
    },
  });
}
