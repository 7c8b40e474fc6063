import type { Secrets } from '../config/schema.js';
import { checkCharacter, type CitizenId } from './citizen-id.js';
import { createPurposeKeys, type Keyed } from './purpose-keys.js';
import { createSealer, SealError } from './sealer.js';

/** What goes in `accounts.citizen_sealed`: only `CitizenIdVault.open` turns it back into a number. */
declare const sealedCitizenIdBrand: unique symbol;
export type SealedCitizenId = string & { readonly [sealedCitizenIdBrand]: true };

/** The row a sealed citizen ID belongs to: it opens only there. */
export interface CitizenIdOwner {
  /** `accounts.id`. */
  accountId: string;
  /** `accounts.citizen_index`, in whichever version the row has it. */
  citizenIndex: string;
}

/**
 * Which version of the blind index new rows get, and, while `yihao keys reindex` moves the rows
 * from an older one, that version too: lookups then ask for both, in one query.
 */
export interface CitizenIndexVersions {
  version: number;
  reindexFrom?: number | undefined;
}

export interface CitizenIdVault {
  /** The blind index for unique lookup (`accounts.citizen_index`), in the current version. */
  index(id: CitizenId): string;
  /** Every form a row's index may have right now: the current one, and the older one during a re-index. */
  lookupIndexes(id: CitizenId): string[];
  /** Whether a stored index is in another version than the current one. */
  needsReindex(storedIndex: string): boolean;
  /** AES-256-GCM under the current seal key, bound to the purpose and to the account that holds it. */
  seal(id: CitizenId, accountId: string): SealedCitizenId;
  /**
   * Throws `SealError` (never showing the number) if the value is not a sealed citizen ID, or not
   * this row's: sealed for another account, or not matching the row's blind index.
   */
  open(sealed: string, owner: CitizenIdOwner): CitizenId;
  /** Whether a sealed value was made with an older key or envelope and should be sealed again. */
  needsReseal(sealed: string): boolean;
  /** What a value sealed now starts with (to find, in SQL, the rows that need re-sealing). */
  readonly sealedPrefix: string;
}

/** The AAD for sealing (with the account) and the label for the blind index. */
const PURPOSE = 'citizen_id';
const STORED_SHAPE = /^[0-9]{17}[0-9X]$/;
/** Version 1 indexes are bare (43 characters, as they were before versions); later ones say theirs. */
const VERSIONED_INDEX = /^([1-9][0-9]{0,2})\$([A-Za-z0-9_-]{43})$/;

const ownerAad = (accountId: string) => `${PURPOSE}:account:${accountId}`;

/**
 * Seals and indexes citizen ID numbers with the server secrets. Nothing here logs, and the
 * returned object holds no key material of its own (keys stay inside the sealer's closures).
 */
export function createCitizenIdVault(
  secrets: Pick<Secrets, 'sealKeys' | 'indexKey'> & { indexKeys?: Readonly<Record<string, string>> | undefined },
  versions: CitizenIndexVersions = { version: 1 },
): CitizenIdVault {
  const sealer = createSealer(secrets.sealKeys);
  const keys = createPurposeKeys(secrets);
  const indexer = (version: number): ((id: string) => string) => {
    const keyed: Keyed = keys.keyed('citizen_index', version);
    return version === 1 ? (id) => keyed(PURPOSE, id) : (id) => `${version}$${keyed(PURPOSE, id)}`;
  };
  const current = indexer(versions.version);
  const previous = versions.reindexFrom !== undefined && versions.reindexFrom !== versions.version ? indexer(versions.reindexFrom) : undefined;
  const versionOfIndex = (stored: string): number => {
    const m = VERSIONED_INDEX.exec(stored);
    return m ? Number(m[1]) : 1;
  };
  const indexIn = (stored: string, id: string): string => (versionOfIndex(stored) === versions.version ? current(id) : indexer(versionOfIndex(stored))(id));

  return Object.freeze({
    index: (id: CitizenId) => current(id),
    lookupIndexes: (id: CitizenId) => (previous ? [current(id), previous(id)] : [current(id)]),
    needsReindex: (stored: string) => versionOfIndex(stored) !== versions.version,
    seal: (id: CitizenId, accountId: string) => sealer.seal(id, ownerAad(accountId)) as SealedCitizenId,
    open(sealed: string, owner: CitizenIdOwner): CitizenId {
      // v1 envelopes were sealed before the aad named the account; `yihao keys reseal` upgrades them.
      // Until then the row's own blind index is what ties them to the row.
      const plain = sealer.open(sealed, sealer.versionOf(sealed) === 'v1' ? PURPOSE : ownerAad(owner.accountId));
      // Authenticated, so this only catches a value sealed by a bug. Deliberately no full
      // re-validation: a stored number must stay readable if, say, the region list changes.
      if (!STORED_SHAPE.test(plain) || checkCharacter(plain.slice(0, 17)) !== plain[17]) {
        throw new SealError('sealed value does not hold a citizen ID number');
      }
      // The index is how sign-in finds the row: a row whose index names someone else is refused.
      if (indexIn(owner.citizenIndex, plain) !== owner.citizenIndex) throw new SealError('sealed citizen ID does not belong to this account');
      return plain as CitizenId;
    },
    needsReseal: (sealed: string) => sealer.needsReseal(sealed),
    sealedPrefix: sealer.currentPrefix,
  });
}
