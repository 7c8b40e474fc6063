import { existsSync, readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isYihaoError, YihaoError } from '../../src/errors.js';
import {
  birthDateOf,
  checkCharacter,
  genderOf,
  InvalidCitizenIdError,
  isCitizenIdShaped,
  maskCitizenId,
  parseCitizenId,
  SensitiveCitizenId,
  type CitizenIdProblem,
} from '../../src/identity/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

interface Testdata {
  valid: { id: string; note: string }[];
  invalid: { id: string; why: string }[];
}

/** The shared test data beside the repo; the copy in test/fixtures when the repo stands alone. */
function loadTestdata(): Testdata {
  const shared = new URL('../../../shared/testdata/citizen-ids.json', import.meta.url);
  const fixture = new URL('../fixtures/citizen-ids.json', import.meta.url);
  return JSON.parse(readFileSync(existsSync(shared) ? shared : fixture, 'utf8')) as Testdata;
}

const testdata = loadTestdata();
const NOW = new Date('2026-06-15T12:00:00Z');

/** Calls parseCitizenId and returns the error it must throw. */
function refusal(raw: unknown, now = NOW): InvalidCitizenIdError {
  try {
    parseCitizenId(raw as string, now);
  } catch (e) {
    expect(isYihaoError(e)).toBe(true);
    expect(e).toBeInstanceOf(InvalidCitizenIdError);
    expect((e as YihaoError).code).toBe('invalid_citizen_id');
    return e as InvalidCitizenIdError;
  }
  throw new Error('expected parseCitizenId to refuse the input');
}

/**
 * The message must not carry the number, nor any part of it: the only digits it may contain
 * are the rule's own constants ("18 characters", "17 digits", "0-9", "1900").
 */
function expectSafeMessage(message: string, raw: string): void {
  const trimmed = raw.trim();
  if (trimmed.length > 0) expect(message).not.toContain(trimmed);
  for (const run of message.match(/[0-9\uFF10-\uFF19]+/g) ?? []) expect(['0', '9', '17', '18', '1900']).toContain(run);
}

describe('parseCitizenId with the shared test data', () => {
  it.each(testdata.valid)('accepts $id ($note)', ({ id }) => {
    const parsed = parseCitizenId(id, NOW);
    expect(parsed).toBe(id.toUpperCase());
    expect(parsed).toMatch(/^[0-9]{17}[0-9X]$/);
  });

  it.each(testdata.invalid)('refuses "$id" ($why) without echoing it', ({ id }) => {
    const err = refusal(id);
    expectSafeMessage(err.message, id);
    expect(err.status).toBe(400);
  });

  it('has both kinds of example', () => {
    expect(testdata.valid.length).toBeGreaterThan(3);
    expect(testdata.invalid.length).toBeGreaterThan(3);
  });
});

