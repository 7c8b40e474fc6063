import type Provider from 'oidc-provider';
import { createBlindIndex } from '../identity/index.js';
import type { ClientSecrets } from '../clients/index.js';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';

export const PORTAL_CLIENT_ID = 'yihao-portal';
export const PORTAL_SCOPE = 'openid profile phone';

export interface PortalClient {
  clientId: string;
  /** Known only to the server; every instance derives the same one. */
  secret: string;
  redirectUri: string;
  /** Creates the client in the Client store, or brings it up to date; idempotent across instances. */
  ensure(): Promise<void>;
}

/**
 * The portal is a first-party confidential client of Yihao itself. Its secret is derived from the
 * index key and the issuer, so every instance agrees on it without storing it anywhere; the Client
 * store keeps only its HMAC, like every other client secret (see clients/client-secrets.ts).
 */
export function portalClient({ issuer, indexKey, clientSecrets, Adapter, provider }: {
  issuer: string;
  indexKey: string;
  clientSecrets: ClientSecrets;
  Adapter: AdapterConstructor;
  provider: () => Provider;
}): PortalClient {
  const keyed = createBlindIndex(indexKey);
  const secret = keyed('portal_client_secret', issuer);
  const stored = clientSecrets.stored(secret);
  const redirectUri = `${issuer}/account/callback`;

  const metadata = {
    client_id: PORTAL_CLIENT_ID,
    client_name: '一号个人中心',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [],
    scope: PORTAL_SCOPE,
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    subject_type: 'public',
    first_party: true,
    citizen_id_release: 'none',
    verified_claims_allowed: false,
    client_secret: stored,
  };

  return {
    clientId: PORTAL_CLIENT_ID,
    secret,
    redirectUri,
    async ensure() {
      const store = new Adapter('Client');
      const existing = await store.find(PORTAL_CLIENT_ID);
      const current = existing && Object.fromEntries(Object.entries(existing).filter(([k]) => k !== 'client_id_issued_at'));
      if (current && JSON.stringify(sorted(current)) === JSON.stringify(sorted(metadata))) return;
      await provider().Client.validate(metadata as never);
      const issuedAt = (existing?.client_id_issued_at as number | undefined) ?? Math.floor(Date.now() / 1000);
      await store.upsert(PORTAL_CLIENT_ID, { ...metadata, client_id_issued_at: issuedAt } as AdapterPayload);
    },
  };
}

const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
