import type { Secrets } from '../config/schema.js';
import { checkCharacter, type CitizenId } from './citizen-id.js';
import { createBlindIndex, createSealer, SealError } from './sealer.js';

/** What goes in `accounts.citizen_sealed`: only `CitizenIdVault.open` turns it back into a number. */
declare const sealedCitizenIdBrand: unique symbol;
export type SealedCitizenId = string & { readonly [sealedCitizenIdBrand]: true };

export interface CitizenIdVault {
  /** The blind index for unique lookup (`accounts.citizen_index`): 43 characters, deterministic. */
  index(id: CitizenId): string;
  /** AES-256-GCM under the current seal key, bound to the purpose 'citizen_id'. */
  seal(id: CitizenId): SealedCitizenId;
  /** Throws `SealError` (never showing the number) if the value is not a sealed citizen ID. */
  open(sealed: string): CitizenId;
  /** Whether a sealed value was made with an older key and should be re-sealed. */
  needsReseal(sealed: string): boolean;
}

/** The AAD for sealing and the purpose for the blind index. */
const PURPOSE = 'citizen_id';
const STORED_SHAPE = /^[0-9]{17}[0-9X]$/;

/**
 * Seals and indexes citizen ID numbers with the server secrets. Nothing here logs, and the
 * returned object holds no key material of its own (keys stay inside the sealer's closures).
 */
export function createCitizenIdVault(secrets: Pick<Secrets, 'sealKeys' | 'indexKey'>): CitizenIdVault {
  const sealer = createSealer(secrets.sealKeys);
  const blindIndex = createBlindIndex(secrets.indexKey);

  return Object.freeze({
    index: (id: CitizenId) => blindIndex(PURPOSE, id),
    seal: (id: CitizenId) => sealer.seal(id, PURPOSE) as SealedCitizenId,
    open(sealed: string): CitizenId {
      const plain = sealer.open(sealed, PURPOSE);
      // Authenticated, so this only catches a value sealed by a bug. Deliberately no full
      // re-validation: a stored number must stay readable if, say, the region list changes.
      if (!STORED_SHAPE.test(plain) || checkCharacter(plain.slice(0, 17)) !== plain[17]) {
        throw new SealError('sealed value does not hold a citizen ID number');
      }
      return plain as CitizenId;
    },
    needsReseal: (sealed: string) => sealer.kidOf(sealed) !== sealer.currentKid,
  });
}
