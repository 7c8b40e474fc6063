import { describe, expect, it } from 'vitest';
import { generate } from 'otplib';
import { groupedSecret, newTotpSecret, totpStep, totpUri, TOTP_PARAMS } from '../../src/mfa/totp.js';
import { newRecoveryCodes, normaliseRecoveryCode, RECOVERY_CODE_COUNT } from '../../src/mfa/recovery-codes.js';

// RFC 6238 appendix B's SHA-1 key ("12345678901234567890"), base32; at T = 59 s the 8-digit code is 94287082.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('TOTP codes', () => {
  it('matches the RFC 6238 test vector (last 6 digits at T = 59 s), in time step 1', async () => {
    expect(await totpStep(RFC_SECRET, '287082', 59_000)).toBe(1);
  });

  it('accepts one period of clock drift each way and no more', async () => {
    const now = 1_800_000_015_000; // 15 s into a period
    const step = Math.floor(now / 30_000);
    const codeFor = (offset: number) => generate({ secret: RFC_SECRET, epoch: (step + offset) * 30 });
    for (const offset of [-1, 0, 1]) expect(await totpStep(RFC_SECRET, await codeFor(offset), now)).toBe(step + offset);
    for (const offset of [-2, 2]) {
      const code = await codeFor(offset);
      // (A far code can collide with a near one by chance; only a distinct one proves the window.)
      const near = await Promise.all([-1, 0, 1].map(codeFor));
      if (!near.includes(code)) expect(await totpStep(RFC_SECRET, code, now)).toBeUndefined();
    }
  });

  it('refuses anything that is not exactly six digits without consulting the secret', async () => {
    for (const code of ['', '12345', '1234567', '12345a', ' 123456', '１２３４５６']) expect(await totpStep(RFC_SECRET, code)).toBeUndefined();
  });

  it('makes 160-bit base32 secrets and an otpauth URI that authenticator apps read', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri(secret, { issuer: 'Yihao', label: '110105********002X' }));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Yihao:110105********002X');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret, issuer: 'Yihao' });
    expect(TOTP_PARAMS).toEqual({ algorithm: 'sha1', digits: 6, period: 30 });
    expect(groupedSecret('ABCDEFGHIJ')).toBe('ABCD EFGH IJ');
  });
});

describe('recovery codes', () => {
  it('hands out ten distinct codes of 12 Crockford base32 characters (60 bits)', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(RECOVERY_CODE_COUNT).toBe(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
  });

  it('reads a code however it was typed: case, spaces and dashes, and O/I/L for 0/1', () => {
    expect(normaliseRecoveryCode('ab12-cd34-ef56')).toBe('AB12CD34EF56');
    expect(normaliseRecoveryCode(' AB12 CD34 EF56 ')).toBe('AB12CD34EF56');
    expect(normaliseRecoveryCode('0I1L-OOOO-1111')).toBe('011100001111');
  });

  it('refuses what cannot be a code', () => {
    for (const s of ['', '123456', 'AB12-CD34-EF5', 'AB12-CD34-EF567', 'AB12-CD34-EF5U', 'AB12_CD34_EF56']) expect(normaliseRecoveryCode(s)).toBeUndefined();
  });
});
