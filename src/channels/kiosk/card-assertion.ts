import { decodeProtectedHeader } from 'jose';
import type { Client } from 'oidc-provider';
import { z } from 'zod';
import { CARD_ASSERTION_TYP } from './grant-type.js';
import { invalidGrant, isOAuthError } from './oauth-errors.js';
import { ClientKeysUnavailable, isKioskSigningAlg, verifiedByClientKey } from './kiosk-keys.js';

/**
 * What a kiosk asserts after reading an ID card: the number from the chip and the result of its
 * face match against the chip photo. Signed with the kiosk's own registered key.
 */
export interface CardAssertion {
  /** The citizen ID number read from the chip. Never logged, never echoed back. */
  citizenId: string;
  jti: string;
  /** Epoch seconds. */
  iat: number;
  face: { result: 'pass' | 'fail'; score?: number | undefined };
}

const claimsSchema = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number().int(),
  jti: z.string().min(16, 'jti must hold at least 16 characters of randomness').max(128),
  citizen_id: z.string().max(64),
  face_match: z.object({ result: z.enum(['pass', 'fail']), score: z.number().min(0).max(1).optional() }),
});

const invalid = invalidGrant;

/** Checks the signature against the kiosk's registered keys; the payload is parsed only after that. */
async function verifiedPayload(jwt: string, client: Client): Promise<Uint8Array> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw invalid('the card assertion is not a JWT');
  }
  if (header.typ !== CARD_ASSERTION_TYP) throw invalid(`the card assertion must have typ "${CARD_ASSERTION_TYP}"`);
  if (!isKioskSigningAlg(header.alg)) throw invalid('the card assertion must be signed with the kiosk key');
  let payload: Uint8Array | undefined;
  try {
    payload = await verifiedByClientKey(jwt, client, header);
  } catch (e) {
    if (e instanceof ClientKeysUnavailable) throw invalid('the kiosk keys cannot be loaded');
    throw e;
  }
  if (payload) return payload;
  throw invalid('the card assertion signature is not valid for this kiosk');
}

/**
 * Verifies a card assertion from an authenticated kiosk: its signature (the kiosk's registered key),
 * that the kiosk itself issued it for this provider, that it is fresh, and its shape. The nonce and
 * the face match are the caller's to check.
 */
export async function verifyCardAssertion(
  jwt: string,
  { client, issuer, tokenEndpoint, maxAgeSeconds, now = Math.floor(Date.now() / 1000) }: { client: Client; issuer: string; tokenEndpoint: string; maxAgeSeconds: number; now?: number },
): Promise<CardAssertion> {
  const payload = await verifiedPayload(jwt, client);
  let parsed: z.infer<typeof claimsSchema>;
  try {
    const result = claimsSchema.safeParse(JSON.parse(new TextDecoder().decode(payload)));
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw invalid(`the card assertion's ${issue.path.join('.') || 'payload'} is missing or malformed`);
    }
    parsed = result.data;
  } catch (e) {
    if (isOAuthError(e)) throw e;
    throw invalid('the card assertion payload is not JSON');
  }
  if (parsed.iss !== client.clientId) throw invalid('the card assertion was not issued by this kiosk');
  const audiences = Array.isArray(parsed.aud) ? parsed.aud : [parsed.aud];
  if (!audiences.some((a) => a === issuer || a === tokenEndpoint)) throw invalid('the card assertion is not meant for this provider');
  const skew = 30;
  if (parsed.iat > now + skew) throw invalid('the card assertion is issued in the future');
  if (parsed.iat < now - maxAgeSeconds) throw invalid('the card assertion is stale');
  return { citizenId: parsed.citizen_id, jti: parsed.jti, iat: parsed.iat, face: parsed.face_match };
}
