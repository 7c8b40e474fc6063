import Provider, { type Adapter, type Configuration, type JWK } from 'oidc-provider';
import { CHANNELS, extraClientMetadata, SCOPES } from './client-metadata.js';
import { identityAssuranceDiscovery } from './verified-claims.js';
import { subjectFor, type PairwiseClient } from './pairwise.js';
import { createPurposeKeys, type PurposeKeys } from '../identity/index.js';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { ACR_VALUES, type Accounts } from '../accounts/index.js';
import { stepUpPolicy } from './acr-policy.js';
import { claimsConfig, findAccount } from './claims.js';
import { loadExistingGrant } from './grants.js';
import { prefetchAllowedBefore, type AllowedBeforeLookup } from './remembered-consent.js';
import type { Outbound } from '../outbound/index.js';
import { providerPages } from './pages.js';
import { resourceIndicators } from './resources.js';
import type { SessionAuthentications } from './session-authentications.js';
import { ttl } from './ttl.js';
import { currentFacts, factsOf, publicFacts, withTokenFacts, type TokenFacts } from './token-facts.js';
import { withReuseRevocation } from './reuse-revocation.js';
import { withoutStoredLoginHints } from './stored-interaction.js';
import { refreshPolicy } from './refresh-policy.js';
import { HASHED_TOKEN_BITS, HASHED_TOKEN_MODELS, withHashedTokenIds, type TokenIdKeys } from './hashed-token-ids.js';
import { auditProviderEvents } from './events.js';
import { holdingRevocations, revokeGrantPolicy } from './revocation-record.js';
import { clientsByPayload, skipPersistOfUnsavedSessions, urlsFromIssuer } from './internals.js';
import type { ClientSecrets } from '../clients/index.js';
import type { AuditLog } from '../audit/index.js';
import { devicePages, registerKioskGrants, withKioskIdle, type CardGrantDeps } from '../channels/kiosk/index.js';
import { channelSessions, type GrantTokenDeps } from './grant-tokens.js';
import type { PresentationSignIn } from '../credentials/presentation-sign-in.js';
import { registerCounterGrants } from '../channels/counter/index.js';
import type { ProviderExtension } from '../channels/index.js';
import { withAdminResource } from '../admin/admin-resource.js';
import { accessTokenVerifier } from './access-token-verifier.js';
import { amendResponses } from './response-amendments.js';
import { fapi2Profile } from './fapi2.js';
import { withCredentialResource } from '../credentials/credential-resource.js';
import { CookieSigner } from '../http/cookie-signer.js';

export interface ProviderDeps {
  /** Told the grant type of every successful token endpoint answer (metrics). */
  onGrant?: ((grantType: unknown) => void) | undefined;
  /** `false`: every userinfo and token request goes through oidc-provider's own pipeline (the fast paths' comparison tests). */
  fastPaths?: boolean | undefined;
  config: Config;
  adapter: new (name: string) => Adapter;
  accounts: Accounts;
  authentications: SessionAuthentications;
  logger: Logger;
  /** The guarded outbound client: jwks_uri, sector_identifier_uri, back-channel logout and CIBA pings go through it. */
  outbound: Pick<Outbound, 'fetch'>;
  clientSecrets: ClientSecrets;
  audit: AuditLog;
  /** Whether an account (internal id) holds the counter-staff role for a counter client (assisted counter login). */
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  /** In-person and kiosk identity proofing, kept as evidence. */
  proofing: CardGrantDeps['proofing'];
  /** Sign-in by presentation (kiosk grant, counter token exchange); late-bound: the verifier is built after the provider. */
  presentationSignIn: () => PresentationSignIn;
  /** The mobile, QR and counter channels: CIBA, the device-key grant, discovery entries. */
  channels?: ProviderExtension;
  /** More extension grants (the credential issuer's pre-authorized code), issuing through the one issuing function. */
  extraGrants?: { install(provider: Provider, tokens: GrantTokenDeps): void; discovery?: Record<string, unknown> }[];
  /** Scopes at the credential issuer beside the identity credential's (one per certificate type). */
  credentialScopes?: (() => Promise<string[]>) | undefined;
  /** Whether a client is a department system, which alone gets `certificates:push` tokens (admin/department-system-auth.ts). */
  isDepartmentSystem?: ((clientId: string) => Promise<boolean>) | undefined;
  /** What a citizen allowed a client in a grant still live (remembered-consent.ts): consent is asked once per app. */
  allowedBefore?: AllowedBeforeLookup | undefined;
}

