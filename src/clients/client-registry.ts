import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { YihaoError } from '../errors.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import type { ClientSecrets } from './client-secrets.js';
import { CITIZEN_ID_RELEASE } from '../identity/index.js';
import { ACR_VALUES, type Channel } from '../accounts/index.js';
import { DEVICE_CODE_GRANT, ID_CARD_GRANT } from '../channels/kiosk/grant-type.js';
import { TOKEN_EXCHANGE_GRANT } from '../channels/counter/grant-type.js';
import { CIBA_GRANT, CLIENT_KINDS, JWT_BEARER_GRANT, KIND_DEFAULTS } from './client-kinds.js';
import { fapi2InputProblem, fapi2Metadata, SECURITY_PROFILES } from './fapi2-profile.js';

// The same list as oidc/client-metadata.ts, which oidc-provider validates against; kept here so that
// the CLI does not load oidc-provider just to check its arguments.
const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const satisfies readonly Channel[];
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT, ID_CARD_GRANT, TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT, CIBA_GRANT] as const;
const url = z.url({ message: 'must be an absolute URL' }).max(2000, 'is longer than 2000 characters');

export const clientInput = z
  .object({
    /** What sort of app it is: fills in the grants and settings that kind needs (see client-kinds.ts). */
    kind: z.enum(CLIENT_KINDS, { message: `kind must be one of ${CLIENT_KINDS.join(', ')}` }).optional(),
    name: z.string().trim().min(1, 'name is required').max(128, 'name is longer than 128 characters'),
    redirectUris: z.array(url).default([]),
    postLogoutRedirectUris: z.array(url).default([]),
    grantTypes: z.array(z.enum(GRANT_TYPES, { message: `grant type must be one of ${GRANT_TYPES.join(', ')}` })).default(['authorization_code', 'refresh_token']),
    scope: z
      .string()
      .regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scope must be space-separated scope tokens')
      .default('openid profile phone'),
    public: z.boolean().default(false),
    firstParty: z.boolean().default(false),
    backchannelLogoutUri: url.optional(),
    citizenIdRelease: z.enum(CITIZEN_ID_RELEASE, { message: `citizen ID release must be one of ${CITIZEN_ID_RELEASE.join(', ')}` }).default('none'),
    verifiedClaimsAllowed: z.boolean().default(false),
    subjectType: z.enum(['public', 'pairwise'], { message: 'subject type must be public or pairwise' }).default('public'),
    sectorIdentifierUri: url.optional(),
    /** The lowest level this app accepts (a session below it is stepped up). */
    minAcr: z.enum(ACR_VALUES as [string, ...string[]], { message: `min acr must be one of ${ACR_VALUES.join(', ')}` }).optional(),
    /** The channels this app accepts sign-ins from; unset means every channel. */
    allowedChannels: z
      .array(z.enum(CHANNELS, { message: `channel must be one of ${CHANNELS.join(', ')}` }))
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'each channel may be named once')
      .optional(),
    /** The client's public keys (a JWK Set): it then authenticates with private_key_jwt instead of a secret. */
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1, 'jwks needs at least one key') }).optional(),
    /** Where the client publishes its public keys: it then authenticates with private_key_jwt. */
    jwksUri: url.optional(),
    applicationType: z.enum(['web', 'native'], { message: 'application type must be web or native' }).default('web'),
    /** Access tokens must be DPoP-bound (RFC 9449): a Bearer token of this client is refused. */
    dpopRequired: z.boolean().default(false),
    /** How a CIBA client learns that the citizen answered. */
    cibaMode: z.enum(['poll', 'ping'], { message: 'CIBA mode must be poll or ping' }).optional(),
    /** Where a ping-mode CIBA client is notified. */
    notificationEndpoint: url.optional(),
    /** A security profile the client is held to (fapi2-profile.ts): it fixes and checks the settings above. */
    profile: z.enum(SECURITY_PROFILES, { message: `profile must be one of ${SECURITY_PROFILES.join(', ')}` }).optional(),
  })
  .refine((c) => !(c.jwks && c.jwksUri), { message: 'give either jwks or a jwks URI, not both' })
  .refine((c) => !(c.public && (c.jwks || c.jwksUri)), { message: 'a public client has no keys to authenticate with' })
  .refine((c) => !c.grantTypes.includes('authorization_code') || c.redirectUris.length > 0, {
    message: 'an authorization_code client needs at least one --redirect-uri',
  })
  .refine((c) => !(c.public && c.grantTypes.includes('client_credentials')), {
    message: 'a public client cannot use client_credentials',
  })
  // The consent page would promise what the claims never deliver.
  .refine((c) => c.verifiedClaimsAllowed || !c.scope.split(' ').includes('identity_assurance'), {
    message: 'scope identity_assurance needs verified claims allowed (--verified-claims)',
  })
  .refine((c) => !(c.kind && KIND_DEFAULTS[c.kind].needsKeys) || Boolean(c.jwks || c.jwksUri), {
    message: 'a kiosk authenticates with its own keys: give --jwks-file or --jwks-uri',
  })
  .refine((c) => !(c.public && c.grantTypes.includes(CIBA_GRANT)), { message: 'a CIBA client must authenticate: it cannot be public' })
  .refine((c) => c.cibaMode === undefined || c.grantTypes.includes(CIBA_GRANT), { message: 'a CIBA mode needs the CIBA grant (--kind ciba)' })
  .refine((c) => (c.cibaMode === 'ping') === Boolean(c.notificationEndpoint), {
    message: 'ping mode needs --notification-endpoint, and a notification endpoint needs ping mode',
  })
  .superRefine((c, ctx) => {
    const problem = fapi2InputProblem(c);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
export type ClientInput = z.input<typeof clientInput>;

/**
 * Fills in what the client's kind (and security profile) implies, where the input leaves it unset.
 * A notification endpoint alone makes a CIBA client ping.
 */
export function withKindDefaults(input: ClientInput): ClientInput {
  // The fapi2 profile's tokens are DPoP-bound unless the input says otherwise (which its check refuses).
  if (input.profile === 'fapi2' && input.dpopRequired === undefined) input = { ...input, dpopRequired: true };
  if (!input.kind || !CLIENT_KINDS.includes(input.kind)) return input;
  const d = KIND_DEFAULTS[input.kind];
  const cibaMode = input.cibaMode ?? (d.cibaMode ? (input.notificationEndpoint ? 'ping' : d.cibaMode) : undefined);
  return {
    ...input,
    grantTypes: input.grantTypes ?? (d.grantTypes as ClientInput['grantTypes']),
    public: input.public ?? d.public,
    applicationType: input.applicationType ?? d.applicationType,
    dpopRequired: input.dpopRequired ?? d.dpopRequired,
    allowedChannels: input.allowedChannels ?? d.allowedChannels,
    ...(cibaMode ? { cibaMode } : {}),
  };
}

/** Kind defaults, then the schema: the one check that the CLI and the registry share. */
export const parseClientInput = (input: ClientInput) => clientInput.safeParse(withKindDefaults(input));

export interface CreatedClient {
  client_id: string;
  client_secret?: string;
  metadata: Record<string, unknown>;
}

/** Registers relying parties. Metadata is checked by oidc-provider's own client validation. */
export function createClientRegistry({ Adapter, provider, secrets }: { Adapter: AdapterConstructor; provider: () => Provider; secrets: ClientSecrets }) {
  const store = new Adapter('Client');
  return {
    async create(input: ClientInput): Promise<CreatedClient> {
      const parsed = parseClientInput(input);
      if (!parsed.success) throw new YihaoError('invalid_input', parsed.error.issues[0]!.message);
      const c = parsed.data;
      const clientId = `yh_${randomBytes(12).toString('base64url')}`;
      const keyAuth = Boolean(c.jwks || c.jwksUri);
      const secret = c.public || keyAuth ? undefined : secrets.generate();
      const usesCode = c.grantTypes.includes('authorization_code');
      const metadata: Record<string, unknown> = {
        client_id: clientId,
        client_name: c.name,
        client_id_issued_at: Math.floor(Date.now() / 1000),
        grant_types: c.grantTypes,
        response_types: usesCode ? ['code'] : [],
        redirect_uris: c.redirectUris,
        post_logout_redirect_uris: c.postLogoutRedirectUris,
        scope: c.scope,
        token_endpoint_auth_method: c.public ? 'none' : keyAuth ? 'private_key_jwt' : 'client_secret_basic',
        first_party: c.firstParty,
        citizen_id_release: c.citizenIdRelease,
        verified_claims_allowed: c.verifiedClaimsAllowed,
        subject_type: c.subjectType,
        ...(c.sectorIdentifierUri ? { sector_identifier_uri: c.sectorIdentifierUri } : {}),
        ...(c.minAcr ? { min_acr: c.minAcr } : {}),
        ...(c.allowedChannels ? { allowed_channels: c.allowedChannels } : {}),
        ...(c.jwks ? { jwks: c.jwks } : {}),
        ...(c.jwksUri ? { jwks_uri: c.jwksUri } : {}),
        ...(secret ? { client_secret: secret.stored } : {}),
        ...(c.applicationType === 'native' ? { application_type: 'native' } : {}),
        ...(c.dpopRequired ? { dpop_bound_access_tokens: true } : {}),
        ...(c.grantTypes.includes(CIBA_GRANT) ? { backchannel_token_delivery_mode: c.cibaMode ?? 'poll' } : {}),
        ...(c.notificationEndpoint ? { backchannel_client_notification_endpoint: c.notificationEndpoint } : {}),
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
        ...fapi2Metadata(c.profile),
      };
      try {
        await provider().Client.validate(metadata as never);
      } catch (e) {
        const err = e as { error?: string; error_description?: string };
        throw new YihaoError('invalid_input', err.error_description ?? err.error ?? 'invalid client metadata');
      }
      await store.upsert(clientId, metadata as never);
      return { client_id: clientId, ...(secret ? { client_secret: secret.secret } : {}), metadata };
    },
  };
}
export type ClientRegistry = ReturnType<typeof createClientRegistry>;
