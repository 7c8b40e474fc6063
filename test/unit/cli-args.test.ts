import { describe, expect, it } from 'vitest';
import { leadingArgument, parseOptions } from '../../src/cli/args.js';

const options = { sub: { type: 'string' }, note: { type: 'string' }, json: { type: 'boolean' }, tag: { type: 'string', multiple: true } } as const;

describe('command-line options', () => {
  it('takes a value that begins with a dash, as an account sub can (base64url)', () => {
    expect(parseOptions('account show', ['--sub', '-Xb3kQ'], options)).toMatchObject({ sub: '-Xb3kQ' });
    expect(parseOptions('account show', ['--sub', '--9f', '--json'], options)).toMatchObject({ sub: '--9f', json: true });
    expect(parseOptions('account show', ['--note', '-', '--tag', '-a', '--tag', '-b'], options)).toMatchObject({ note: '-', tag: ['-a', '-b'] });
    expect(parseOptions('account show', ['--sub=-Xb3kQ'], options)).toMatchObject({ sub: '-Xb3kQ' });
  });

  it('still says a value is missing when the next word is one of the command’s own options', () => {
    expect(() => parseOptions('account show', ['--sub', '--json'], options)).toThrow(/--sub/);
    expect(() => parseOptions('account show', ['--sub', '--note', 'x'], options)).toThrow(/--sub/);
    expect(() => parseOptions('account show', ['--sub'], options)).toThrow(/argument missing/);
  });

  it('refuses unknown options, stray words and repeats without echoing a value', () => {
    expect(() => parseOptions('account show', ['--bogus=110101199003076111'], options)).toThrow(/^unknown option --bogus \(see/);
    // A value typed with no space runs into the option's name: only the letters are repeated.
    expect(() => parseOptions('account show', ['--citizen-id110101199003076111'], options)).toThrow(/^unknown option --citizen-id…: a value follows its option/);
    expect(() => parseOptions('account show', ['--citizen-id110101199003076111'], options)).not.toThrow(/0076111/);
    expect(() => parseOptions('account show', ['-110101199003076111'], options)).toThrow(/^unknown option starting with a dash/);
    expect(() => parseOptions('account show', ['stray'], options)).toThrow(/unexpected argument/);
    expect(() => parseOptions('account show', ['--sub', 'a', '--sub', 'b'], options)).toThrow(/--sub is given more than once/);
    expect(() => parseOptions('account show', ['--json', '--', '--sub'], options)).toThrow(/unexpected argument/);
  });

  it('takes an ID before the options that begins with a dash (a random base64url id), but not one of the command\'s options', () => {
    expect(leadingArgument('credential revoke', ['-Xb3kQ', '--json'], options, 'credential ID')).toEqual(['-Xb3kQ', ['--json']]);
    expect(leadingArgument('credential revoke', ['--9fQ'], options, 'credential ID')).toEqual(['--9fQ', []]);
    expect(leadingArgument('credential revoke', ['abc'], options, 'credential ID')).toEqual(['abc', []]);
    expect(() => leadingArgument('credential revoke', ['--json'], options, 'credential ID')).toThrow(/the credential ID is required/);
    expect(() => leadingArgument('credential revoke', ['--note=x'], options, 'credential ID')).toThrow(/the credential ID is required/);
    expect(() => leadingArgument('credential revoke', ['--help'], options, 'credential ID')).toThrow(/the credential ID is required/);
    expect(() => leadingArgument('credential revoke', [], options, 'credential ID')).toThrow(/the credential ID is required/);
  });
});
