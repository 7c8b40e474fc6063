import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import { invalidDeviceSignature } from '../../http/api-error.js';
import { freshProofTime, sha256, type ProofReplay, type RequestFacts } from '../../http/request-proofs.js';

/** The header that carries a device-key signature over an API call. */
export const DEVICE_SIGNATURE_HEADER = 'device-signature';
export const DEVICE_SIGNATURE_TYP = 'device-signature+jwt';

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
  if (!freshProofTime(payload.iat)) throw invalidDeviceSignature('the device signature iat is outside the acceptable window');
  if (typeof payload.jti !== 'string' || !payload.jti || payload.jti.length > 256) throw invalidDeviceSignature('the device signature needs a jti');
  if (!(await replay('device', key.id, payload.jti))) throw invalidDeviceSignature('device signature replay detected');
}
