import { inspect } from 'node:util';
import { YihaoError } from '../errors.js';

/**
 * GB 11643 citizen ID numbers: region (6 digits), birth date (8), sequence (3) and an
 * ISO 7064 MOD 11-2 check character ('X' stands for 10).
 *
 * A `CitizenId` is a string that `parseCitizenId` has validated and normalised (trimmed, 'x' → 'X').
 * It is personal data: never log it, never put it in a URL, show it through `maskCitizenId`.
 * Error messages from this module never echo the number, not even in part.
 */
declare const citizenIdBrand: unique symbol;
export type CitizenId = string & { readonly [citizenIdBrand]: true };

/** Why a number was refused; stable, so that pages can show their own (zh-CN / en) text. */
export type CitizenIdProblem =
  | 'not_text'
  | 'length'
  | 'full_width'
  | 'characters'
  | 'check_character'
  | 'region'
  | 'birth_date_invalid'
  | 'birth_date_future'
  | 'birth_date_too_early';

const problemText: Record<CitizenIdProblem, string> = {
  not_text: 'the citizen ID number must be text',
  length: 'the citizen ID number must be 18 characters',
  full_width: 'the citizen ID number must use ASCII digits 0-9; full-width digits are not accepted',
  characters: 'the citizen ID number must be 17 digits followed by a digit or X',
  check_character: 'the check character does not match',
  region: 'the region code is not a known province',
  birth_date_invalid: 'the birth date is not a real date',
  birth_date_future: 'the birth date is in the future',
  birth_date_too_early: 'the birth date is before the year 1900',
};

/** A `YihaoError` ('invalid_citizen_id') that also says which rule failed. */
export class InvalidCitizenIdError extends YihaoError {
  constructor(readonly problem: CitizenIdProblem) {
    super('invalid_citizen_id', problemText[problem]);
    this.name = 'InvalidCitizenIdError';
  }
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARACTERS = '10X98765432';
const SHAPE = /^[0-9]{17}[0-9X]$/;
/** Anything longer is refused before any other work. */
const MAX_RAW_LENGTH = 64;
/** Full-width digits and Ｘ/ｘ, as typed with a Chinese input method in full-width mode. */
const FULL_WIDTH = /[\uFF10-\uFF19\uFF38\uFF58]/;
/** Province-level codes: mainland provinces, Taiwan (71), and 81/82/83 residence permits. */
const PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64,
  65, 71, 81, 82, 83,
]);
const EARLIEST_BIRTH = '19000101';
/** Birth dates are civil dates in China (UTC+8, no daylight saving time). */
const CHINA_OFFSET_MS = 8 * 60 * 60 * 1000;

/**
 * The ISO 7064 MOD 11-2 check character for the first 17 digits.
 * Throws (without echoing the input) unless `first17` is exactly 17 ASCII digits.
 */
export function checkCharacter(first17: string): string {
  if (typeof first17 !== 'string' || !/^[0-9]{17}$/.test(first17)) {
    throw new YihaoError('invalid_citizen_id', 'the check character needs exactly 17 ASCII digits');
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * WEIGHTS[i]!;
  return CHECK_CHARACTERS[sum % 11]!;
}

const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeapYear(y) ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/** Today's date in China as 'YYYYMMDD'. */
function chinaToday(now: Date): string {
  const ms = now.getTime();
  if (Number.isNaN(ms)) throw new TypeError('parseCitizenId: `now` is not a valid Date');
  return new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 10).replaceAll('-', '');
}

function birthDateProblem(yyyymmdd: string, today: string): CitizenIdProblem | undefined {
  const y = Number(yyyymmdd.slice(0, 4));
  const m = Number(yyyymmdd.slice(4, 6));
  const d = Number(yyyymmdd.slice(6, 8));
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return 'birth_date_invalid';
  if (yyyymmdd < EARLIEST_BIRTH) return 'birth_date_too_early';
  if (yyyymmdd > today) return 'birth_date_future';
  return undefined;
}

/**
 * Validates and normalises a citizen ID number, or throws `InvalidCitizenIdError`
 * (a `YihaoError` with code 'invalid_citizen_id' and a message that never contains the number).
 *
 * Full-width digits are refused with their own message rather than silently converted: the
 * caller (a form) can tell the citizen what to change. A birth date counts as "in the future"
 * when it is after today's date in China (UTC+8); being born today is fine.
 */
export function parseCitizenId(raw: string, now: Date = new Date()): CitizenId {
  if (typeof raw !== 'string') throw new InvalidCitizenIdError('not_text');
  if (raw.length > MAX_RAW_LENGTH) throw new InvalidCitizenIdError('length');
  const s = raw.trim();
  if (FULL_WIDTH.test(s)) throw new InvalidCitizenIdError('full_width');
  if (s.length !== 18) throw new InvalidCitizenIdError('length');
  const id = s.endsWith('x') ? `${s.slice(0, 17)}X` : s;
  if (!SHAPE.test(id)) throw new InvalidCitizenIdError('characters');
  if (checkCharacter(id.slice(0, 17)) !== id[17]) throw new InvalidCitizenIdError('check_character');
  if (!PROVINCES.has(Number(id.slice(0, 2)))) throw new InvalidCitizenIdError('region');
  const problem = birthDateProblem(id.slice(6, 14), chinaToday(now));
  if (problem) throw new InvalidCitizenIdError(problem);
  return id as CitizenId;
}

/**
 * Whether a login identifier looks like an attempt at a citizen ID number (18 characters of
 * digits, the last possibly X), as opposed to a mobile number. It does not validate: call
 * `parseCitizenId` next. Full-width digits count as ID-shaped so that the citizen gets
 * `parseCitizenId`'s clear message instead of a puzzling "wrong mobile number".
 */
export function isCitizenIdShaped(s: string): boolean {
  if (typeof s !== 'string' || s.length > MAX_RAW_LENGTH) return false;
  return /^[0-9\uFF10-\uFF19]{17}[0-9Xx\uFF10-\uFF19\uFF38\uFF58]$/.test(s.trim());
}

/** Birth date as 'YYYY-MM-DD' (the OIDC `birthdate` claim). */
export function birthDateOf(id: CitizenId): string {
  return `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`;
}

/** Gender from the sequence: an odd 17th digit is male, an even one female. */
export function genderOf(id: CitizenId): 'male' | 'female' {
  return (id.charCodeAt(16) - 48) % 2 === 1 ? 'male' : 'female';
}

/** The display form: first 6 and last 4 characters, 8 stars between (`110105********002X`). */
export function maskCitizenId(id: CitizenId): string {
  return `${id.slice(0, 6)}********${id.slice(14)}`;
}

/**
 * A citizen ID that shows itself masked wherever it is turned into text by accident: string
 * templates, `JSON.stringify` (and so pino), `util.inspect` / `console.log`. Call `reveal()`
 * where the full number is really needed (sealing, indexing, a `full` release policy).
 */
export class SensitiveCitizenId {
  readonly #id: CitizenId;

  constructor(id: CitizenId) {
    this.#id = id;
  }

  reveal(): CitizenId {
    return this.#id;
  }

  get masked(): string {
    return maskCitizenId(this.#id);
  }

  equals(other: SensitiveCitizenId): boolean {
    return this.#id === other.#id;
  }

  toString(): string {
    return this.masked;
  }

  toJSON(): string {
    return this.masked;
  }

  [inspect.custom](): string {
    return `SensitiveCitizenId(${this.masked})`;
  }
}
