import { createHash } from 'node:crypto';
import { sdJwtCrypto, sdJwtVc, statusListCodec } from './libraries.js';
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWK, type JWTPayload } from 'jose';
import { z } from 'zod';
import { IDENTITY_CLAIMS, IDENTITY_VCT } from './identity-credential.js';
import { STATUS_SUSPENDED, STATUS_VALID } from './status-lists.js';
import { disclosedClaimsValidator, type ClaimSchema } from './certificate-types.js';

/**
 * Why a presentation is refused. Stable codes (the CLI prints them, tests and counter software
 * match on them); the text beside each says it in words and never quotes a claim.
 */
export const REFUSALS = {
  malformed: 'the presentation is not an SD-JWT VC with a key-binding JWT',
  wrong_issuer: 'the credential was not issued by this issuer',
  unknown_type: 'the credential is not of a type this verifier knows',
  unknown_key: 'the credential is signed with a key the issuer does not publish',
  bad_signature: "the issuer's signature does not verify",
  expired: 'the credential has expired',
  not_yet_valid: 'the credential is not valid yet',
  no_holder_key: 'the credential is not bound to a holder key',
  holder_key_mismatch: "the key-binding JWT is not signed by the credential's holder key",
  wrong_nonce: "the key-binding JWT does not carry this request's nonce",
  wrong_audience: 'the key-binding JWT is for another verifier',
  stale_key_binding: 'the key-binding JWT was not made just now',
  tampered: 'a disclosure does not match the credential the issuer signed',
  no_status: 'the credential carries no status list entry',
  status_unknown: "the credential's status list is not available",
  status_list_invalid: "the credential's status list is not signed by the issuer, or is out of date",
  revoked: 'the credential has been revoked',
  suspended: 'the credential is suspended',
  schema: "the disclosed claims do not fit the credential type's schema",
  missing_claim: 'a claim the request needs was not disclosed',
} as const;
export type RefusalCode = keyof typeof REFUSALS;

export class PresentationRefused extends Error {
  constructor(readonly reason: RefusalCode) {
    super(REFUSALS[reason]);
    this.name = 'PresentationRefused';
  }
}

/** What a verifier trusts: the issuer and its published keys (`/.well-known/jwt-vc-issuer`). */
export interface IssuerTrust {
  issuer: string;
  jwks: { keys: JWK[] };
  /** The department certificate types it knows, by `vct`, with their current claim schemas. */
  certificateTypes?: ReadonlyMap<string, ClaimSchema> | undefined;
}

/** Where a status list comes from: a bundle offline, a cached fetch online. */
export type StatusListSource = (uri: string) => Promise<string | undefined>;

export interface PresentationRequest {
  nonce: string;
  /** The verifier's client_id: the KB-JWT's `aud`. */
  audience: string;
  /** Claims the verifier needs disclosed. */
  claims?: readonly string[];
  /** The credential type asked for, and its claims' schema (default: the identity credential or a type the trust knows). */
  type?: CredentialTypeCheck;
}

/** A credential type a verifier accepts: its `vct`, and the schema its disclosed claims must fit. */
export interface CredentialTypeCheck {
  vct: string;
  claims: z.ZodType;
}

export interface VerifiedPresentation {
  vct: string;
  /** Only what the holder disclosed. */
  claims: Record<string, unknown>;
  issuedAt: number;
  expiresAt: number;
  /** The status list checked, and its own `iat`: how fresh the revocation check was (seconds). */
  statusList: string;
  statusAsOf: number;
  /** The credential's status entry (its index in `statusList`) and holder key: what names this very credential. */
  statusIndex: number;
  holderJwk: JWK;
}

/** A KB-JWT must have been made this recently (seconds), and not ahead of the clock. */
const KB_MAX_AGE = 300;
const SKEW = 60;

/** The identity credential's disclosable claims (docs/credentials.md); anything else is not its type. */
export const identityClaimsSchema = z
  .object({
    name: z.string().min(1).max(200),
    birthdate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    gender: z.enum(['male', 'female']),
    citizen_id: z.string().regex(/^\d{17}[\dX]$/),
    citizen_id_masked: z.string().regex(/^\d{6}\*{8}[\dX]{4}$/),
    verification: z.record(z.string(), z.unknown()),
    acr: z.string().min(1).max(200),
  })
  .partial()
  .strict();

/** The identity credential's type check. */
export const IDENTITY_TYPE: CredentialTypeCheck = { vct: IDENTITY_VCT, claims: identityClaimsSchema };

/** A department certificate type's check: any of its claims, in its form, and the issuing department. */
export const certificateTypeCheck = (vct: string, schema: ClaimSchema): CredentialTypeCheck => ({ vct, claims: disclosedClaimsValidator(schema) });

/** The identity credential, or a certificate type the trust carries (the offline bundle's). */
function typeKnownTo(trust: IssuerTrust, vct: string): CredentialTypeCheck | undefined {
  if (vct === IDENTITY_VCT) return IDENTITY_TYPE;
  const schema = trust.certificateTypes?.get(vct);
  return schema && certificateTypeCheck(vct, schema);
}

