import { decodeProtectedHeader } from 'jose';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { FAPI2_CODE_SECONDS, FAPI2_SIGNING_ALGS } from '../clients/index.js';
import { isFapi2Client } from './client-metadata.js';

type Ttl = NonNullable<Configuration['ttl']>;
type ClientArg = Parameters<typeof isFapi2Client>[0];

/**
 * The provider side of the FAPI 2.0 Security Profile, for the clients registered under it
 * (clients/fapi2-profile.ts holds the registration side). Every other client is untouched.
 *
 * - oidc-provider's own '2.0' profile: PKCE (S256, the only method it knows) and a redirect_uri on
 *   every request, and the issuer as the only audience of a client assertion.
 * - Authorization codes live at most 60 seconds, whatever `ttl.authorizationCodeSeconds` says.
 * - Refresh tokens are not rotated (§5.3.2.1: not "except in extraordinary circumstances"); they
 *   are bound to the client, which must prove its key (private_key_jwt) on every use.
 * - Client assertions and DPoP proofs must be signed with PS256, ES256 or EdDSA.
 */
/**
 * The furthest a client assertion's `exp` may lie ahead, in seconds: an hour (Authlib's default
 * lifetime; openid-client's is a minute), and a minute for clocks.
 */
const CLIENT_ASSERTION_MAX_SECONDS = 3660;

export const fapi2Profile = {
  /** oidc-provider's `features.fapi`, per client. */
  feature: { enabled: true, profile: (_ctx: unknown, client: ClientArg) => (isFapi2Client(client) ? '2.0' : undefined) } as NonNullable<Configuration['features']>['fapi'],

  /** `ttl` with the authorization code capped for the profile's clients. */
  ttl(base: Ttl): Ttl {
    const code = base.AuthorizationCode as number;
    const AuthorizationCode = (_ctx: unknown, _token: unknown, client: ClientArg) => (isFapi2Client(client) ? Math.min(code, FAPI2_CODE_SECONDS) : code);
    return { ...base, AuthorizationCode } as Ttl;
  },

  /** `rotateRefreshToken`: as before for every other client. */
  rotateRefreshToken:
    (otherwise: boolean) =>
    (ctx: KoaContextWithOIDC): boolean =>
      isFapi2Client(ctx.oidc.client as ClientArg) ? false : otherwise,

  /**
   * `assertJwtClientAuthClaimsAndHeader`: runs on every private_key_jwt authentication (token, PAR,
   * introspection, revocation), after the assertion's signature is verified. It keeps oidc-provider's
   * own check (the FAPI 2.0 audience), and there being no per-client setting for DPoP algorithms,
   * refuses the request's DPoP proof here too when it is signed with another algorithm: a FAPI 2.0
   * client always authenticates this way, so no token of it is issued past this check.
   */
  async assertJwtClientAuthClaimsAndHeader(ctx: KoaContextWithOIDC, claims: { aud?: unknown; exp?: unknown }, header: { alg?: unknown }, client: ClientArg): Promise<void> {
    // Every client's assertion is for one request, made just before it: one whose exp lies years
    // ahead is a standing credential, minted once and good at any time (RFC 7523 §3 lets the server
    // refuse it), and its replay record would have to be kept as long.
    if (typeof claims.exp === 'number' && claims.exp > Date.now() / 1000 + CLIENT_ASSERTION_MAX_SECONDS) {
      throw new errors.InvalidClientAuth('client assertions must expire within an hour (exp)');
    }
    if (!isFapi2Client(client)) return;
    if (claims.aud !== ctx.oidc.issuer) throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
    if (!FAPI2_SIGNING_ALGS.includes(String(header.alg))) throw new errors.InvalidClientAuth(`client assertions must be signed with ${FAPI2_SIGNING_ALGS.join(', ')}`);
    const proof = ctx.get('DPoP');
    if (!proof) return;
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(proof).alg;
    } catch {
      return; // oidc-provider refuses a malformed proof with its own error
    }
    if (!FAPI2_SIGNING_ALGS.includes(String(alg))) throw new errors.InvalidDpopProof(`DPoP proofs must be signed with ${FAPI2_SIGNING_ALGS.join(', ')}`);
  },
};
