import type Provider from 'oidc-provider';
import { createBlindIndex } from '../../identity/index.js';
import type { ClientSecrets } from '../../clients/index.js';
import type { AdapterConstructor, AdapterPayload } from '../../storage/oidc-adapter.js';
import { ADMIN_CONSOLE_CLIENT_ID, ADMIN_SCOPE } from '../admin-resource.js';
import { OPERATOR_ACR } from '../operator-auth.js';

export const CONSOLE_SCOPE = `openid profile ${ADMIN_SCOPE}`;

export interface ConsoleClient {
  clientId: string;
  /** Known only to the server; every instance derives the same one. */
  secret: string;
  redirectUri: string;
  ensure(): Promise<void>;
}

/**
 * The admin console is a first-party confidential client of Yihao, the only one that may obtain
 * tokens for the admin API. Like the portal's, its secret is derived from the index key and the
 * issuer, so every instance agrees on it, and the Client store keeps only its keyed hash.
 */
export function consoleClient({ issuer, indexKey, clientSecrets, Adapter, provider }: {
  issuer: string;
  indexKey: string;
  clientSecrets: ClientSecrets;
  Adapter: AdapterConstructor;
  provider: () => Provider;
}): ConsoleClient {
  const secret = createBlindIndex(indexKey)('admin_console_client_secret', issuer);
  const redirectUri = `${issuer}/admin/callback`;
  const metadata = {
    client_id: ADMIN_CONSOLE_CLIENT_ID,
    client_name: '一号管理控制台',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [],
    // No `scope` restriction: oidc-provider allows only its OIDC scopes there, not a resource's ('admin').
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    subject_type: 'public',
    first_party: true,
    citizen_id_release: 'none',
    verified_claims_allowed: false,
    // Operators always sign in with two factors, whatever a request asks.
    default_acr_values: [OPERATOR_ACR],
    min_acr: OPERATOR_ACR,
    client_secret: clientSecrets.stored(secret),
  };
  return {
    clientId: ADMIN_CONSOLE_CLIENT_ID,
    secret,
    redirectUri,
    async ensure() {
      const store = new Adapter('Client');
      const existing = await store.find(ADMIN_CONSOLE_CLIENT_ID);
      const current = existing && Object.fromEntries(Object.entries(existing).filter(([k]) => k !== 'client_id_issued_at'));
      if (current && JSON.stringify(sorted(current)) === JSON.stringify(sorted(metadata))) return;
      await provider().Client.validate(metadata as never);
      const issuedAt = (existing?.client_id_issued_at as number | undefined) ?? Math.floor(Date.now() / 1000);
      await store.upsert(ADMIN_CONSOLE_CLIENT_ID, { ...metadata, client_id_issued_at: issuedAt } as AdapterPayload);
    },
  };
}

const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
