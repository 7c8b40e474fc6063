import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/**
 * AES-256-GCM sealing with key ids, so that keys can rotate.
 *
 * Sealed format: `<version>.<kid>.<iv>.<ciphertext+tag>` (iv and ciphertext base64url, 12-byte random
 * IV, 16-byte tag). The caller's `aad` names the purpose (`citizen_id:<account>`, `signing_key:<kid>`,
 * ...) and is authenticated together with the version and kid: a sealed value opens only for the
 * purpose it was sealed for, so it cannot be moved to another column.
 *
 * Envelope versions: `v2` (what `seal` makes) promises that the caller's aad names the row that owns
 * the value, so it cannot be moved to another row either. `v1` values were sealed before that promise
 * (the citizen ID's aad named only the column); they still open, and `needsReseal` says they should
 * be sealed again (`yihao keys reseal`). The caller picks the aad by `versionOf`.
 *
 * Keys live in `KeyObject`s inside closures: the returned objects carry no key material that a log
 * line or `JSON.stringify` could reach. Errors never contain plaintext or keys.
 */
export interface SealKey {
  readonly kid: string;
  /** 32 bytes, base64. */
  readonly key: string;
}

export interface Sealer {
  /** The kid that `seal` uses (the first key). */
  readonly currentKid: string;
  seal(plaintext: string, aad: string): string;
  /** Throws `SealError` if the value is malformed, the kid unknown, or authentication fails. */
  open(sealed: string, aad: string): string;
  /** The kid a sealed value was made with, e.g. to find values that need re-sealing after rotation. */
  kidOf(sealed: string): string;
  /** The envelope version of a sealed value (`v1`: made before aads named the owning row). */
  versionOf(sealed: string): SealVersion;
  /** Whether a value was sealed with an older key or envelope version and should be sealed again. */
  needsReseal(sealed: string): boolean;
  /** What a value sealed now starts with: values that do not are the ones `needsReseal` finds. */
  readonly currentPrefix: string;
}

export type SealVersion = 'v1' | 'v2';

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

const VERSION: SealVersion = 'v2';
const VERSIONS: readonly string[] = ['v1', 'v2'];
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;
/** Purposes may include client ids (pseudonyms); keep the subkey cache bounded all the same. */
const MAX_CACHED_SUBKEYS = 1024;

function decodeKey(key: string, minBytes: number, exactBytes?: number): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.alloc(0);
  if (exactBytes !== undefined ? bytes.length !== exactBytes : bytes.length < minBytes) {
    throw new SealError(`a key must be ${exactBytes ?? `at least ${minBytes}`} bytes, base64-encoded`);
  }
  return bytes;
}

function checkAad(aad: string): void {
  if (typeof aad !== 'string' || aad.length === 0) throw new SealError('aad (the purpose) must be a non-empty string');
}

/** The authenticated data: version and kid (so the header cannot be edited) and the purpose. */
const aadBytes = (version: SealVersion, kid: string, aad: string) => Buffer.from(`yihao-seal:${version}:${kid}:${aad}`, 'utf8');

function split(sealed: string): { version: SealVersion; kid: string; iv: string; body: string } {
  const parts = typeof sealed === 'string' ? sealed.split('.') : [];
  const [version, kid, iv, body] = parts;
  if (parts.length !== 4 || !version || !VERSIONS.includes(version) || !kid || !KID.test(kid) || !iv || !body) {
    throw new SealError('sealed value is malformed');
  }
  return { version: version as SealVersion, kid, iv, body };
}

export function createSealer(sealKeys: readonly SealKey[]): Sealer {
  if (!Array.isArray(sealKeys) || sealKeys.length === 0) throw new SealError('at least one seal key is needed');
  const keys = new Map<string, KeyObject>();
  for (const { kid, key } of sealKeys) {
    if (typeof kid !== 'string' || !KID.test(kid)) throw new SealError('a seal key id must be 1-32 characters of A-Z a-z 0-9 _ -');
    if (keys.has(kid)) throw new SealError(`seal key id "${kid}" is used twice`);
    keys.set(kid, createSecretKey(decodeKey(key, 32, 32)));
  }
  const currentKid = sealKeys[0]!.kid;
  const currentKey = keys.get(currentKid)!;

  return Object.freeze({
    currentKid,

    seal(plaintext: string, aad: string): string {
      if (typeof plaintext !== 'string') throw new SealError('only strings can be sealed');
      checkAad(aad);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadBytes(VERSION, currentKid, aad));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${currentKid}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },

    open(sealed: string, aad: string): string {
      checkAad(aad);
      const { version, kid, iv: ivText, body: bodyText } = split(sealed);
      const key = keys.get(kid);
      if (!key) throw new SealError(`sealed value uses unknown key id "${kid}"`);
      if (!B64URL.test(ivText) || !B64URL.test(bodyText)) throw new SealError('sealed value is malformed');
      const iv = Buffer.from(ivText, 'base64url');
      const body = Buffer.from(bodyText, 'base64url');
      if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SealError('sealed value is malformed');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aadBytes(version, kid, aad));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
        return plain.toString('utf8');
      } catch {
        throw new SealError('sealed value failed authentication (tampered, wrong key, or sealed for another purpose)');
      }
    },

    kidOf(sealed: string): string {
      return split(sealed).kid;
    },

    versionOf(sealed: string): SealVersion {
      return split(sealed).version;
    },

    needsReseal(sealed: string): boolean {
      const { version, kid } = split(sealed);
      return version !== VERSION || kid !== currentKid;
    },

    currentPrefix: `${VERSION}.${currentKid}.`,
  });
}

/**
 * A blind index: HMAC-SHA256 under a per-purpose subkey derived from `indexKey`, so that the same
 * value gives unrelated tags for different purposes (the citizen-ID lookup column, per-client
 * pseudonyms, ...). Deterministic: equal (purpose, value) pairs give equal tags. Output is 43
 * characters of base64url.
 */
export function createBlindIndex(indexKey: string): (purpose: string, value: string) => string {
  const root = createSecretKey(decodeKey(indexKey, 32));
  const subkeys = new Map<string, KeyObject>();
  const subkeyFor = (purpose: string): KeyObject => {
    let k = subkeys.get(purpose);
    if (!k) {
      k = createSecretKey(createHmac('sha256', root).update(`yihao-blind-index:v1:${purpose}`, 'utf8').digest());
      if (subkeys.size >= MAX_CACHED_SUBKEYS) subkeys.clear();
      subkeys.set(purpose, k);
    }
    return k;
  };
  return (purpose: string, value: string): string => {
    if (typeof purpose !== 'string' || purpose.length === 0) throw new SealError('a blind index needs a non-empty purpose');
    if (typeof value !== 'string') throw new SealError('a blind index needs a string value');
    return createHmac('sha256', subkeyFor(purpose)).update(value, 'utf8').digest('base64url');
  };
}
