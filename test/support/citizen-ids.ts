import { randomInt } from 'node:crypto';
import { checkCharacter } from '../../src/identity/citizen-id.js';

/** Public region codes (district level) with known provinces. */
const REGIONS = ['110105', '310104', '440305', '510107', '330106', '650102', '420106', '320102', '210102', '530102'];

function randomBirth(): string {
  // Any real day from 1950-01-01 to 2005-12-31.
  const from = Date.UTC(1950, 0, 1);
  const to = Date.UTC(2005, 11, 31);
  const day = new Date(from + randomInt(0, Math.floor((to - from) / 86_400_000) + 1) * 86_400_000);
  return day.toISOString().slice(0, 10).replaceAll('-', '');
}

/**
 * A synthetic citizen ID number with the right check character. Any part left out is random
 * (region from a list of real districts, a birth date in 1950-2005, a sequence 000-999), so
 * calls without options give unique-enough numbers for tests that create many accounts.
 * Pass all three for a fixed number. `birth` is 'YYYYMMDD' or 'YYYY-MM-DD' and is not checked
 * for being a real date, so tests can build invalid numbers with a correct check character.
 */
export function syntheticCitizenId(opts: { region?: string; birth?: string; seq?: number } = {}): string {
  const region = opts.region ?? REGIONS[randomInt(REGIONS.length)]!;
  const birth = opts.birth?.replaceAll('-', '') ?? randomBirth();
  const seq = opts.seq ?? randomInt(1000);
  if (!/^[0-9]{6}$/.test(region)) throw new Error('syntheticCitizenId: region must be 6 digits');
  if (!/^[0-9]{8}$/.test(birth)) throw new Error('syntheticCitizenId: birth must be YYYYMMDD or YYYY-MM-DD');
  if (!Number.isInteger(seq) || seq < 0 || seq > 999) throw new Error('syntheticCitizenId: seq must be an integer 0-999');
  const first17 = `${region}${birth}${String(seq).padStart(3, '0')}`;
  return first17 + checkCharacter(first17);
}
