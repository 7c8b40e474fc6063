import Provider, { type Adapter, type Configuration, type JWK } from 'oidc-provider';
import { extraClientMetadata } from './client-metadata.js';
import { subjectFor, type PairwiseClient } from './pairwise.js';
import { createBlindIndex } from '../identity/index.js';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { ACR_VALUES, type Accounts } from '../accounts/index.js';
import { stepUpPolicy } from './acr-policy.js';
import { claimsConfig, findAccount } from './claims.js';
import { loadExistingGrant } from './grants.js';
import { outboundFetch } from './outbound.js';
import { providerPages } from './pages.js';
import { resourceIndicators } from './resources.js';
import type { SessionAuthentications } from './session-authentications.js';
import { ttl } from './ttl.js';
import { auditProviderEvents } from './events.js';
import type { ClientSecrets } from '../clients/index.js';
import type { AuditLog } from '../audit/index.js';
import type { ProviderExtension } from '../channels/index.js';

export interface ProviderDeps {
  config: Config;
  adapter: new (name: string) => Adapter;
  accounts: Accounts;
  authentications: SessionAuthentications;
  logger: Logger;
  clientSecrets: ClientSecrets;
  audit: AuditLog;
  /** The mobile, QR and counter channels: CIBA, the device-key grant, discovery entries. */
  channels?: ProviderExtension;
}

const ownTokensOnly = async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId;

export function buildProvider({ config, adapter, accounts, authentications, logger, clientSecrets, audit, channels }: ProviderDeps, jwks: JWK[]): Provider {
  const pairwise = createBlindIndex(config.secrets.indexKey);
  const configuration: Configuration = {
    adapter,
    jwks: { keys: jwks },
    findAccount: channels ? channels.findAccount(findAccount(accounts, authentications, pairwise)) : findAccount(accounts, authentications, pairwise),
    claims: claimsConfig,
    acrValues: [...ACR_VALUES],
    scopes: ['openid', 'offline_access', 'profile', 'phone', 'citizen_id', 'identity_assurance'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    cookies: {
      keys: [...config.secrets.cookieKeys],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    extraClientMetadata,
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
      revocation: { enabled: true, allowedPolicy: ownTokensOnly },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      claimsParameter: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      dPoP: { enabled: true },
      ...channels?.features,
      resourceIndicators: resourceIndicators(config.resourceServers),
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: providerPages.logoutSource,
        postLogoutSuccessSource: providerPages.postLogoutSuccessSource,
      },
    },
    ...(channels ? { discovery: channels.discovery } : {}),
    renderError: providerPages.renderError,
    // A session below the requested acr goes back to the login interaction, which steps it up.
    interactions: { policy: stepUpPolicy(), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    loadExistingGrant: loadExistingGrant(authentications),
    // Refresh tokens go to clients registered for the refresh_token grant; each use rotates them,
    // and oidc-provider revokes the whole grant when a rotated-out token comes back.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: ttl(config.ttl),
    fetch: outboundFetch(config.outbound, logger) as unknown as Configuration['fetch'],
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
  clientSecrets.install(provider);
  channels?.install(provider);
  auditProviderEvents(provider, { logger, audit, authentications });
  return provider;
}
