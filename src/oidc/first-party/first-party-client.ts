import type Provider from 'oidc-provider';
import type { ClientSecrets } from '../../clients/index.js';
import type { AdapterConstructor, AdapterPayload } from '../../storage/oidc-adapter.js';

export interface FirstPartyClient {
  clientId: string;
  /** Known only to the server; every instance derives the same one. */
  secret: string;
  redirectUri: string;
  /** Creates the client in the Client store, or brings it up to date; idempotent across instances. */
  ensure(): Promise<void>;
}

/** What tells one first-party client of Yihao from another. */
export interface FirstPartyClientSpec {
  clientId: string;
  clientName: string;
  /** The label the secret is derived under; changing it changes the secret of a deployed client. */
  secretLabel: string;
  /** Path of the callback under the issuer, e.g. `/account/callback`. */
  redirectPath: string;
  /** Metadata this client adds to the common first-party metadata (scope, acr floor, ...). */
  metadata?: Record<string, unknown>;
}

/** What every first-party client is built from. */
export interface FirstPartyClientDeps {
  issuer: string;
  clientSecrets: ClientSecrets;
  Adapter: AdapterConstructor;
  provider: () => Provider;
}

/**
 * Yihao's own applications (the portal, the admin console) are first-party confidential clients
 * of Yihao itself. Their secrets are derived from their purpose key and the issuer, so every instance
 * agrees on them without storing them anywhere; the Client store keeps only their HMAC, like every
 * other client secret (see clients/client-secrets.ts).
 */
export function firstPartyClient(spec: FirstPartyClientSpec, { issuer, clientSecrets, Adapter, provider }: FirstPartyClientDeps): FirstPartyClient {
  const { clientId } = spec;
  const secret = clientSecrets.firstPartySecret(spec.secretLabel, issuer);
  const redirectUri = `${issuer}${spec.redirectPath}`;
  const metadata = {
    client_id: clientId,
    client_name: spec.clientName,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    subject_type: 'public',
    first_party: true,
    citizen_id_release: 'none',
    verified_claims_allowed: false,
    ...spec.metadata,
    client_secret: clientSecrets.stored(secret),
  };

  return {
    clientId,
    secret,
    redirectUri,
    async ensure() {
      const store = new Adapter('Client');
      const existing = await store.find(clientId);
      const current = existing && Object.fromEntries(Object.entries(existing).filter(([k]) => k !== 'client_id_issued_at'));
      if (current && JSON.stringify(sorted(current)) === JSON.stringify(sorted(metadata))) return;
      await provider().Client.validate(metadata as never);
      const issuedAt = (existing?.client_id_issued_at as number | undefined) ?? Math.floor(Date.now() / 1000);
      await store.upsert(clientId, { ...metadata, client_id_issued_at: issuedAt } as AdapterPayload);
    },
  };
}

const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
