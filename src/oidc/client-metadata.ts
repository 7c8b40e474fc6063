import { errors, type Configuration } from 'oidc-provider';
import { ACR_VALUES, type Acr, type Channel } from '../accounts/index.js';
import { CITIZEN_ID_RELEASE, type CitizenIdRelease } from '../identity/index.js';
import { fapi2MetadataProblem, isFapi2 } from '../clients/index.js';

/** Every scope the provider knows; each client may ask for those its registration lists. */
export const SCOPES: readonly string[] = ['openid', 'offline_access', 'profile', 'phone', 'citizen_id', 'identity_assurance'];

export const CHANNELS: readonly Channel[] = ['web', 'mobile', 'kiosk', 'counter'];

/** Yihao's own client metadata, beside the standard fields. */
export interface YihaoClientMetadata {
  /** A first-party app records consent in a saved grant instead of asking. */
  first_party?: boolean;
  citizen_id_release?: CitizenIdRelease;
  /**
   * Epoch seconds, set when an approved change let the client see more of the ID number: a grant
   * dated before it was allowed under a policy that revealed less (citizen-id-consent.ts).
   */
  citizen_id_consent_since?: number;
  /** May receive `verified_claims` (scope `identity_assurance`). */
  verified_claims_allowed?: boolean;
  /** The lowest level this app accepts: a session below it is stepped up, whatever the request asks. */
  min_acr?: Acr;
  /** The channels this app accepts sign-ins from; unset means every channel. */
  allowed_channels?: Channel[];
  /** A security profile the client is held to: 'fapi2' (FAPI 2.0 Security Profile, docs/fapi2.md). */
  security_profile?: 'fapi2';
}

const booleans = new Set(['first_party', 'verified_claims_allowed']);

export const extraClientMetadata: NonNullable<Configuration['extraClientMetadata']> = {
  properties: ['first_party', 'citizen_id_release', 'citizen_id_consent_since', 'verified_claims_allowed', 'min_acr', 'allowed_channels', 'security_profile'],
  validator(_ctx, key, value, metadata) {
    if (key === 'verified_claims_allowed') withholdUnreleasedScopes(metadata, value === true);
    if (key === 'security_profile') {
      const problem = fapi2MetadataProblem(metadata as Record<string, unknown>);
      if (problem) throw new errors.InvalidClientMetadata(problem);
    }
    if (value === undefined) return;
    if (booleans.has(key) && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
    if (key === 'citizen_id_release' && !CITIZEN_ID_RELEASE.includes(value as CitizenIdRelease)) {
      throw new errors.InvalidClientMetadata(`citizen_id_release must be one of ${CITIZEN_ID_RELEASE.join(', ')}`);
    }
    if (key === 'citizen_id_consent_since' && !(Number.isSafeInteger(value) && (value as number) >= 0)) {
      throw new errors.InvalidClientMetadata('citizen_id_consent_since must be a whole number of seconds');
    }
    if (key === 'min_acr' && !ACR_VALUES.includes(value as Acr)) throw new errors.InvalidClientMetadata(`min_acr must be one of ${ACR_VALUES.join(', ')}`);
    if (key === 'allowed_channels') {
      const ok = Array.isArray(value) && value.length > 0 && value.every((c) => CHANNELS.includes(c as Channel)) && new Set(value).size === value.length;
      if (!ok) throw new errors.InvalidClientMetadata(`allowed_channels must be a non-empty list of distinct values from ${CHANNELS.join(', ')}`);
    }
  },
};

/**
 * A client that may not receive `verified_claims` may not ask for `identity_assurance` either, so
 * the request is refused (invalid_scope) before a consent page could promise it. Registration
 * refuses such a scope; this also covers clients stored before that rule, and clients with no
 * scope list (which oidc-provider would let ask for every scope).
 */
function withholdUnreleasedScopes(metadata: { scope?: string | undefined }, verifiedClaims: boolean): void {
  if (verifiedClaims) return;
  const scopes = metadata.scope === undefined ? SCOPES : metadata.scope.split(' ');
  // An empty list would read as "no list" to oidc-provider, which then allows every scope.
  metadata.scope = scopes.filter((s) => s !== 'identity_assurance').join(' ') || 'openid';
}

type ClientLike = { metadata(): Record<string, unknown> } | undefined;

const metadataMemo = new WeakMap<object, Readonly<Record<string, unknown>>>();

/**
 * oidc-provider's `client.metadata()` builds a new object and snake-cases every key on each call
 * (~4% of a userinfo). A Client instance does not change once built (a changed registration is a
 * new instance), so its metadata is built once per instance.
 */
export function metadataOf(client: NonNullable<ClientLike>): Readonly<Record<string, unknown>> {
  let metadata = metadataMemo.get(client);
  if (!metadata) metadataMemo.set(client, (metadata = Object.freeze(client.metadata())));
  return metadata;
}

export const citizenIdReleaseOf = (client: ClientLike): CitizenIdRelease =>
  ((client && metadataOf(client).citizen_id_release) as CitizenIdRelease | undefined) ?? 'none';

export const citizenIdConsentSinceOf = (client: ClientLike): number | undefined =>
  (client && metadataOf(client).citizen_id_consent_since) as number | undefined;

export const verifiedClaimsAllowed = (client: ClientLike): boolean => client !== undefined && metadataOf(client).verified_claims_allowed === true;

export const minAcrOf = (client: ClientLike): Acr | undefined => (client && metadataOf(client).min_acr) as Acr | undefined;

export const allowedChannelsOf = (client: ClientLike): readonly Channel[] => ((client && metadataOf(client).allowed_channels) as Channel[] | undefined) ?? CHANNELS;

/** Whether the client is held to the FAPI 2.0 Security Profile. */
export const isFapi2Client = (client: ClientLike): boolean => client !== undefined && isFapi2(metadataOf(client));
