import type { SDJwtVcInstance, SdJwtVcPayload } from '@sd-jwt/sd-jwt-vc';
import { sdJwtCrypto, sdJwtVc } from './libraries.js';
import type { JWK } from 'jose';
import type { Account } from '../accounts/index.js';
import { maskCitizenId } from '../identity/index.js';
import { verifiedClaims } from '../oidc/verified-claims.js';

/** The identity credential's type (`vct`) and its OID4VCI configuration id and scope. */
export const IDENTITY_VCT = 'urn:yihao:vct:identity:1';
export const IDENTITY_CONFIGURATION_ID = 'yihao_identity_sd_jwt';
export const IDENTITY_SCOPE = 'identity_credential';

/** The claims the identity credential carries, each disclosable on its own. */
export const IDENTITY_CLAIMS = ['name', 'birthdate', 'gender', 'citizen_id', 'citizen_id_masked', 'verification', 'acr'] as const;

export interface IdentitySubject {
  account: Pick<Account, 'name' | 'assurance' | 'assuranceAt' | 'citizenId' | 'profile'>;
  /** The level of the sign-in the wallet's access token came from. */
  acr: string;
}

export interface IssueInput {
  subject: IdentitySubject;
  holderJwk: JWK;
  issuer: string;
  issuedAt: number;
  expiresAt: number;
  status: { uri: string; idx: number };
  signingKey: JWK & { kid: string; alg: string };
}

/**
 * What the identity credential says about the citizen. Every claim is its own disclosure, so the
 * wallet shows only what a verifier needs: the ID number whole (`citizen_id`) or only its masked
 * form (`citizen_id_masked`), the name, or only the level. `verification` is OpenID Connect for
 * Identity Assurance's account of how the binding to the number was proven, from the account's
 * standing proofing (the same source as `verified_claims`): it says no more than the account has,
 * and a self-asserted or federated account gets none.
 */
export function identityClaims({ account, acr }: IdentitySubject): Record<string, unknown> {
  const citizenId = account.citizenId();
  const { birthdate, gender } = account.profile();
  const verification = verifiedClaims(account, {})?.verification;
  return {
    name: account.name,
    birthdate,
    gender,
    citizen_id: citizenId,
    citizen_id_masked: maskCitizenId(citizenId),
    ...(verification ? { verification } : {}),
    acr,
  };
}

/** Signs the identity credential as an SD-JWT VC (`dc+sd-jwt`), bound to the wallet's key. */
export async function issueIdentityCredential(input: IssueInput): Promise<string> {
  const claims = identityClaims(input.subject);
  const [{ SDJwtVcInstance }, { digest, ES256, generateSalt }] = await Promise.all([sdJwtVc(), sdJwtCrypto()]);
  const sdjwt = new SDJwtVcInstance({
    signer: await ES256.getSigner(input.signingKey),
    signAlg: input.signingKey.alg,
    hasher: digest,
    hashAlg: 'sha-256',
    saltGenerator: generateSalt,
  });
  const payload: SdJwtVcPayload = {
    iss: input.issuer,
    vct: IDENTITY_VCT,
    iat: Math.floor(input.issuedAt / 1000),
    exp: Math.floor(input.expiresAt / 1000),
    cnf: { jwk: input.holderJwk },
    status: { status_list: input.status },
    ...claims,
  };
  const frame = { _sd: Object.keys(claims) } as unknown as Parameters<SDJwtVcInstance['issue']>[1];
  return sdjwt.issue(payload, frame, { header: { kid: input.signingKey.kid } });
}
