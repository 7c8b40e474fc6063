import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseCitizenId } from '../../src/identity/index.js';
import {
  createFileRegistry,
  createInMemoryRegistry,
  registryFromConfig,
  RegistryRecordsError,
  type RegistryRecord,
} from '../../src/registry/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { loopbackOutbound } from '../support/outbound.js';

const outbound = loopbackOutbound();

const FIXTURE = fileURLToPath(new URL('../fixtures/registry.json', import.meta.url));
const id = (raw: string) => parseCitizenId(raw);
const dir = mkdtempSync(join(tmpdir(), 'yihao-registry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function writeRegistryFile(text: string): string {
  const path = join(dir, `registry-${++fileCount}.json`);
  writeFileSync(path, text);
  return path;
}

/** The error that createFileRegistry throws for `text`, checked to keep the ID numbers and names out. */
function refusal(text: string, secrets: string[]): { path: string; message: string } {
  const path = writeRegistryFile(text);
  let error: unknown;
  try {
    createFileRegistry(path);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(RegistryRecordsError);
  const message = (error as Error).message;
  expect(message).toContain(path);
  for (const secret of secrets) expect(message).not.toContain(secret);
  return { path, message };
}

describe('file registry (test/fixtures/registry.json)', () => {
  const registry = createFileRegistry(FIXTURE);

  it('matches a known number with its name, saying when and where it was checked', async () => {
    const before = Date.now();
    const result = await registry.verify({ citizenId: id('11010519491231002X'), name: '张三' });
    expect(result).toEqual({ outcome: 'match', checkedAt: expect.any(Date), source: 'file:registry.json' });
    if (result.outcome === 'match') expect(result.checkedAt.getTime()).toBeGreaterThanOrEqual(before);
  });

  it('matches a name typed with another middle dot and stray spaces', async () => {
    const result = await registry.verify({ citizenId: id('650102198503120043'), name: ' 阿依古丽 • 买买提 ' });
    expect(result.outcome).toBe('match');
  });

  it('answers mismatch when the name differs', async () => {
    expect(await registry.verify({ citizenId: id('440305199001010157'), name: '张三' })).toEqual({ outcome: 'mismatch' });
  });

  it('answers unknown for a number it does not hold', async () => {
    expect(await registry.verify({ citizenId: id(syntheticCitizenId({ region: '210102' })), name: '张三' })).toEqual({ outcome: 'unknown' });
  });

  it('answers mismatch for a deceased person, even with the right name', async () => {
    expect(await registry.verify({ citizenId: id('510107193010050882'), name: '赵淑芬' })).toEqual({ outcome: 'mismatch' });
  });
});

describe('in-memory registry', () => {
  it('answers from records given in code, with lowercase x accepted in the records', async () => {
    const withX = syntheticCitizenId();
    const person = syntheticCitizenId();
    const records: RegistryRecord[] = [
      { citizenId: person, name: '周杰' },
      { citizenId: withX.toLowerCase(), name: '吴敏', status: 'deceased' },
    ];
    const registry = createInMemoryRegistry(records, 'test');
    expect(await registry.verify({ citizenId: id(person), name: '周杰' })).toMatchObject({ outcome: 'match', source: 'test' });
    expect(await registry.verify({ citizenId: id(person), name: '周 杰' })).toEqual({ outcome: 'mismatch' });
    expect(await registry.verify({ citizenId: id(withX), name: '吴敏' })).toEqual({ outcome: 'mismatch' });
  });

  it('refuses invalid records without showing them', () => {
    const bad = syntheticCitizenId().slice(0, 17) + 'Z';
    expect(() => createInMemoryRegistry([{ citizenId: bad, name: '周杰' }])).toThrow(/^registry records \(in memory\): record 1, field "citizenId": /);
  });
});

describe('an invalid registry file is refused at construction', () => {
  const person = syntheticCitizenId({ region: '320102' });
  const other = syntheticCitizenId({ region: '420106' });

  it('names a file that cannot be read', () => {
    const missing = join(dir, 'missing.json');
    expect(() => createFileRegistry(missing)).toThrow(`registry records (${missing}): cannot read the file (ENOENT)`);
  });

  it('says the file is not JSON without quoting it', () => {
    const { message } = refusal(`[{ "citizenId": "${person}", "name": "孙丽" ,,]`, [person, '孙丽']);
    expect(message).toMatch(/the file is not valid JSON$/);
  });

  it('says a file that is not a list must be one', () => {
    expect(refusal(`{ "${person}": "孙丽" }`, [person, '孙丽']).message).toMatch(/the file: .*expected array/);
  });

  it('names the record and field whose ID number is not valid', () => {
    const badCheck = person.slice(0, 17) + (person[17] === '0' ? '1' : '0');
    const text = JSON.stringify([{ citizenId: other, name: '钱伟' }, { citizenId: badCheck, name: '孙丽' }]);
    const { message } = refusal(text, [badCheck, badCheck.slice(0, 17), '孙丽', other]);
    expect(message).toMatch(/record 2, field "citizenId": the check character does not match$/);
  });

  it('names a record whose name is missing or blank', () => {
    expect(refusal(JSON.stringify([{ citizenId: person }]), [person]).message).toMatch(/record 1, field "name": .*expected string/);
    expect(refusal(JSON.stringify([{ citizenId: person, name: '孙丽', phones: ['010-12345678'] }]), [person, '孙丽', '12345678']).message).toMatch(
      /record 1, field "phones.0": must be mainland mobile numbers/,
    );
    expect(refusal(JSON.stringify([{ citizenId: person, name: ' \u3000 ' }]), [person]).message).toMatch(/record 1, field "name": must not be empty$/);
  });

  it('names a record with an unknown status', () => {
    const { message } = refusal(JSON.stringify([{ citizenId: person, name: '孙丽', status: 'dead' }]), [person, '孙丽']);
    expect(message).toMatch(/record 1, field "status": expected value to be one of "active" or "deceased"$/);
  });

  it('names an unknown field, but not one that looks like data', () => {
    const text = JSON.stringify([{ citizenId: person, name: '孙丽', statu: 'active', [other]: '钱伟' }]);
    const { message } = refusal(text, [person, '孙丽', other, '钱伟']);
    expect(message).toMatch(/record 1: unknown fields "statu" and 1 not shown$/);
  });

  it('names both records when a number appears twice', () => {
    const text = JSON.stringify([{ citizenId: person, name: '孙丽' }, { citizenId: other, name: '钱伟' }, { citizenId: person.toLowerCase(), name: '孙莉' }]);
    expect(refusal(text, [person, other, '孙丽', '孙莉']).message).toMatch(/record 3 repeats the citizen ID number of record 1$/);
  });
});

describe('registryFromConfig', () => {
  it('builds a file registry', async () => {
    const registry = registryFromConfig({ kind: 'file', path: FIXTURE }, { outbound });
    expect((await registry.verify({ citizenId: id('440305199001010157'), name: '李四' })).outcome).toBe('match');
  });

  it('refuses bad settings with a ConfigError that names the setting', () => {
    expect(() => registryFromConfig({ kind: 'http', endpoint: 'ftp://registry.example/verify' }, { outbound })).toThrow(ConfigError);
    expect(() => registryFromConfig({ kind: 'http', endpoint: 'ftp://registry.example/verify' }, { outbound })).toThrow(/registry\.endpoint must be an http or https URL/);
    expect(() => registryFromConfig({ kind: 'http', endpoint: 'http://registry.example/verify', retries: 9 }, { outbound })).toThrow(/registry\.retries/);
    expect(() => registryFromConfig({ kind: 'http', endpoint: 'http://registry.example/verify', tls: {} }, { outbound })).toThrow(/registry\.tls needs an https endpoint/);
    expect(() => registryFromConfig({ kind: 'http', endpoint: 'https://registry.example/verify', tls: { cert: '-----BEGIN CERTIFICATE-----' } }, { outbound })).toThrow(
      /registry\.tls cert and key go together/,
    );
    expect(() => registryFromConfig({ kind: 'file', path: FIXTURE, endpoint: 'x' } as never, { outbound })).toThrow(/registry .*endpoint/);
  });

  it('refuses to start with the phone check on over a file that lists no phones (every registration would fail), and not with it off', () => {
    const person = syntheticCitizenId();
    const path = writeRegistryFile(JSON.stringify([{ citizenId: person, name: '孙丽' }]));
    expect(() => registryFromConfig({ kind: 'file', path }, { outbound })).toThrow(/registry\.phoneCheck is on, but the registry file lists no phones/);
    expect(registryFromConfig({ kind: 'file', path, phoneCheck: false }, { outbound })).toBeDefined();
  });
});
