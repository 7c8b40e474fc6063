/**
 * The FAPI 2.0 Security Profile (final), as a per-client option: `profile: 'fapi2'` on registration,
 * `security_profile: 'fapi2'` in the stored client metadata. This module holds the profile's rules
 * (what registration derives, what it refuses) and loads nothing of oidc-provider, so that the CLI
 * can check its arguments before opening a store. The provider side (PKCE, the issuer as the only
 * client assertion audience, short codes, no rotation) is in oidc/fapi2.ts.
 *
 * Not offered: mutual TLS (neither for client authentication nor for sender-constrained tokens);
 * DPoP and private_key_jwt are the profile's only options here.
 */

export const SECURITY_PROFILES = ['fapi2'] as const;
export type SecurityProfile = (typeof SECURITY_PROFILES)[number];

/** FAPI 2.0 §5.4.1: the only JWS algorithms (client assertions, DPoP proofs, ID tokens, signed responses). */
export const FAPI2_SIGNING_ALGS: readonly string[] = ['PS256', 'ES256', 'EdDSA'];

/** FAPI 2.0 §5.3.2.1: authorization codes live at most 60 seconds. */
export const FAPI2_CODE_SECONDS = 60;

/**
 * The code flow and its refresh tokens, plus client credentials (still private_key_jwt and
 * DPoP-bound). Yihao's channel grants (device flow, ID card, token exchange, CIBA, device key) have
 * their own profiles or none, so they are refused.
 */
const FAPI2_GRANTS: readonly string[] = ['authorization_code', 'refresh_token', 'client_credentials'];

/** Whether stored client metadata puts the client under the profile. */
export const isFapi2 = (metadata: { security_profile?: unknown } | undefined): boolean => metadata?.security_profile === 'fapi2';

/**
 * What the profile fixes in the registration metadata: PAR only (so request_uri only from PAR),
 * response type code only, DPoP-bound access tokens and private_key_jwt.
 */
export function fapi2Metadata(profile: SecurityProfile | undefined): Record<string, unknown> {
  if (profile !== 'fapi2') return {};
  return {
    security_profile: 'fapi2',
    require_pushed_authorization_requests: true,
    dpop_bound_access_tokens: true,
    token_endpoint_auth_method: 'private_key_jwt',
  };
}

/** The registration input the profile looks at (a subset of the registry's ClientInput). */
interface ProfileInput {
  profile?: SecurityProfile | undefined;
  public: boolean;
  jwks?: unknown;
  jwksUri?: string | undefined;
  grantTypes: readonly string[];
  redirectUris: readonly string[];
  dpopRequired: boolean;
}

const isHttps = (uri: string): boolean => URL.canParse(uri) && new URL(uri).protocol === 'https:';

/**
 * Where a registration contradicts the profile, naming settings by their metadata names (the CLI
 * puts its option names in their place); undefined when it does not. The one client schema
 * (client-settings.ts) refuses the settings with this message.
 */
export function fapi2InputProblem(c: ProfileInput): string | undefined {
  if (c.profile !== 'fapi2') return undefined;
  if (c.public) return 'the fapi2 profile is for confidential clients only: it cannot be public';
  if (!c.jwks && !c.jwksUri) return 'the fapi2 profile authenticates clients with private_key_jwt: give jwks or jwks_uri';
  const other = c.grantTypes.find((g) => !FAPI2_GRANTS.includes(g));
  if (other) return `the fapi2 profile allows only the ${FAPI2_GRANTS.join(', ')} grants, not ${other}`;
  if (!c.redirectUris.every(isHttps)) return 'the fapi2 profile needs https redirect URIs';
  if (!c.dpopRequired) return 'the fapi2 profile needs DPoP-bound access tokens (dpop_bound_access_tokens)';
  return undefined;
}

/** Signing-algorithm fields a client may register; under the profile each must be a FAPI 2.0 one. */
const ALG_FIELDS = [
  'id_token_signed_response_alg',
  'userinfo_signed_response_alg',
  'introspection_signed_response_alg',
  'authorization_signed_response_alg',
  'token_endpoint_auth_signing_alg',
  'request_object_signing_alg',
] as const;

/**
 * Where stored client metadata contradicts the profile; undefined when it does not, or when the
 * client is not under it. oidc-provider's client validation runs this for every client it builds
 * (registration, an approved change, a client loaded from the store), so no path publishes a
 * `security_profile: 'fapi2'` client that breaks the profile: such a client is refused, not weakened.
 */
export function fapi2MetadataProblem(m: Record<string, unknown>): string | undefined {
  if (m.security_profile === undefined) return undefined;
  if (m.security_profile !== 'fapi2') return `security_profile must be one of ${SECURITY_PROFILES.join(', ')}`;
  if (m.token_endpoint_auth_method !== 'private_key_jwt') return 'a fapi2 client must authenticate with private_key_jwt (token_endpoint_auth_method)';
  if (m.require_pushed_authorization_requests !== true) return 'a fapi2 client must use pushed authorization requests (require_pushed_authorization_requests)';
  if (m.dpop_bound_access_tokens !== true) return 'a fapi2 client must have DPoP-bound access tokens (dpop_bound_access_tokens)';
  const responseTypes = Array.isArray(m.response_types) ? (m.response_types as unknown[]) : [];
  if (!responseTypes.every((t) => t === 'code')) return 'a fapi2 client may use only the code response type (no implicit or hybrid flow)';
  const grantTypes = Array.isArray(m.grant_types) ? (m.grant_types as unknown[]) : [];
  const other = grantTypes.find((g) => !FAPI2_GRANTS.includes(String(g)));
  if (other !== undefined) return `a fapi2 client may use only the ${FAPI2_GRANTS.join(', ')} grants, not ${String(other)}`;
  const redirectUris = Array.isArray(m.redirect_uris) ? (m.redirect_uris as unknown[]) : [];
  if (!redirectUris.every((u) => typeof u === 'string' && isHttps(u))) return 'a fapi2 client needs https redirect_uris';
  for (const field of ALG_FIELDS) {
    const alg = m[field];
    if (alg !== undefined && !FAPI2_SIGNING_ALGS.includes(String(alg))) return `a fapi2 client's ${field} must be one of ${FAPI2_SIGNING_ALGS.join(', ')}`;
  }
  return undefined;
}
