import { randomInt } from 'node:crypto';

/** How many recovery codes an enrolment hands out. */
export const RECOVERY_CODE_COUNT = 10;

// Crockford's base32: no I, L, O or U, so codes read aloud or copied by hand survive.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const LENGTH = 12; // 60 random bits each: far beyond guessing, so a fast keyed hash stores them safely
const CANONICAL = new RegExp(`^[${ALPHABET}]{${LENGTH}}$`);

/** Fresh codes, shown to the citizen once as `XXXX-XXXX-XXXX`. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const raw = Array.from({ length: LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
    return raw.replace(/(.{4})(?=.)/g, '$1-');
  });
}

/**
 * The canonical form of what a citizen typed: case, spaces and dashes do not matter, and the
 * letters Crockford's alphabet leaves out read as the digits they look like. Undefined if it cannot
 * be a recovery code at all.
 */
export function normaliseRecoveryCode(input: string): string | undefined {
  const s = input
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  return CANONICAL.test(s) ? s : undefined;
}
