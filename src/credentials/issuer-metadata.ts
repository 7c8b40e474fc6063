import type { CredentialIssuerMetadata, IssuerMetadataResult, Openid4vciIssuer } from '@openid4vc/openid4vci';
import { IDENTITY_CONFIGURATION_ID, IDENTITY_SCOPE, IDENTITY_VCT } from './identity-credential.js';
import { openid4vci } from './libraries.js';

/** Where the credential issuer's endpoints live, under the issuer. */
export const CREDENTIAL_PATHS = {
  credential: '/credentials/credential',
  nonce: '/credentials/nonce',
  /** Credential offers by reference (pre-authorized code flow): `<offers>/<offer id>`. */
  offers: '/credentials/offers',
} as const;

/** How many credentials one request may ask for (one proof, and one wallet key, each). */
export const BATCH_SIZE = 10;

/** The only algorithm for wallet key proofs and for our credentials: ES256 (P-256), what every wallet has. */
export const PROOF_ALGS = ['ES256'];

const label = (zh: string, en: string) => [
  { name: zh, locale: 'zh-CN' },
  { name: en, locale: 'en' },
];

const CLAIM_LABELS: Record<string, [string, string]> = {
  name: ['姓名', 'Name'],
  birthdate: ['出生日期', 'Date of birth'],
  gender: ['性别', 'Gender'],
  citizen_id: ['公民身份号码', 'Citizen ID number'],
  citizen_id_masked: ['公民身份号码（部分隐藏）', 'Citizen ID number (partly hidden)'],
  verification: ['身份核验', 'Identity verification'],
  acr: ['认证等级', 'Level of assurance'],
};

/**
 * OpenID for Verifiable Credential Issuance 1.0 metadata (`/.well-known/openid-credential-issuer`).
 * Yihao is its own authorization server: the wallet signs the citizen in at Yihao and gets an
 * access token for this issuer (resource indicator = the issuer identifier).
 */
export function credentialIssuerMetadata(issuer: string): CredentialIssuerMetadata {
  // Not through the library's createCredentialIssuerMetadata: it refuses http:// URLs unless a
  // process-wide switch is set, and a development issuer (http://localhost:3000) must start. The
  // wallet in test/integration/credentials-issuance.test.ts checks the document with the library.
  return {
    credential_issuer: issuer,
    authorization_servers: [issuer],
    credential_endpoint: `${issuer}${CREDENTIAL_PATHS.credential}`,
    nonce_endpoint: `${issuer}${CREDENTIAL_PATHS.nonce}`,
    batch_credential_issuance: { batch_size: BATCH_SIZE },
    display: [
      { name: '一号', locale: 'zh-CN' },
      { name: 'Yihao', locale: 'en' },
    ],
    credential_configurations_supported: {
      [IDENTITY_CONFIGURATION_ID]: {
        format: 'dc+sd-jwt',
        vct: IDENTITY_VCT,
        scope: IDENTITY_SCOPE,
        cryptographic_binding_methods_supported: ['jwk'],
        credential_signing_alg_values_supported: PROOF_ALGS,
        proof_types_supported: { jwt: { proof_signing_alg_values_supported: PROOF_ALGS } },
        credential_metadata: {
          display: label('居民身份电子凭证', 'Citizen identity credential'),
          claims: Object.entries(CLAIM_LABELS).map(([claim, [zh, en]]) => ({ path: [claim], display: label(zh, en) })),
        },
      },
    },
  };
}

/** The metadata in the shape the library's request checks take. */
export async function issuerMetadataResult(issuer: string, metadata: CredentialIssuerMetadata): Promise<IssuerMetadataResult> {
  const { Openid4vciIssuer, Openid4vciVersion } = await openid4vci();
  return {
    originalDraftVersion: Openid4vciVersion.V1,
    credentialIssuer: metadata,
    authorizationServers: [{ issuer, token_endpoint: `${issuer}/token` }],
    knownCredentialConfigurations: new Openid4vciIssuer({ callbacks: unusedCallbacks }).getKnownCredentialConfigurationsSupported(metadata),
  };
}

const unused = () => {
  throw new Error('not used by the metadata helpers');
};
/** Building and checking metadata signs and verifies nothing. */
const unusedCallbacks = { hash: unused, signJwt: unused, verifyJwt: unused, generateRandom: unused, clientAuthentication: unused } as ConstructorParameters<typeof Openid4vciIssuer>[0]['callbacks'];
