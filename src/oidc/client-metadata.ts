import { errors, type Configuration } from 'oidc-provider';
import { CITIZEN_ID_RELEASE, type CitizenIdRelease } from '../identity/index.js';

/** Yihao's own client metadata, beside the standard fields. */
export interface YihaoClientMetadata {
  /** A first-party app records consent in a saved grant instead of asking. */
  first_party?: boolean;
  citizen_id_release?: CitizenIdRelease;
  /** May receive `verified_claims` (scope `identity_assurance`). */
  verified_claims_allowed?: boolean;
}

const booleans = new Set(['first_party', 'verified_claims_allowed']);

export const extraClientMetadata: NonNullable<Configuration['extraClientMetadata']> = {
  properties: ['first_party', 'citizen_id_release', 'verified_claims_allowed'],
  validator(_ctx, key, value) {
    if (value === undefined) return;
    if (booleans.has(key) && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
    if (key === 'citizen_id_release' && !CITIZEN_ID_RELEASE.includes(value as CitizenIdRelease)) {
      throw new errors.InvalidClientMetadata(`citizen_id_release must be one of ${CITIZEN_ID_RELEASE.join(', ')}`);
    }
  },
};

type ClientLike = { metadata(): Record<string, unknown> } | undefined;

export const citizenIdReleaseOf = (client: ClientLike): CitizenIdRelease =>
  (client?.metadata().citizen_id_release as CitizenIdRelease | undefined) ?? 'none';

export const verifiedClaimsAllowed = (client: ClientLike): boolean => client?.metadata().verified_claims_allowed === true;
