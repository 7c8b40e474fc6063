import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';

/**
 * The audit key signs checkpoints (docs/audit.md). It is an Ed25519 private key, kept with the other
 * secrets and never in the database: whoever can rewrite the database but does not hold it cannot
 * make a rewritten history verify. Its text form is the base64 of its PKCS#8 DER encoding
 * (`openssl genpkey -algorithm ed25519 -outform DER | base64 -w0`); a retired key is kept for
 * verification only as the base64 of its public SPKI DER.
 */
export interface AuditSigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export type AuditVerifyKeys = ReadonlyMap<string, KeyObject>;

const TYP = 'yihao-audit-checkpoint';

/** What a checkpoint asserts: the chain's head at `seq` had this hash, seen at `at`. */
export interface CheckpointClaim {
  seq: number;
  hash: string;
  at: number;
}

export function generateAuditKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
}

/** Undefined when `text` is not a base64 PKCS#8 Ed25519 private key (the reason is for config errors only). */
export function parseAuditKey(text: string): AuditSigningKey | undefined {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    return undefined;
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') return undefined;
  const publicKey = createPublicKey(privateKey);
  return { kid: keyId(publicKey), privateKey, publicKey };
}

export function parseAuditPublicKey(text: string): KeyObject | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** The base64 SPKI form of a public key: what `audit.retiredPublicKeys` lists after a rotation. */
export const publicKeyText = (key: KeyObject): string => key.export({ format: 'der', type: 'spki' }).toString('base64');

/** Derived from the public key, so a checkpoint names the key that must verify it. */
export function keyId(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('base64url').slice(0, 16);
}

export function verifyKeys(signing: AuditSigningKey, retired: readonly KeyObject[]): AuditVerifyKeys {
  const keys = new Map<string, KeyObject>([[signing.kid, signing.publicKey]]);
  for (const k of retired) keys.set(keyId(k), k);
  return keys;
}

export async function signCheckpoint(key: AuditSigningKey, claim: CheckpointClaim): Promise<string> {
  const payload = new TextEncoder().encode(JSON.stringify({ v: 1, seq: claim.seq, hash: claim.hash, at: claim.at }));
  return new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: TYP }).sign(key.privateKey);
}

/** The claim a checkpoint signs, or undefined when its signature does not verify with a known key. */
export async function openCheckpoint(keys: AuditVerifyKeys, jws: string): Promise<(CheckpointClaim & { kid: string }) | undefined> {
  try {
    const header = decodeProtectedHeader(jws);
    const key = typeof header.kid === 'string' ? keys.get(header.kid) : undefined;
    if (!key || header.typ !== TYP) return undefined;
    const { payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] });
    const claim = JSON.parse(new TextDecoder().decode(payload)) as Partial<CheckpointClaim> & { v?: unknown };
    if (claim.v !== 1 || !Number.isSafeInteger(claim.seq) || typeof claim.hash !== 'string' || !Number.isSafeInteger(claim.at)) return undefined;
    return { seq: claim.seq!, hash: claim.hash, at: claim.at!, kid: header.kid! };
  } catch {
    return undefined;
  }
}
