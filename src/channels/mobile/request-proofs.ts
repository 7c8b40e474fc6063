import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, importJWK, jwtVerify, type JWK } from 'jose';
import type { AdapterConstructor } from '../../storage/oidc-adapter.js';
import { ReplayDetectedError } from '../../storage/oidc-adapter.js';
import { invalidDeviceSignature, invalidDpopProof } from './api-error.js';

/** How far a proof's `iat` may be from our clock (both ways), in seconds. */
export const PROOF_WINDOW_SECONDS = 60;

export const DPOP_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'];

/** The header that carries a device-key signature over an API call. */
export const DEVICE_SIGNATURE_HEADER = 'device-signature';
export const DEVICE_SIGNATURE_TYP = 'device-signature+jwt';

export const sha256 = (value: string | Buffer): string => createHash('sha256').update(value).digest('base64url');

export interface RequestFacts {
  method: string;
  /** Our URL of the request, without query or fragment (RFC 9449 `htu`). */
  url: string;
  accessToken: string;
  body: Buffer;
}

/**
 * Remembers each proof's `jti` until its window closes, in the shared replay store (Redis `SET NX`
 * or SQL insert-if-absent), so a captured proof does not work twice on any instance.
 */
export function proofReplay(Adapter: AdapterConstructor) {
  const store = new Adapter('ReplayDetection');
  return async (purpose: string, key: string, jti: string): Promise<boolean> => {
    try {
      await store.upsert(sha256(`${purpose}:${key}:${jti}`), { iat: Math.floor(Date.now() / 1000) }, PROOF_WINDOW_SECONDS * 2);
      return true;
    } catch (e) {
      if (e instanceof ReplayDetectedError) return false;
      throw e;
    }
  };
}
export type ProofReplay = ReturnType<typeof proofReplay>;

const fresh = (iat: unknown): boolean => typeof iat === 'number' && Math.abs(iat - Date.now() / 1000) <= PROOF_WINDOW_SECONDS;

/**
 * Checks a DPoP proof (RFC 9449 §4.3) for a call that presents a DPoP-bound access token, and that
 * its key is the one the token is bound to (`jkt`).
 */
export async function verifyDpopProof(proof: string | undefined, facts: RequestFacts, boundJkt: string, replay: ProofReplay): Promise<void> {
  if (!proof) throw invalidDpopProof('a DPoP proof is required (DPoP header)');
  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk as JWK;
  } catch {
    throw invalidDpopProof('the DPoP proof is not a valid dpop+jwt signed with its embedded key');
  }
  if ('d' in jwk) throw invalidDpopProof('the DPoP proof key must be a public key');
  if (payload.htm !== facts.method) throw invalidDpopProof('DPoP htm does not match the request method');
  if (payload.htu !== facts.url) throw invalidDpopProof('DPoP htu does not match the request URL');
  if (!fresh(payload.iat)) throw invalidDpopProof('DPoP proof iat is outside the acceptable window');
  if (payload.ath !== sha256(facts.accessToken)) throw invalidDpopProof('DPoP ath does not match the access token');
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw invalidDpopProof('DPoP proof needs a jti');
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  if (jkt !== boundJkt) throw invalidDpopProof('the DPoP proof key is not the key the access token is bound to');
  if (!(await replay('dpop', jkt, payload.jti))) throw invalidDpopProof('DPoP proof replay detected');
}

/** The key id a device signature names (its `kid`), without verifying anything. */
export function deviceSignatureKid(signature: string | undefined): string | undefined {
  if (!signature) return undefined;
  try {
    const kid = decodeProtectedHeader(signature).kid;
    return typeof kid === 'string' && kid.length <= 64 ? kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks a device-key signature over an API call: a compact JWS (ES256, typ device-signature+jwt)
 * whose payload names the method (`htm`), URL (`htu`), a SHA-256 of the exact body bytes (`bsh`),
 * the access token (`ath`), a time (`iat`) and a single-use `jti`. A stolen access token alone
 * therefore cannot make a call, and a captured call cannot be replayed or re-pointed.
 */
export async function verifyDeviceSignature(signature: string | undefined, facts: RequestFacts, key: { id: string; jwk: JWK }, replay: ProofReplay): Promise<void> {
  if (!signature) throw invalidDeviceSignature(`a device-key signature is required (${DEVICE_SIGNATURE_HEADER} header)`);
  let payload: Record<string, unknown>;
  try {
    const publicKey = await importJWK(key.jwk, 'ES256');
    ({ payload } = await jwtVerify(signature, publicKey, { typ: DEVICE_SIGNATURE_TYP, algorithms: ['ES256'] }));
  } catch {
    throw invalidDeviceSignature('the device signature does not verify with the registered device key');
  }
  if (payload.htm !== facts.method || payload.htu !== facts.url) throw invalidDeviceSignature('the device signature names another request');
  if (payload.bsh !== sha256(facts.body)) throw invalidDeviceSignature('the device signature does not cover this request body');
  if (payload.ath !== sha256(facts.accessToken)) throw invalidDeviceSignature('the device signature names another access token');
  if (!fresh(payload.iat)) throw invalidDeviceSignature('the device signature iat is outside the acceptable window');
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw invalidDeviceSignature('the device signature needs a jti');
  if (!(await replay('device', key.id, payload.jti))) throw invalidDeviceSignature('device signature replay detected');
}
