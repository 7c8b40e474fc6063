import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { z } from 'zod';
import { YihaoError } from '../errors.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import type { ClientSecrets } from './client-secrets.js';
import { authMethodOf, clientMetadata, clientSettings, namesNoField, type ClientSettings, type ClientSettingsInput } from './client-settings.js';
import type { ClientKind } from './client-kinds.js';

/**
 * The settings in camelCase, for code that registers clients directly (tests, seeders). It is only
 * a spelling of `ClientSettingsInput`: the one schema in client-settings.ts checks it.
 */
export interface ClientInput {
  kind?: ClientKind | undefined;
  name: string;
  redirectUris?: string[] | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  grantTypes?: ClientSettingsInput['grant_types'];
  scope?: string | undefined;
  public?: boolean | undefined;
  firstParty?: boolean | undefined;
  backchannelLogoutUri?: string | undefined;
  citizenIdRelease?: ClientSettingsInput['citizen_id_release'];
  verifiedClaimsAllowed?: boolean | undefined;
  subjectType?: ClientSettingsInput['subject_type'];
  sectorIdentifierUri?: string | undefined;
  minAcr?: string | undefined;
  allowedChannels?: ClientSettingsInput['allowed_channels'];
  jwks?: ClientSettingsInput['jwks'];
  jwksUri?: string | undefined;
  applicationType?: ClientSettingsInput['application_type'];
  dpopRequired?: boolean | undefined;
  cibaMode?: ClientSettingsInput['backchannel_token_delivery_mode'];
  notificationEndpoint?: string | undefined;
  profile?: ClientSettingsInput['security_profile'];
}

/** `input` under the metadata names; unset fields stay unset, so that defaults apply. */
export function settingsInput(input: ClientInput): ClientSettingsInput {
  const fields: Record<string, unknown> = {
    kind: input.kind,
    client_name: input.name,
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris,
    grant_types: input.grantTypes,
    scope: input.scope,
    public: input.public,
    first_party: input.firstParty,
    backchannel_logout_uri: input.backchannelLogoutUri,
    citizen_id_release: input.citizenIdRelease,
    verified_claims_allowed: input.verifiedClaimsAllowed,
    subject_type: input.subjectType,
    sector_identifier_uri: input.sectorIdentifierUri,
    min_acr: input.minAcr,
    allowed_channels: input.allowedChannels,
    jwks: input.jwks,
    jwks_uri: input.jwksUri,
    application_type: input.applicationType,
    dpop_bound_access_tokens: input.dpopRequired,
    backchannel_token_delivery_mode: input.cibaMode,
    backchannel_client_notification_endpoint: input.notificationEndpoint,
    security_profile: input.profile,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as ClientSettingsInput;
}

/** A settings problem in one line: the field, then what is wrong (a whole-settings rule says it all). */
export function settingsProblem(issue: z.core.$ZodIssue): string {
  if (!namesNoField(issue) || issue.path.length === 0) return issue.message;
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.join(', ')}`;
  return `${issue.path.map(String).join('.')} ${issue.message}`;
}

export interface CreatedClient {
  client_id: string;
  client_secret?: string;
  metadata: Record<string, unknown>;
  /** What was registered, as the console shows and edits it. */
  settings: ClientSettings;
}

/**
 * Registers relying parties, active at once and outside any department. Settings go through the
 * one client schema; the metadata is then checked by oidc-provider's own client validation. The
 * CLI prepares a client, records it (under a department: admin/bootstrap.ts) and only then
 * publishes it, so that none goes live without its record; `register` does both at once, for code
 * that seeds clients directly (tests, benchmarks).
 */
export function createClientRegistry({ Adapter, provider, secrets }: { Adapter: AdapterConstructor; provider: () => Provider; secrets: ClientSecrets }) {
  const store = new Adapter('Client');
  return {
    /** A client from its settings (`ClientSettingsInput`, metadata names), checked but not live yet. */
    async prepare(input: ClientSettingsInput): Promise<CreatedClient> {
      const parsed = clientSettings.safeParse(input);
      if (!parsed.success) throw new YihaoError('invalid_input', settingsProblem(parsed.error.issues[0]!));
      const settings = parsed.data;
      const clientId = `yh_${randomBytes(12).toString('base64url')}`;
      const secret = authMethodOf(settings) === 'client_secret_basic' ? secrets.generate() : undefined;
      const metadata = clientMetadata(clientId, settings, secret?.stored, Math.floor(Date.now() / 1000));
      try {
        await provider().Client.validate(metadata as never);
      } catch (e) {
        const err = e as { error?: string; error_description?: string };
        throw new YihaoError('invalid_input', err.error_description ?? err.error ?? 'invalid client metadata');
      }
      return { client_id: clientId, ...(secret ? { client_secret: secret.secret } : {}), metadata, settings };
    },
    /** Puts a prepared client live: the provider serves it from now on. */
    async publish(created: CreatedClient): Promise<void> {
      await store.upsert(created.client_id, created.metadata as never);
    },
    /** Prepares and publishes a client at once, unrecorded. */
    async register(input: ClientSettingsInput): Promise<CreatedClient> {
      const created = await this.prepare(input);
      await this.publish(created);
      return created;
    },
    /** The same, from the camelCase spelling. */
    async create(input: ClientInput): Promise<CreatedClient> {
      return this.register(settingsInput(input));
    },
  };
}
export type ClientRegistry = ReturnType<typeof createClientRegistry>;
