import { createSigningKeys, type SigningKeySet } from '../keys/index.js';
import type { Sealer } from '../identity/index.js';
import type { Database } from '../storage/database.js';

export const credentialIssuerKeyPurpose = (kid: string) => `credential_issuer_key:${kid}`;

/**
 * The credential issuer's own keys: kept apart from the token signing keys, so that a wallet or a
 * verifier trusting the issuer's credentials never has to trust an ID token key (and the reverse),
 * and each rotates on its own. ES256 only: what SD-JWT VC verifiers support everywhere.
 */
export const CREDENTIAL_ISSUER_KEYS: SigningKeySet = {
  table: 'credential_issuer_keys',
  algs: ['ES256'],
  aad: credentialIssuerKeyPurpose,
  kidPrefix: 'vc-',
  signedFor: { table: 'issued_credentials', kid: 'kid', expiresAt: 'expires_at' },
};

export function createIssuerKeys(db: Database, sealer: Sealer, settings: { retiredKeepSeconds: number; publishSeconds?: number }) {
  return createSigningKeys(db, sealer, settings, CREDENTIAL_ISSUER_KEYS);
}
export type IssuerKeys = ReturnType<typeof createIssuerKeys>;

export const verifierKeyPurpose = (kid: string) => `verifier_key:${kid}`;

/**
 * The OID4VP verifier's keys: they sign the presentation requests (JAR) that counters and kiosks
 * show, so a wallet that knows Yihao's verifier can tell a request is Yihao's. Apart from the
 * issuer's keys: a key that signs requests must never be able to pass for one that signs credentials.
 */
export const VERIFIER_KEYS: SigningKeySet = {
  table: 'verifier_keys',
  algs: ['ES256'],
  aad: verifierKeyPurpose,
  kidPrefix: 'vp-',
};

export function createVerifierKeys(db: Database, sealer: Sealer, settings: { retiredKeepSeconds: number; publishSeconds?: number }) {
  return createSigningKeys(db, sealer, settings, VERIFIER_KEYS);
}