/** The credential's own claims, which every presentation carries (not the citizen's). */
const CREDENTIAL_MEMBERS = ['iss', 'vct', 'iat', 'exp', 'nbf', 'cnf', 'status', 'sub'];

const credentialPayload = z.object({
  iss: z.string(),
  vct: z.string(),
  iat: z.number(),
  exp: z.number(),
  nbf: z.number().optional(),
  cnf: z.object({ jwk: z.record(z.string(), z.unknown()) }).optional(),
  status: z.object({ status_list: z.object({ idx: z.number().int().nonnegative(), uri: z.string() }) }).optional(),
});

const kbPayload = z.object({ iat: z.number(), aud: z.union([z.string(), z.array(z.string())]), nonce: z.string(), sd_hash: z.string() });

const statusListPayload = z.object({ iss: z.string(), sub: z.string(), iat: z.number(), exp: z.number().optional() });

function refuse(reason: RefusalCode): never {
  throw new PresentationRefused(reason);
}

async function verifiedBy(jwt: string, keys: JWK[]): Promise<boolean> {
  for (const key of keys) {
    try {
      await compactVerify(jwt, await importJWK(key, 'ES256'), { algorithms: ['ES256'] });
      return true;
    } catch {
      // try the next published key (a retired one may have signed it)
    }
  }
  return false;
}

const SD_JWT_CHARACTERS = /^[A-Za-z0-9_\-.~]+$/;
const sha256 = (text: string) => createHash('sha256').update(text, 'ascii').digest('base64url');

/**
 * RFC 9901 §7.1: each disclosure is sent once and named by a digest the issuer signed, directly or
 * inside another disclosure's value, and no digest is named twice. The library's verify quietly
 * drops a disclosure that breaks this, so a presentation could carry a repeated one, or another
 * credential's, and still read as verified.
 */
function disclosuresReferenced(payload: Record<string, unknown>, disclosures: string[]): boolean {
  if (payload._sd_alg !== undefined && payload._sd_alg !== 'sha-256') return false;
  const byDigest = new Map(disclosures.map((d) => [sha256(d), d]));
  if (byDigest.size !== disclosures.length) return false;
  const named = new Set<string>();
  let sound = true;
  const name = (digest: unknown) => {
    if (typeof digest !== 'string' || named.has(digest)) return void (sound = false);
    named.add(digest);
    const disclosure = byDigest.get(digest);
    if (disclosure === undefined) return; // a decoy, or a claim not disclosed
    let decoded: unknown;
    try {
      decoded = JSON.parse(Buffer.from(disclosure, 'base64url').toString('utf8'));
    } catch {
      return void (sound = false);
    }
    if (!Array.isArray(decoded) || decoded.length < 2) return void (sound = false);
    walk(decoded.at(-1));
  };
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) {
        const keys = item !== null && typeof item === 'object' && !Array.isArray(item) ? Object.keys(item) : [];
        if (keys.length === 1 && keys[0] === '...') name((item as Record<string, unknown>)['...']);
        else walk(item);
      }
    } else if (value !== null && typeof value === 'object') {
      for (const [key, member] of Object.entries(value)) {
        if (key === '_sd') (Array.isArray(member) ? member : [member]).forEach(name);
        else walk(member);
      }
    }
  };
  walk(payload);
  return sound && [...byDigest.keys()].every((digest) => named.has(digest));
}

function decodeSafely<T>(read: () => T): T {
  try {
    return read();
  } catch {
    return refuse('malformed');
  }
}

/**
 * Checks a presentation of an SD-JWT VC (with key binding) the way a counter must: the issuer's
 * signature against the published keys, the validity dates, the holder's key binding with this
 * request's nonce and audience, the disclosures against the signed digests, the status list entry,
 * and the type's schema. Network-free: the trust and the status lists are handed in, so the same
 * check serves the online verifier and `yihao credential verify` from a bundle. The last step runs
 * @sd-jwt/sd-jwt-vc's own verification over everything, so a check missed here is still made.
 */
