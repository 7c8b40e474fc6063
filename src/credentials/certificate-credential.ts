import type { SDJwtVcInstance, SdJwtVcPayload } from '@sd-jwt/sd-jwt-vc';
import { sdJwtCrypto, sdJwtVc } from './libraries.js';
import type { CredentialConfigurationSupportedWithFormats } from '@openid4vc/openid4vci';
import type { JWK } from 'jose';
import type { Database } from '../storage/database.js';
import type { CertificateType, CertificateTypeVersion, ClaimValues } from './certificate-store.js';
import { alwaysPresent, configurationIdOf, scopeOf } from './certificate-types.js';
import { PROOF_ALGS } from './issuer-metadata.js';

const label = (zh: string, en: string) => [
  { name: zh, locale: 'zh-CN' },
  { name: en, locale: 'en' },
];

/**
 * The versions certificates can have been pushed under: those in force at some time, up to the
 * current one. A version withdrawn before approval, or changed while the type awaited its first
 * approval, never took a push.
 */
const inForceOnce = (versions: readonly Pick<CertificateTypeVersion, 'version' | 'approvedAt' | 'claims'>[], t: CertificateType) => versions.filter((v) => v.approvedAt !== undefined && v.version <= t.version);

/**
 * The OID4VCI configuration of each certificate type: `cert_<id>`, its own scope, its type's `vct`,
 * its current claims. A claim is `mandatory` only if every version required it: a certificate
 * pushed before a claim became required does not have it. Retired types stay: their certificates
 * are still issued to wallets.
 */
export function certificateConfigurations(types: readonly CertificateType[], versions: ReadonlyMap<string, readonly CertificateTypeVersion[]>): Record<string, CredentialConfigurationSupportedWithFormats> {
  return Object.fromEntries(
    types.map((t) => [
      configurationIdOf(t.id),
      {
        format: 'dc+sd-jwt',
        vct: t.vct,
        scope: scopeOf(t.id),
        cryptographic_binding_methods_supported: ['jwk'],
        credential_signing_alg_values_supported: PROOF_ALGS,
        proof_types_supported: { jwt: { proof_signing_alg_values_supported: PROOF_ALGS } },
        credential_metadata: {
          display: label(t.names['zh-CN'], t.names.en),
          claims: [
            ...Object.entries(t.claims).map(([claim, spec]) => ({ path: [claim], mandatory: alwaysPresent(claim, inForceOnce(versions.get(t.id) ?? [t], t)), ...(spec.names ? { display: label(spec.names['zh-CN'], spec.names.en) } : {}) })),
            { path: ['issuing_department'], display: label('签发部门', 'Issuing department') },
          ],
        },
      } as CredentialConfigurationSupportedWithFormats,
    ]),
  );
}

/**
 * The scopes a wallet may ask for at the credential issuer beside the identity credential's: one
 * per certificate type in force (approved), read when a token is asked for (a new type needs no restart).
 */
export const certificateScopes = (db: Database) => async (): Promise<string[]> => {
  const rows = (await db('certificate_types').whereNotNull('approved_at').select('id')) as { id: string }[];
  return rows.map((r) => scopeOf(r.id));
};

export interface CertificateCredentialInput {
  type: CertificateType;
  claims: ClaimValues;
  /** The issuing department's name, a disclosable claim like the others. */
  issuingDepartment: string;
  holderJwk: JWK;
  issuer: string;
  issuedAt: number;
  validFrom: number;
  validUntil: number;
  status: { uri: string; idx: number };
  signingKey: JWK & { kid: string; alg: string };
}

/**
 * Signs a department certificate as an SD-JWT VC (`dc+sd-jwt`) with its type's `vct`, bound to the
 * wallet's key, every claim its own disclosure (the issuing department too), `nbf`/`exp` from the
 * certificate's validity and its entry in a status list.
 */
export async function issueCertificateCredential(input: CertificateCredentialInput): Promise<string> {
  const [{ SDJwtVcInstance }, { digest, ES256, generateSalt }] = await Promise.all([sdJwtVc(), sdJwtCrypto()]);
  const sdjwt = new SDJwtVcInstance({ signer: await ES256.getSigner(input.signingKey), signAlg: input.signingKey.alg, hasher: digest, hashAlg: 'sha-256', saltGenerator: generateSalt });
  const claims = { ...input.claims, issuing_department: input.issuingDepartment };
  const payload: SdJwtVcPayload = {
    iss: input.issuer,
    vct: input.type.vct,
    iat: Math.floor(input.issuedAt / 1000),
    nbf: Math.floor(input.validFrom / 1000),
    exp: Math.floor(input.validUntil / 1000),
    cnf: { jwk: input.holderJwk },
    status: { status_list: input.status },
    ...claims,
  };
  const frame = { _sd: Object.keys(claims) } as unknown as Parameters<SDJwtVcInstance['issue']>[1];
  return sdjwt.issue(payload, frame, { header: { kid: input.signingKey.kid } });
}
