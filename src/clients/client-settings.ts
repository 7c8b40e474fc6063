import { z } from 'zod';
import { ACR_VALUES, type Channel } from '../accounts/index.js';
import { CITIZEN_ID_RELEASE } from '../identity/index.js';

// The same list as oidc/client-metadata's CHANNELS; not imported from there, because that module
// loads oidc-provider, which the CLI loads only when a command needs it.
const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const satisfies readonly Channel[];
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
const url = z.url({ message: 'must be an absolute URL' }).max(2000, 'is longer than 2000 characters');
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/**
 * What an operator may set on a managed client, in the names of the client metadata. Every edit
 * goes through review; oidc-provider's own client validation runs again before anything goes live.
 */
export const clientSettings = z
  .object({
    client_name: z.string().trim().min(1, 'is required').max(128, 'is longer than 128 characters'),
    redirect_uris: z.array(url).max(20, 'has more than 20 entries').default([]),
    post_logout_redirect_uris: z.array(url).max(20, 'has more than 20 entries').default([]),
    grant_types: z
      .array(z.enum(GRANT_TYPES, { message: `must be among ${GRANT_TYPES.join(', ')}` }))
      .min(1, 'needs at least one grant type')
      .default(['authorization_code', 'refresh_token']),
    scope: z.string().max(1000).regex(scopeToken, 'must be space-separated scope tokens').default('openid profile'),
    public: z.boolean().default(false),
    first_party: z.boolean().default(false),
    backchannel_logout_uri: url.optional(),
    citizen_id_release: z.enum(CITIZEN_ID_RELEASE, { message: `must be one of ${CITIZEN_ID_RELEASE.join(', ')}` }).default('none'),
    verified_claims_allowed: z.boolean().default(false),
    min_acr: z.enum(ACR_VALUES as [string, ...string[]], { message: `must be one of ${ACR_VALUES.join(', ')}` }).optional(),
    allowed_channels: z
      .array(z.enum(CHANNELS, { message: `must be among ${CHANNELS.join(', ')}` }))
      .min(1, 'needs at least one channel')
      .refine((a) => new Set(a).size === a.length, 'lists a channel twice')
      .optional(),
  })
  .strict()
  .refine((c) => !c.grant_types.includes('authorization_code') || c.redirect_uris.length > 0, {
    message: 'an authorization_code client needs at least one redirect URI',
    path: ['redirect_uris'],
  })
  .refine((c) => !(c.public && c.grant_types.includes('client_credentials')), {
    message: 'a public client cannot use client_credentials',
    path: ['grant_types'],
  });
export type ClientSettings = z.output<typeof clientSettings>;
export type ClientSettingsInput = z.input<typeof clientSettings>;

/** The settings that a change may alter after creation (a client cannot turn public or confidential). */
export const EDITABLE_SETTINGS = [
  'client_name',
  'redirect_uris',
  'post_logout_redirect_uris',
  'grant_types',
  'scope',
  'first_party',
  'backchannel_logout_uri',
  'citizen_id_release',
  'verified_claims_allowed',
  'min_acr',
  'allowed_channels',
] as const satisfies readonly (keyof ClientSettings)[];

/** The oidc-provider metadata of a client with these settings. */
export function clientMetadata(clientId: string, s: ClientSettings, secretDigest: string | undefined, issuedAt: number): Record<string, unknown> {
  const usesCode = s.grant_types.includes('authorization_code');
  return {
    client_id: clientId,
    client_name: s.client_name,
    client_id_issued_at: issuedAt,
    grant_types: s.grant_types,
    response_types: usesCode ? ['code'] : [],
    redirect_uris: s.redirect_uris,
    post_logout_redirect_uris: s.post_logout_redirect_uris,
    scope: s.scope,
    token_endpoint_auth_method: s.public ? 'none' : 'client_secret_basic',
    first_party: s.first_party,
    citizen_id_release: s.citizen_id_release,
    verified_claims_allowed: s.verified_claims_allowed,
    subject_type: 'public',
    ...(s.min_acr ? { min_acr: s.min_acr } : {}),
    ...(s.allowed_channels ? { allowed_channels: s.allowed_channels } : {}),
    ...(secretDigest ? { client_secret: secretDigest } : {}),
    ...(s.backchannel_logout_uri ? { backchannel_logout_uri: s.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
  };
}

/** Field by field, what `after` changes in `before` (for review pages and audit events). */
export function settingsDiff(before: Partial<ClientSettings> | undefined, after: ClientSettings): { field: string; before: unknown; after: unknown }[] {
  const fields = Object.keys(clientSettings.shape) as (keyof ClientSettings)[];
  return fields
    .filter((f) => JSON.stringify(before?.[f] ?? null) !== JSON.stringify(after[f] ?? null))
    .map((f) => ({ field: f, before: before?.[f] ?? null, after: after[f] ?? null }));
}
