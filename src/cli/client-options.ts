import { readFileSync } from 'node:fs';
import { clientSettings, namesNoField, type ClientSettings, type ClientSettingsInput } from '../clients/index.js';
import { YihaoError } from '../errors.js';

/** The options that set a client's settings, shared by `client create` and `client update`. */
export const settingOptions = {
  name: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'grant-type': { type: 'string', multiple: true },
  scope: { type: 'string' },
  'first-party': { type: 'boolean' },
  'backchannel-logout-uri': { type: 'string' },
  'citizen-id-release': { type: 'string' },
  'verified-claims': { type: 'boolean' },
  'subject-type': { type: 'string' },
  'sector-identifier-uri': { type: 'string' },
  'min-acr': { type: 'string' },
  'allowed-channel': { type: 'string', multiple: true },
  'jwks-file': { type: 'string' },
  'jwks-uri': { type: 'string' },
  dpop: { type: 'boolean' },
  'ciba-mode': { type: 'string' },
  'notification-endpoint': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Each settings field (client-settings.ts) by the option that sets it, so that problems name the option. */
export const FIELD_OPTIONS: Readonly<Record<string, string>> = {
  kind: '--kind',
  client_name: '--name',
  redirect_uris: '--redirect-uri',
  post_logout_redirect_uris: '--post-logout-redirect-uri',
  grant_types: '--grant-type',
  scope: '--scope',
  public: '--public',
  first_party: '--first-party',
  backchannel_logout_uri: '--backchannel-logout-uri',
  citizen_id_release: '--citizen-id-release',
  verified_claims_allowed: '--verified-claims',
  subject_type: '--subject-type',
  sector_identifier_uri: '--sector-identifier-uri',
  min_acr: '--min-acr',
  allowed_channels: '--allowed-channel',
  jwks: '--jwks-file',
  jwks_uri: '--jwks-uri',
  dpop_bound_access_tokens: '--dpop',
  backchannel_token_delivery_mode: '--ciba-mode',
  backchannel_client_notification_endpoint: '--notification-endpoint',
  security_profile: '--profile',
};
// Only the names that cannot be ordinary words ('public', 'scope' and 'kind' are both).
const fieldNames = new RegExp(`\\b(${Object.keys(FIELD_OPTIONS).filter((f) => f.includes('_') || f === 'jwks').sort((a, b) => b.length - a.length).join('|')})\\b`, 'g');

/** A JWK Set file for a client that authenticates with private_key_jwt (kiosks, counter systems). */
export function readJwks(file: string): ClientSettingsInput['jwks'] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClientSettingsInput['jwks'];
  } catch {
    throw new YihaoError('invalid_input', '--jwks-file must name a readable JSON file holding a JWK Set ({"keys": [...]})');
  }
}

export type SettingValues = { [K in keyof typeof settingOptions]?: (typeof settingOptions)[K] extends { multiple: true } ? string[] : (typeof settingOptions)[K] extends { type: 'boolean' } ? boolean : string };

/** The settings that the options give (and only those: unset ones stay unset, so that defaults apply). */
export function settingsFromOptions(o: SettingValues): Partial<ClientSettingsInput> {
  const given: Record<string, unknown> = {
    client_name: o.name,
    redirect_uris: o['redirect-uri'],
    post_logout_redirect_uris: o['post-logout-redirect-uri'],
    // Checked with the client schema below.
    grant_types: o['grant-type'],
    scope: o.scope,
    first_party: o['first-party'],
    backchannel_logout_uri: o['backchannel-logout-uri'],
    citizen_id_release: o['citizen-id-release'],
    verified_claims_allowed: o['verified-claims'],
    subject_type: o['subject-type'],
    sector_identifier_uri: o['sector-identifier-uri'],
    min_acr: o['min-acr'],
    allowed_channels: o['allowed-channel'],
    jwks: o['jwks-file'] === undefined ? undefined : readJwks(o['jwks-file']),
    jwks_uri: o['jwks-uri'],
    dpop_bound_access_tokens: o.dpop,
    backchannel_token_delivery_mode: o['ciba-mode'],
    backchannel_client_notification_endpoint: o['notification-endpoint'],
  };
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<ClientSettingsInput>;
}

/**
 * Checks settings with the one client schema (the admin API and the console use it too), before any
 * store is opened; a problem names the option, not the metadata field.
 */
export function checkSettings(input: ClientSettingsInput): ClientSettings {
  const checked = clientSettings.safeParse(input);
  if (checked.success) return checked.data;
  const issue = checked.error.issues[0]!;
  const option = FIELD_OPTIONS[String(issue.path[0])];
  const message = issue.message.replace(fieldNames, (f) => FIELD_OPTIONS[f] ?? f);
  throw new YihaoError('invalid_input', option && namesNoField(issue) ? `${option} ${message}` : message);
}