describe('parseCitizenId rules', () => {
  const cases: [string, string, CitizenIdProblem][] = [
    ['wrong check character', '440305199001010150', 'check_character'],
    ['impossible date', syntheticCitizenId({ region: '110105', birth: '19490230', seq: 2 }), 'birth_date_invalid'],
    ['month 13', syntheticCitizenId({ region: '110105', birth: '19901301', seq: 2 }), 'birth_date_invalid'],
    ['day 00', syntheticCitizenId({ region: '110105', birth: '19900100', seq: 2 }), 'birth_date_invalid'],
    ['1900 is not a leap year', syntheticCitizenId({ region: '110105', birth: '19000229', seq: 2 }), 'birth_date_invalid'],
    ['1901-02-29', '110105190102290022', 'birth_date_invalid'],
    ['before 1900', syntheticCitizenId({ region: '110105', birth: '18991231', seq: 2 }), 'birth_date_too_early'],
    ['in the future', '110105210001010023', 'birth_date_future'],
    ['province 99', '990105199001010022', 'region'],
    ['province 00', '000105199001010023', 'region'],
    ['province 16', syntheticCitizenId({ region: '160101', birth: '19900101', seq: 2 }), 'region'],
    ['province 84', syntheticCitizenId({ region: '840101', birth: '19900101', seq: 2 }), 'region'],
    ['17 characters', '44030519900101015', 'length'],
    ['19 characters', '4403051990010101571', 'length'],
    ['empty', '', 'length'],
    ['only spaces', '     ', 'length'],
    ['old 15-digit format', '110105491231002', 'length'],
    ['a letter inside', '44030519900101A015', 'characters'],
    ['X not at the end', '4403051990010101X7', 'characters'],
    ['a space inside', '440305 99001010157', 'characters'],
    ['Arabic-Indic digits', '٤٤٠٣٠٥١٩٩٠٠١٠١٠١٥٧', 'characters'],
    ['full-width digits', '４４０３０５１９９００１０１０１５７', 'full_width'],
    ['full-width X', '33010619880808008Ｘ', 'full_width'],
    ['injection attempt', "440305199001010157' OR '1'='1", 'length'],
    ['a megabyte of digits', '1'.repeat(1_000_000), 'length'],
  ];

  it.each(cases)('refuses %s', (_label, raw, problem) => {
    const err = refusal(raw);
    expect(err.problem).toBe(problem);
    expectSafeMessage(err.message, raw);
  });

  it.each([null, undefined, 440305199001010, {}, [], { toString: () => '440305199001010157' }])(
    'refuses a non-string (%s) cleanly',
    (raw) => {
      expect(refusal(raw).problem).toBe('not_text');
    },
  );

  it('never crashes on unicode garbage', () => {
    const samples = ['\uD800'.repeat(18), '😀'.repeat(9), '\u0000'.repeat(18), 'é'.repeat(18), '１'.repeat(200), '\u200B' + '440305199001010157'];
    for (const s of samples) expect(() => parseCitizenId(s, NOW)).toThrow(YihaoError);
  });

  it('trims surrounding whitespace, including the ideographic space', () => {
    expect(parseCitizenId('  440305199001010157\n', NOW)).toBe('440305199001010157');
    expect(parseCitizenId('\u3000440305199001010157\u3000', NOW)).toBe('440305199001010157');
  });

  it('normalises a lower-case x to X', () => {
    expect(parseCitizenId('11010519491231002x', NOW)).toBe('11010519491231002X');
  });

  it('accepts the leap day of 2000 and of 2024, and 1900-01-01', () => {
    expect(() => parseCitizenId(syntheticCitizenId({ region: '510107', birth: '20000229', seq: 101 }), NOW)).not.toThrow();
    expect(() => parseCitizenId(syntheticCitizenId({ region: '510107', birth: '20240229', seq: 101 }), NOW)).not.toThrow();
    expect(() => parseCitizenId(syntheticCitizenId({ region: '510107', birth: '19000101', seq: 101 }), NOW)).not.toThrow();
  });

  it('accepts every province code and residence-permit code', () => {
    for (const p of ['11', '15', '21', '23', '31', '37', '41', '46', '50', '54', '61', '65', '71', '81', '82', '83']) {
      expect(() => parseCitizenId(syntheticCitizenId({ region: `${p}0000`, birth: '19900101', seq: 1 }), NOW)).not.toThrow();
    }
  });

  it('judges "the future" by the date in China (UTC+8): born today is fine, tomorrow is not', () => {
    const now = new Date('2024-05-31T16:30:00Z'); // already 2024-06-01 in Beijing
    expect(() => parseCitizenId(syntheticCitizenId({ region: '110105', birth: '20240601', seq: 1 }), now)).not.toThrow();
    expect(refusal(syntheticCitizenId({ region: '110105', birth: '20240602', seq: 1 }), now).problem).toBe('birth_date_future');
    const justBefore = new Date('2024-05-31T15:59:59Z'); // still 2024-05-31 in Beijing
    expect(refusal(syntheticCitizenId({ region: '110105', birth: '20240601', seq: 1 }), justBefore).problem).toBe('birth_date_future');
  });

  it('uses the current date by default', () => {
    expect(parseCitizenId('440305199001010157')).toBe('440305199001010157');
  });

  it('accepts numbers from the synthetic generator', () => {
    for (let i = 0; i < 200; i++) {
      const id = syntheticCitizenId();
      expect(parseCitizenId(id, NOW)).toBe(id);
    }
  });
});

