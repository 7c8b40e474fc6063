import { z } from 'zod';
import { ACR_VALUES, type Channel } from '../accounts/index.js';
import { CITIZEN_ID_RELEASE } from '../identity/index.js';
import { DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT } from '../channels/kiosk/grant-type.js';
import { TOKEN_EXCHANGE_GRANT } from '../channels/counter/grant-type.js';
import { CIBA_GRANT, CLIENT_KINDS, JWT_BEARER_GRANT, KIND_DEFAULTS, PRE_AUTHORIZED_CODE_GRANT } from './client-kinds.js';
import { fapi2InputProblem, fapi2Metadata, SECURITY_PROFILES } from './fapi2-profile.js';
import { HIDDEN_IN_TEXT } from '../visible-text.js';

// The same list as oidc/client-metadata's CHANNELS; not imported from there, because that module
// loads oidc-provider, which the CLI loads only when a command needs it.
export const CLIENT_CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const satisfies readonly Channel[];
/** Grants of the channels whose sessions are not the citizen's own device: a kiosk's and a counter's. */
const NOT_WITH_DEVICE_KEYS = new Set<string>([DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT, TOKEN_EXCHANGE_GRANT, CIBA_GRANT]);

export const CLIENT_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT, TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT, CIBA_GRANT, PRE_AUTHORIZED_CODE_GRANT] as const;
/**
 * Marks a rule of one field, whose message, like zod's own, names no field: whoever words the problem
 * puts the field (or its CLI option) in front. Rules over the whole settings say everything themselves.
 */
export const FIELD_RULE = { fieldRule: true } as const;
/**
 * Characters a reviewer cannot see, or that turn the text around, in an address: every format
 * character and any space (in a name, HIDDEN_IN_TEXT: scripts need some format characters).
 */
const HIDDEN_IN_URL = /[\p{Cc}\p{Cf}\p{Z}]/u;
/** `https://good.gov.cn@evil.example/` goes to the host after the '@': no address of an app needs a user name. */
const hasUserInfo = (s: string) => {
  const u = URL.parse(s);
  return u !== null && (u.username !== '' || u.password !== '');
};
const url = z.url({ message: 'must be an absolute URL' }).max(2000, 'is longer than 2000 characters');
/** Whether a settings problem needs its field named in front of its message. */
export const namesNoField = (issue: { code: string; params?: Record<string, unknown> | undefined }): boolean => issue.code !== 'custom' || issue.params?.fieldRule === true;
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/**
 * The fields of a client's settings, in the names of the client metadata. The fields that a kind
 * decides (grant types, public, application type, DPoP, CIBA mode) have no default here: the kind's
 * fills them in `clientSettings`, and an explicit value always wins.
 */
