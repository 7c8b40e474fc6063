import { describe, expect, it } from 'vitest';
import { loggedPath } from '../../src/logger.js';

describe('a request path as the request log writes it', () => {
  it('keeps an ordinary path as it is, decoded', () => {
    expect(loggedPath('/interaction/Yns33OOWb_1B0FG8d5r4c/qr')).toBe('/interaction/Yns33OOWb_1B0FG8d5r4c/qr');
    expect(loggedPath('/admin/api/clients/c_12345')).toBe('/admin/api/clients/c_12345');
    expect(loggedPath('/caf%C3%A9')).toBe('/café');
  });

  it('takes out an ID number or a mobile number, however it is spelled', () => {
    const id = '11010519491231002X';
    expect(loggedPath(`/x/${id}`)).toBe('/x/[redacted]');
    expect(loggedPath(`/x/${[...id].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}`)).toBe('/x/[redacted]');
    expect(loggedPath(`/x/${id.slice(0, 9)}%3${id[9]}${id.slice(10)}`)).toBe('/x/[redacted]');
    expect(loggedPath('/x/110105491231002')).toBe('/x/[redacted]');
    expect(loggedPath('/x/13987650123')).toBe('/x/[redacted]');
    expect(loggedPath('/x/+8613987650123')).toBe('/x/[redacted]');
    expect(loggedPath('/x/139%208765%200123')).toBe('/x/[redacted]');
    expect(loggedPath('/x/139-8765-0123')).toBe('/x/[redacted]');
  });

  it('takes out the digits however they are grouped or folded (found by a second review)', () => {
    expect(loggedPath('/no-such/440305%2019600505%202852')).toBe('/no-such/[redacted]');
    expect(loggedPath('/no-such/440305.19600505.2852')).toBe('/no-such/[redacted]');
    expect(loggedPath('/no-such/440305/19600505/2852')).toBe('/no-such/[redacted]');
    expect(loggedPath('/no-such/139.8765.0123')).toBe('/no-such/[redacted]');
    const fullwidth = [...'11010519491231002X'].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('');
    expect(loggedPath(`/no-such/${encodeURIComponent(fullwidth)}`)).toBe('/no-such/[redacted]');
    // The whole number goes, not its first eleven digits.
    expect(loggedPath('/x/11010519491231002X/y')).toBe('/x/[redacted]/y');
    expect(loggedPath('/x/%E0%A4%A')).not.toMatch(/\d{11}/);
    // Any separator that is not a letter: Unicode dashes, ideographic stops, tildes, bars (a third review).
    for (const sep of ['\u2010', '\u2014', '\u3002', '~', '|']) {
      expect(loggedPath(`/x/${encodeURIComponent(`320102${sep}19820831${sep}5749`)}`)).toBe('/x/[redacted]');
      expect(loggedPath(`/x/${encodeURIComponent(`138${sep}1234${sep}5678`)}`)).toBe('/x/[redacted]');
    }
    expect(loggedPath('/x/%D9%A1%D9%A3%D9%A8%D9%A1%D9%A2%D9%A3%D9%A4%D9%A5%D9%A6%D9%A7%D9%A8')).toBe('/x/[redacted]');
    // Letters still part numbers: an interaction uid keeps its digits.
    expect(loggedPath('/interaction/a1b2c3d4e5f6g7h8i9j0k1l2')).toBe('/interaction/a1b2c3d4e5f6g7h8i9j0k1l2');
    // A 16 KB path of digits and separators is one linear pass (a backtracking shape would not end within the test's timeout).
    expect(loggedPath(`/x/${'1.'.repeat(4)}a${'2-'.repeat(8000)}`)).toBe('/x/1.1.1.1.a[redacted]-');
  });

  it("takes out a QR hand-off's code", () => {
    expect(loggedPath('/m/qr/AbCdEf-_0123456789abcdefghijklmn')).toBe('/m/qr/[redacted]');
  });
});