export async function checkPresentation(presentation: string, request: PresentationRequest, trust: IssuerTrust, statusLists: StatusListSource, now = Date.now()): Promise<VerifiedPresentation> {
  const seconds = Math.floor(now / 1000);
  // Base64url, dots and tildes only: the digests below hash these characters as bytes.
  if (!SD_JWT_CHARACTERS.test(presentation.trim())) refuse('malformed');
  const parts = presentation.trim().split('~');
  if (parts.length < 2 || !parts[0] || !parts.at(-1)) refuse('malformed');
  const issuerJwt = parts[0]!;
  const kbJwt = parts.at(-1)!;

  const header = decodeSafely(() => decodeProtectedHeader(issuerJwt));
  const payload = credentialPayload.safeParse(decodeSafely(() => decodeJwt(issuerJwt)));
  if (!payload.success || header.typ !== 'dc+sd-jwt') refuse('malformed');
  const vc = payload.data;
  if (vc.iss !== trust.issuer) refuse('wrong_issuer');
  // The type the request names (the online verifier), else any type the trust knows (offline).
  const type = request.type ?? typeKnownTo(trust, vc.vct);
  if (!type || vc.vct !== type.vct) refuse('unknown_type');
  const keys = trust.jwks.keys.filter((k) => header.kid === undefined || k.kid === header.kid);
  if (keys.length === 0) refuse('unknown_key');
  if (!(await verifiedBy(issuerJwt, keys))) refuse('bad_signature');
  if (vc.exp <= seconds - SKEW) refuse('expired');
  if ((vc.nbf ?? vc.iat) > seconds + SKEW) refuse('not_yet_valid');

  if (!vc.cnf) refuse('no_holder_key');
  const holderKey = await importJWK(vc.cnf.jwk as JWK, 'ES256').catch(() => refuse('no_holder_key'));
  const kbHeader = decodeSafely(() => decodeProtectedHeader(kbJwt));
  if (kbHeader.typ !== 'kb+jwt') refuse('malformed');
  try {
    await compactVerify(kbJwt, holderKey, { algorithms: ['ES256'] });
  } catch {
    refuse('holder_key_mismatch');
  }
  const kb = kbPayload.safeParse(decodeSafely(() => decodeJwt(kbJwt)));
  if (!kb.success) refuse('malformed');
  if (kb.data.nonce !== request.nonce) refuse('wrong_nonce');
  if (![kb.data.aud].flat().includes(request.audience)) refuse('wrong_audience');
  if (kb.data.iat < seconds - KB_MAX_AGE || kb.data.iat > seconds + SKEW) refuse('stale_key_binding');
  const presented = presentation.trim().slice(0, presentation.trim().length - kbJwt.length);
  if (kb.data.sd_hash !== sha256(presented)) refuse('tampered');
  if (!disclosuresReferenced(decodeSafely(() => decodeJwt(issuerJwt)), parts.slice(1, -1).filter(Boolean))) refuse('tampered');

  if (!vc.status) refuse('no_status');
  const { uri, idx } = vc.status.status_list;
  const listJwt = await statusLists(uri);
  if (!listJwt) refuse('status_unknown');
  const list = statusListPayload.safeParse(decodeSafely(() => decodeJwt(listJwt)));
  const listKid = decodeSafely(() => decodeProtectedHeader(listJwt)).kid;
  const listKeys = trust.jwks.keys.filter((k) => listKid === undefined || k.kid === listKid);
  if (!list.success || list.data.iss !== trust.issuer || list.data.sub !== uri || (list.data.exp !== undefined && list.data.exp <= seconds - SKEW)) refuse('status_list_invalid');
  if (!(await verifiedBy(listJwt, listKeys))) refuse('status_list_invalid');
  const [{ SDJwtVcInstance }, { digest, ES256 }, { getListFromStatusListJWT }] = await Promise.all([sdJwtVc(), sdJwtCrypto(), statusListCodec()]);
  const status = decodeSafely(() => getListFromStatusListJWT(listJwt).getStatus(idx));
  if (status === STATUS_SUSPENDED) refuse('suspended');
  if (status !== STATUS_VALID) refuse('revoked');

  // Everything again through the library: the disclosures' digests above all.
  const byIssuerKey = async (data: string, sig: string) => {
    for (const key of keys) if (await (await ES256.getVerifier(key))(data, sig)) return true;
    return false;
  };
  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    verifier: byIssuerKey,
    statusVerifier: async (data, sig) => {
      for (const key of listKeys) if (await (await ES256.getVerifier(key))(data, sig)) return true;
      return false;
    },
    kbVerifier: async (data, sig) => (await ES256.getVerifier(vc.cnf!.jwk))(data, sig),
    statusListFetcher: async () => listJwt,
  });
  let verified: { payload: unknown };
  try {
    verified = await sdjwt.verify(presentation.trim(), { keyBindingNonce: request.nonce, currentDate: seconds, skewSeconds: SKEW });
  } catch {
    return refuse('tampered');
  }
  const disclosed = Object.fromEntries(Object.entries(verified.payload as JWTPayload).filter(([k]) => !CREDENTIAL_MEMBERS.includes(k) && k !== '_sd' && k !== '_sd_alg'));
  if (!type.claims.safeParse(disclosed).success) refuse('schema');
  for (const claim of request.claims ?? []) if (!(claim in disclosed)) refuse('missing_claim');
  return { vct: vc.vct, claims: disclosed, issuedAt: vc.iat, expiresAt: vc.exp, statusList: uri, statusAsOf: list.data.iat, statusIndex: idx, holderJwk: vc.cnf.jwk as JWK };
}

/** The claims a verifier may ask the identity credential for. */
export const REQUESTABLE_CLAIMS: readonly string[] = IDENTITY_CLAIMS;