export const clientSettingsFields = z
  .object({
    /** What sort of app it is (client-kinds.ts): fills in the grants and settings that kind needs. */
    kind: z.enum(CLIENT_KINDS, { message: `must be one of ${CLIENT_KINDS.join(', ')}` }).optional(),
    client_name: z.string().trim().min(1, 'is required').max(128, 'is longer than 128 characters'),
    redirect_uris: z.array(url).max(20, 'has more than 20 entries').default([]),
    post_logout_redirect_uris: z.array(url).max(20, 'has more than 20 entries').default([]),
    grant_types: z
      .array(z.enum(CLIENT_GRANT_TYPES, { message: `must be among ${CLIENT_GRANT_TYPES.join(', ')}` }))
      .min(1, 'needs at least one grant type')
      .refine((g) => new Set(g).size === g.length, { message: 'lists a grant type twice', params: FIELD_RULE })
      .optional(),
    scope: z.string().max(1000).regex(scopeToken, 'must be space-separated scope tokens').default('openid profile phone'),
    /** No secret and no keys: the app relies on PKCE (mobile and single-page apps). */
    public: z.boolean().optional(),
    first_party: z.boolean().default(false),
    backchannel_logout_uri: url.optional(),
    citizen_id_release: z.enum(CITIZEN_ID_RELEASE, { message: `must be one of ${CITIZEN_ID_RELEASE.join(', ')}` }).default('none'),
    verified_claims_allowed: z.boolean().default(false),
    subject_type: z.enum(['public', 'pairwise'], { message: 'must be public or pairwise' }).default('public'),
    sector_identifier_uri: url.optional(),
    /** The lowest level this app accepts (a session below it is stepped up). */
    min_acr: z.enum(ACR_VALUES as [string, ...string[]], { message: `must be one of ${ACR_VALUES.join(', ')}` }).optional(),
    /** The channels this app accepts sign-ins from; unset means every channel. */
    allowed_channels: z
      .array(z.enum(CLIENT_CHANNELS, { message: `must be among ${CLIENT_CHANNELS.join(', ')}` }))
      .min(1, 'needs at least one channel')
      .refine((a) => new Set(a).size === a.length, { message: 'lists a channel twice', params: FIELD_RULE })
      .optional(),
    /** The app's public keys (a JWK Set): it then authenticates with private_key_jwt instead of a secret. */
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1, 'needs at least one key') }, { message: 'must be a JWK Set ({"keys": [...]})' }).optional(),
    /** Where the app publishes its public keys: it then authenticates with private_key_jwt. */
    jwks_uri: url.optional(),
    application_type: z.enum(['web', 'native'], { message: 'must be web or native' }).optional(),
    /** Access tokens must be DPoP-bound (RFC 9449): a Bearer token of this app is refused. */
    dpop_bound_access_tokens: z.boolean().optional(),
    /** How a CIBA app learns that the citizen answered. */
    backchannel_token_delivery_mode: z.enum(['poll', 'ping'], { message: 'must be poll or ping' }).optional(),
    /** Where a ping-mode CIBA app is notified. */
    backchannel_client_notification_endpoint: url.optional(),
    /** A security profile the client is held to (fapi2-profile.ts): it fixes and checks the settings above. Set at creation only. */
    security_profile: z.enum(SECURITY_PROFILES, { message: `must be one of ${SECURITY_PROFILES.join(', ')}` }).optional(),
  })
  .strict();
type Fields = z.output<typeof clientSettingsFields>;

/** Fills in what the app's kind implies, where the settings leave it unset. */
function withKindDefaults(s: Fields) {
  const d = s.kind ? KIND_DEFAULTS[s.kind] : undefined;
  const grant_types = s.grant_types ?? (d?.grantTypes as Fields['grant_types']) ?? ['authorization_code', 'refresh_token'];
  // A notification endpoint alone makes a CIBA client ping.
  const mode = s.backchannel_token_delivery_mode ?? (grant_types!.includes(CIBA_GRANT) ? (s.backchannel_client_notification_endpoint ? 'ping' : 'poll') : undefined);
  const allowed = s.allowed_channels ?? d?.allowedChannels;
  return {
    ...s,
    grant_types: grant_types!,
    public: s.public ?? d?.public ?? false,
    application_type: s.application_type ?? d?.applicationType ?? 'web',
    // The fapi2 profile's tokens are DPoP-bound unless the settings say otherwise (which its check refuses).
    dpop_bound_access_tokens: s.dpop_bound_access_tokens ?? (s.security_profile === 'fapi2' ? true : (d?.dpopRequired ?? false)),
    ...(allowed ? { allowed_channels: allowed } : {}),
    ...(mode ? { backchannel_token_delivery_mode: mode } : {}),
  };
}

const hasKeys = (s: { jwks?: unknown; jwks_uri?: unknown }) => Boolean(s.jwks || s.jwks_uri);

const URL_FIELDS = ['redirect_uris', 'post_logout_redirect_uris', 'backchannel_logout_uri', 'sector_identifier_uri', 'jwks_uri', 'backchannel_client_notification_endpoint'] as const;

/**
 * What is reviewed must read as what goes live: a name or an address that hides characters, or
 * whose host is not the one it seems to start with, is refused where it comes in. Checked on input
 * only (the API's answers describe stored settings with clientSettingsFields): settings stored
 * before this rule still show, and their next change must correct them.
 */