/** The `token_id` keys records are stored under, and the earlier ones lookups still try (config `keys.purposes.tokenId`). */
function tokenIdKeys(keys: PurposeKeys, { version, previousVersion, unhashedLookups }: Config['keys']['purposes']['tokenId']): TokenIdKeys {
  const under = (v: number) => {
    const keyed = keys.keyed('token_id', v);
    return (value: string) => keyed('token_id', value);
  };
  return { current: under(version), previous: previousVersion !== undefined && previousVersion !== version ? under(previousVersion) : undefined, unhashed: unhashedLookups };
}

const ownTokensOnly = async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId;

export function buildProvider({ config, adapter, accounts, authentications, logger, outbound, clientSecrets, audit, isCounterStaff, proofing, presentationSignIn, channels, onGrant, extraGrants, credentialScopes, isDepartmentSystem, allowedBefore }: ProviderDeps, jwks: JWK[]): Provider {
  // Pairwise subjects and citizen-ID pseudonyms: version 1 for good, or every client's identifiers would change.
  const purposeKeys = createPurposeKeys(config.secrets);
  const pairwise = purposeKeys.keyed('pairwise', 1);
  const accountFinder = findAccount(accounts, authentications, pairwise, allowedBefore && prefetchAllowedBefore(allowedBefore));
  const accessTokenFacts = async (_ctx: unknown, issued: object): Promise<TokenFacts | undefined> => {
    const token = issued as { accountId?: string; grantId?: string; sessionUid?: string };
    if (!token.accountId) return undefined;
    const known = currentFacts(token.grantId, token.accountId);
    if (known) return publicFacts(known);
    // An artifact issued before tokens carried their facts: the session's record, as before.
    const auth = token.sessionUid ? await authentications.find(token.sessionUid) : undefined;
    return auth && publicFacts(factsOf(auth));
  };
  const resources = withCredentialResource(withAdminResource(resourceIndicators(config.resourceServers), config.issuer, config.ttl.accessTokenSeconds, isDepartmentSystem), config.issuer, config.ttl.accessTokenSeconds, credentialScopes);
  const configuration: Configuration = {
    adapter: withReuseRevocation(withTokenFacts(withoutStoredLoginHints(withHashedTokenIds(adapter, tokenIdKeys(purposeKeys, config.keys.purposes.tokenId))))),
    jwks: { keys: jwks },
    findAccount: channels ? channels.findAccount(accountFinder) : accountFinder,
    claims: claimsConfig,
    acrValues: [...ACR_VALUES],
    scopes: [...SCOPES],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    cookies: {
      // oidc-provider passes a non-array `keys` to the cookies module as is (src/http/cookie-signer.ts).
      keys: new CookieSigner(config.secrets.cookieKeys) as unknown as string[],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    extraClientMetadata,
    // Tokens stored under a keyed hash are one character longer than those stored before (hashed-token-ids.ts).
    formats: { bitsOfOpaqueRandomness: (_ctx, token) => (HASHED_TOKEN_MODELS.has(token.kind) ? HASHED_TOKEN_BITS : 256) },
    subjectTypes: ['public', 'pairwise'],
    // Keyed and the same on every instance (the default salts with the host name).
    pairwiseIdentifier: async (_ctx, accountId, client) => subjectFor(pairwise, client as unknown as PairwiseClient, accountId),
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may introspect and revoke only what was issued to itself.
      introspection: { enabled: true, allowedPolicy: ownTokensOnly },
      revocation: { enabled: true, allowedPolicy: holdingRevocations(ownTokensOnly) },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      dPoP: { enabled: true },
      // The FAPI 2.0 Security Profile, for the clients registered under it (docs/fapi2.md).
      fapi: fapi2Profile.feature,
      // RFC 8628: a kiosk shows verification_uri_complete as a QR code; the citizen approves on the phone.
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****', ...devicePages },
      ...channels?.features,
      resourceIndicators: resources,
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: providerPages.logoutSource,
        postLogoutSuccessSource: providerPages.postLogoutSuccessSource,
      },
    },
    // The channels' endpoints, and every channel a sign-in can come through (the `channel` claim,
    // clients' `allowed_channels`).
    discovery: {
      ...channels?.discovery,
      channels_supported: [...CHANNELS],
      ...identityAssuranceDiscovery,
      ...Object.assign({}, ...(extraGrants ?? []).map((g) => g.discovery)),
    },
    renderError: providerPages.renderError,
    // A session below the requested acr goes back to the login interaction, which steps it up.
    interactions: { policy: stepUpPolicy(authentications), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: loadExistingGrant(authentications, allowedBefore),
    // Refresh tokens go to clients registered for the refresh_token grant; each use rotates them,
    // and oidc-provider revokes the whole grant when a rotated-out token comes back. FAPI 2.0
    // clients' are not rotated: the profile forbids it, and each use needs the client's key. A
    // refresh meets the client's registration as it is now (refresh-policy.ts: min_acr, scopes).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // A revocation lands with its grant.revoked record or not at all (revocation-record.ts).
    revokeGrantPolicy,
    rotateRefreshToken: refreshPolicy(fapi2Profile.rotateRefreshToken(true), resources),
    assertJwtClientAuthClaimsAndHeader: fapi2Profile.assertJwtClientAuthClaimsAndHeader,
    ttl: fapi2Profile.ttl(withKioskIdle(ttl(config.ttl), config.kiosk.idleSeconds)),
    // The login's acr, amr, auth_time and channel on every access token (introspection, userinfo and
    // JWT access tokens state them), with RFC 8693 `act` on those of an assisted counter login.
    extraTokenClaims: async (ctx, token) => ({ ...(await accessTokenFacts(ctx, token)) }),
    fetch: outbound.fetch as Configuration['fetch'],
    enableHttpPostMethods: false,
    // Asymmetric only: client secrets are stored as HMACs, so nothing can be keyed with them.
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
      requestObjectSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      clientAuthSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    },
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;
  skipPersistOfUnsavedSessions(provider);
  urlsFromIssuer(provider as unknown as Parameters<typeof urlsFromIssuer>[0]);
  clientsByPayload(provider as unknown as Parameters<typeof clientsByPayload>[0]);
  amendResponses(provider);
  clientSecrets.install(provider);
  // Every extension grant issues its tokens through the one issuing function, with these.
  const sessions = channelSessions(adapter, Math.max(config.ttl.sessionSeconds, config.ttl.refreshTokenSeconds));
  const tokens = { findAccount: accountFinder, authentications, sessions };
  channels?.install(provider, tokens);
  auditProviderEvents(provider, { logger, audit, authentications, onGrant });
  registerKioskGrants(provider, { accounts, audit, tokens, maxAgeSeconds: config.kiosk.cardAssertionMaxAgeSeconds, proofing, presentationSignIn });
  registerCounterGrants(provider, { accounts, audit, tokens, keyed: pairwise, isCounterStaff, proofing, presentationSignIn, verifyAccessToken: accessTokenVerifier({ provider: () => provider, accounts }) });
  for (const grant of extraGrants ?? []) grant.install(provider, tokens);
  return provider;
}
