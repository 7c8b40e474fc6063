import type { CitizenId } from './citizen-id.js';
import { maskCitizenId } from './citizen-id.js';

/** What a client may learn of a citizen's ID number (`citizen_id` claim). */
export const CITIZEN_ID_RELEASE = ['none', 'masked', 'pseudonym', 'full'] as const;
export type CitizenIdRelease = (typeof CITIZEN_ID_RELEASE)[number];

/**
 * Whether a client under policy `now` learns nothing of the number that it did not learn under
 * `before`: the same policy, `none`, or anything after `full`. `masked` and `pseudonym` each
 * reveal what the other does not (the region and check character; one stable code per citizen).
 */
export const revealsNoMoreThan = (now: CitizenIdRelease, before: CitizenIdRelease): boolean => now === before || now === 'none' || before === 'full';

/**
 * The `citizen_id` claim value under a client's policy, or undefined for `none`. A pseudonym is a
 * keyed HMAC per client: stable for that client, unlinkable across clients, and not reversible.
 */
export function releaseCitizenId(policy: CitizenIdRelease, id: CitizenId, pseudonym: () => string): string | undefined {
  switch (policy) {
    case 'full':
      return id;
    case 'masked':
      return maskCitizenId(id);
    case 'pseudonym':
      return pseudonym();
    case 'none':
      return undefined;
  }
}