function visible(s: Fields, ctx: z.RefinementCtx): void {
  if (HIDDEN_IN_TEXT.test(s.client_name)) {
    ctx.addIssue({ code: 'custom', path: ['client_name'], message: 'must be one line of text without control or invisible characters', params: FIELD_RULE });
  }
  for (const field of URL_FIELDS) {
    const value = s[field];
    const addresses: [PropertyKey[], string][] = Array.isArray(value) ? value.map((u, i) => [[field, i], u]) : value === undefined ? [] : [[[field], value]];
    for (const [path, u] of addresses) {
      if (HIDDEN_IN_URL.test(u)) ctx.addIssue({ code: 'custom', path, message: 'must not contain spaces, control characters or invisible characters', params: FIELD_RULE });
      else if (hasUserInfo(u)) ctx.addIssue({ code: 'custom', path, message: 'must not name a user or password before the host (user@host)', params: FIELD_RULE });
    }
  }
}

/**
 * The one client schema: the CLI (`yihao client create|update`), the admin API and the console all
 * parse a client's settings through it, with the kinds' defaults and the same checks. Messages name
 * fields by their metadata names; the CLI puts its option names in their place. Every edit of a
 * managed client goes through review, and oidc-provider's own client validation runs again before
 * anything goes live.
 */
