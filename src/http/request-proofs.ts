/**
 * Proofs that an API call comes from the holder of a key (DPoP, RFC 9449), shared by every API that
 * takes sender-constrained tokens: the mobile and counter channels, the credential issuer and
 * verifier, and the department-system admin API.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { ReplayDetectedError } from '../storage/oidc-adapter.js';
import { invalidDpopProof } from './api-error.js';

/** How far a proof's `iat` may be from our clock (both ways), in seconds. */
export const PROOF_WINDOW_SECONDS = 60;

export const DPOP_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'];

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
  const take = async (purpose: string, key: string, jti: string, keepSeconds = PROOF_WINDOW_SECONDS * 2): Promise<boolean> => {
    try {
      await store.upsert(sha256(`${purpose}:${key}:${jti}`), { iat: Math.floor(Date.now() / 1000) }, keepSeconds);
      return true;
    } catch (e) {
      if (e instanceof ReplayDetectedError) return false;
      throw e;
    }
  };
  /** Forgets a use taken by a request that then failed before it delivered what the use was for. */
  const giveBack = (purpose: string, key: string, jti: string): Promise<void> => store.destroy(sha256(`${purpose}:${key}:${jti}`));
  return Object.assign(take, { giveBack });
}
export type ProofReplay = ReturnType<typeof proofReplay>;

/** Whether a proof's `iat` is within PROOF_WINDOW_SECONDS of our clock. */
export const freshProofTime = (iat: unknown): boolean => typeof iat === 'number' && Math.abs(iat - Date.now() / 1000) <= PROOF_WINDOW_SECONDS;

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
  if (!freshProofTime(payload.iat)) throw invalidDpopProof('DPoP proof iat is outside the acceptable window');
  if (payload.ath !== sha256(facts.accessToken)) throw invalidDpopProof('DPoP ath does not match the access token');
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw invalidDpopProof('DPoP proof needs a jti');
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  if (jkt !== boundJkt) throw invalidDpopProof('the DPoP proof key is not the key the access token is bound to');
  if (!(await replay('dpop', jkt, payload.jti))) throw invalidDpopProof('DPoP proof replay detected');
}