describe('derived attributes', () => {
  it('derives birth date and gender', () => {
    const f = parseCitizenId('11010519491231002X', NOW);
    expect(birthDateOf(f)).toBe('1949-12-31');
    expect(genderOf(f)).toBe('female');
    const m = parseCitizenId('440305199001010157', NOW);
    expect(birthDateOf(m)).toBe('1990-01-01');
    expect(genderOf(m)).toBe('male');
    expect(birthDateOf(parseCitizenId('510107200002291013', NOW))).toBe('2000-02-29');
  });

  it('derives gender from the parity of the 17th digit', () => {
    for (let seq = 0; seq < 20; seq++) {
      const id = parseCitizenId(syntheticCitizenId({ region: '310104', birth: '19851215', seq }), NOW);
      expect(genderOf(id)).toBe(seq % 2 === 1 ? 'male' : 'female');
    }
  });

  it('masks all but the first 6 and last 4 characters', () => {
    expect(maskCitizenId(parseCitizenId('11010519491231002X', NOW))).toBe('110105********002X');
    expect(maskCitizenId(parseCitizenId('440305199001010157', NOW))).toBe('440305********0157');
  });

  it('shows a SensitiveCitizenId masked in templates, JSON and inspect', () => {
    const id = parseCitizenId('440305199001010157', NOW);
    const s = new SensitiveCitizenId(id);
    expect(`${s}`).toBe('440305********0157');
    expect(JSON.stringify({ s })).toBe('{"s":"440305********0157"}');
    expect(inspect({ s })).not.toContain(id);
    expect(s.reveal()).toBe(id);
    expect(s.equals(new SensitiveCitizenId(parseCitizenId('440305199001010157', NOW)))).toBe(true);
  });
});

describe('checkCharacter', () => {
  it('computes ISO 7064 MOD 11-2', () => {
    expect(checkCharacter('11010519491231002')).toBe('X');
    expect(checkCharacter('44030519900101015')).toBe('7');
    expect(checkCharacter('51010720000229101')).toBe('3');
  });

  it('agrees with every valid example in the test data', () => {
    for (const { id } of testdata.valid) expect(checkCharacter(id.slice(0, 17))).toBe(id[17]!.toUpperCase());
  });

  it('yields each of the 11 possible characters', () => {
    const seen = new Set<string>();
    for (let seq = 0; seq < 200; seq++) seen.add(checkCharacter(`11010519900101${String(seq).padStart(3, '0')}`));
    expect([...seen].sort().join('')).toBe('0123456789X');
  });

  it('refuses anything but 17 ASCII digits', () => {
    for (const bad of ['', '1101051949123100', '110105194912310021', '1101051949123100X', '１１０１０５１９４９１２３１００２']) {
      expect(() => checkCharacter(bad)).toThrow(YihaoError);
    }
  });
});

describe('isCitizenIdShaped', () => {
  it('tells ID-number attempts from mobile numbers', () => {
    expect(isCitizenIdShaped('440305199001010157')).toBe(true);
    expect(isCitizenIdShaped('11010519491231002x')).toBe(true);
    expect(isCitizenIdShaped(' 11010519491231002X ')).toBe(true);
    expect(isCitizenIdShaped('440305199001010150')).toBe(true); // shaped, though the check fails
    expect(isCitizenIdShaped('４４０３０５１９９００１０１０１５７')).toBe(true); // so parse can explain
    expect(isCitizenIdShaped('13800138000')).toBe(false);
    expect(isCitizenIdShaped('+8613800138000')).toBe(false);
    expect(isCitizenIdShaped('44030519900101015')).toBe(false);
    expect(isCitizenIdShaped('')).toBe(false);
    expect(isCitizenIdShaped('1'.repeat(100_000))).toBe(false);
    expect(isCitizenIdShaped(undefined as unknown as string)).toBe(false);
  });
});

describe('syntheticCitizenId', () => {
  it('builds the requested number', () => {
    expect(syntheticCitizenId({ region: '110105', birth: '1949-12-31', seq: 2 })).toBe('11010519491231002X');
  });

  it('varies when options are left out', () => {
    const ids = new Set(Array.from({ length: 500 }, () => syntheticCitizenId()));
    expect(ids.size).toBeGreaterThan(495);
  });
});