export const clientSettings = clientSettingsFields
  .superRefine(visible)
  .transform(withKindDefaults)
  .refine((c) => !(c.jwks && c.jwks_uri), { message: 'give either jwks or jwks_uri, not both', path: ['jwks_uri'] })
  .refine((c) => !(c.public && hasKeys(c)), { message: 'a public client has no keys to authenticate with', path: ['public'] })
  .refine((c) => !c.grant_types.includes('authorization_code') || c.redirect_uris.length > 0, {
    message: 'an authorization_code client needs at least one redirect URI',
    path: ['redirect_uris'],
  })
  .refine((c) => !(c.public && c.grant_types.includes('client_credentials')), {
    message: 'a public client cannot use client_credentials',
    path: ['grant_types'],
  })
  // The consent page would promise what the claims never deliver.
  .refine((c) => c.verified_claims_allowed || !c.scope.split(' ').includes('identity_assurance'), {
    message: 'scope identity_assurance needs verified_claims_allowed',
    path: ['scope'],
  })
  .refine((c) => !(c.kind && KIND_DEFAULTS[c.kind].needsKeys) || hasKeys(c), {
    message: 'a kiosk authenticates with its own keys: give jwks or jwks_uri',
    path: ['jwks'],
  })
  .refine((c) => !(c.public && c.grant_types.includes(CIBA_GRANT)), { message: 'a CIBA client must authenticate: it cannot be public', path: ['public'] })
  // The device-key login is the government app's: its keys reach the mobile API, where a kiosk's or
  // a counter's session must never enrol one for the citizen in front of it.
  .refine((c) => !c.grant_types.includes(JWT_BEARER_GRANT) || !c.grant_types.some((g) => NOT_WITH_DEVICE_KEYS.has(g)), {
    message: "the device-key login (JWT bearer grant, kind mobile) cannot be combined with a kiosk's or a counter's grants",
    path: ['grant_types'],
  })
  .refine((c) => c.backchannel_token_delivery_mode === undefined || c.grant_types.includes(CIBA_GRANT), {
    message: 'backchannel_token_delivery_mode needs the CIBA grant (kind ciba)',
    path: ['backchannel_token_delivery_mode'],
  })
  .refine((c) => (c.backchannel_token_delivery_mode === 'ping') === Boolean(c.backchannel_client_notification_endpoint), {
    message: 'ping mode needs backchannel_client_notification_endpoint, and a notification endpoint needs ping mode',
    path: ['backchannel_client_notification_endpoint'],
  })
  .superRefine((c, ctx) => {
    const problem = fapi2InputProblem({
      profile: c.security_profile,
      public: c.public,
      jwks: c.jwks,
      jwksUri: c.jwks_uri,
      grantTypes: c.grant_types,
      redirectUris: c.redirect_uris,
      dpopRequired: c.dpop_bound_access_tokens,
    });
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
export type ClientSettings = z.output<typeof clientSettings>;

/**
 * Settings already live (a client's metadata from before its settings were recorded), read back:
 * the kind's defaults filled in, without the input checks. What is live stays readable though a
 * later rule would refuse it as input, as the API's answers describe stored settings; a change of
 * them goes through clientSettings.
 */
export const liveClientSettings = clientSettingsFields.transform(withKindDefaults);
export type ClientSettingsInput = z.input<typeof clientSettings>;

/** The settings that a change may alter after creation (a client cannot change how it authenticates). */
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
  'subject_type',
  'sector_identifier_uri',
  'min_acr',
  'allowed_channels',
  'jwks',
  'jwks_uri',
  'dpop_bound_access_tokens',
  'backchannel_token_delivery_mode',
  'backchannel_client_notification_endpoint',
] as const satisfies readonly (keyof ClientSettings)[];

export type AuthMethod = 'none' | 'private_key_jwt' | 'client_secret_basic';
/** How a client with these settings authenticates at the token endpoint. */
export const authMethodOf = (s: Pick<ClientSettings, 'public' | 'jwks' | 'jwks_uri'>): AuthMethod =>
  s.public ? 'none' : hasKeys(s) ? 'private_key_jwt' : 'client_secret_basic';

/**
 * The oidc-provider metadata of a client with these settings. Settings approved before a field
 * existed lack it; the metadata then says what the field's default says.
 */
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
    token_endpoint_auth_method: authMethodOf(s),
    first_party: s.first_party,
    citizen_id_release: s.citizen_id_release,
    verified_claims_allowed: s.verified_claims_allowed,
    subject_type: s.subject_type ?? 'public',
    ...(s.sector_identifier_uri ? { sector_identifier_uri: s.sector_identifier_uri } : {}),
    ...(s.min_acr ? { min_acr: s.min_acr } : {}),
    ...(s.allowed_channels ? { allowed_channels: s.allowed_channels } : {}),
    ...(s.jwks ? { jwks: s.jwks } : {}),
    ...(s.jwks_uri ? { jwks_uri: s.jwks_uri } : {}),
    ...(secretDigest ? { client_secret: secretDigest } : {}),
    ...(s.application_type === 'native' ? { application_type: 'native' } : {}),
    ...(s.dpop_bound_access_tokens ? { dpop_bound_access_tokens: true } : {}),
    ...(s.grant_types.includes(CIBA_GRANT) ? { backchannel_token_delivery_mode: s.backchannel_token_delivery_mode ?? 'poll' } : {}),
    ...(s.backchannel_client_notification_endpoint ? { backchannel_client_notification_endpoint: s.backchannel_client_notification_endpoint } : {}),
    ...(s.backchannel_logout_uri ? { backchannel_logout_uri: s.backchannel_logout_uri, backchannel_logout_session_required: true } : {}),
    ...fapi2Metadata(s.security_profile),
  };
}

/**
 * The settings of a client known only by its live metadata (one registered before its settings were
 * recorded): the metadata carries the settings under the same names.
 */
export function settingsFromMetadata(m: Record<string, unknown>): ClientSettingsInput {
  const fields = Object.keys(clientSettingsFields.shape).filter((f) => f !== 'public' && f !== 'kind' && m[f] !== undefined);
  return { ...(Object.fromEntries(fields.map((f) => [f, m[f]])) as ClientSettingsInput), public: m.token_endpoint_auth_method === 'none' } as ClientSettingsInput;
}

/** Field by field, what `after` changes in `before` (for review pages and audit events). */
export function settingsDiff(before: Partial<ClientSettings> | undefined, after: ClientSettings): { field: string; before: unknown; after: unknown }[] {
  const fields = Object.keys(clientSettingsFields.shape) as (keyof ClientSettings)[];
  return fields
    .filter((f) => JSON.stringify(before?.[f] ?? null) !== JSON.stringify(after[f] ?? null))
    .map((f) => ({ field: f, before: before?.[f] ?? null, after: after[f] ?? null }));
}
