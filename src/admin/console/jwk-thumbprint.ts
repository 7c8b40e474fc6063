import { createHash } from 'node:crypto';

/** RFC 7638 §3.2: the members that make up each key type's thumbprint (the public key itself). */
const REQUIRED_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
  oct: ['k', 'kty'],
};

/**
 * The RFC 7638 SHA-256 thumbprint of a JWK (base64url), the one jose's calculateJwkThumbprint
 * gives; synchronous, because pages render synchronously. A key whose type has no thumbprint
 * (unknown `kty`, a required member missing or not a string) gets the same digest over all of its
 * members instead: a reviewer compares thumbprints to tell keys apart, so any change of material
 * must change what is shown.
 */
export function jwkThumbprint(jwk: Record<string, unknown>): string {
  const required = typeof jwk.kty === 'string' ? REQUIRED_MEMBERS[jwk.kty] : undefined;
  const members = required && required.every((m) => typeof jwk[m] === 'string') ? required : Object.keys(jwk).sort();
  // Members in lexicographic order, no whitespace: the canonical form the RFC hashes.
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}
