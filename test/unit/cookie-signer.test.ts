import Keygrip from 'keygrip';
import { describe, expect, it } from 'vitest';
import { CookieSigner } from '../../src/http/cookie-signer.js';

// keygrip is what the cookies module uses when given a key list: the signer must be exchangeable with it.
const KEYS = ['k1-0123456789abcdef0123456789abcdef', 'k0-fedcba9876543210fedcba9876543210'];
const DATA = ['_session=abc', '_interaction=9f3-Zq_x', 'yihao_lang=zh-CN', '', '_s=中文'];

describe('cookie signatures', () => {
  it('signs as keygrip does, so cookies already in browsers stay valid', () => {
    const grip = new Keygrip(KEYS);
    const signer = new CookieSigner(KEYS);
    for (const data of DATA) expect(signer.sign(data)).toBe(grip.sign(data));
  });

  it('names the key that made a signature, as keygrip does, after a rotation too', () => {
    const oldSigner = new CookieSigner([KEYS[1]!]);
    const rotated = new CookieSigner(KEYS);
    const grip = new Keygrip(KEYS);
    for (const data of DATA) {
      const before = oldSigner.sign(data);
      expect(rotated.index(data, before)).toBe(1);
      expect(rotated.index(data, before)).toBe(grip.index(data, before));
      expect(rotated.index(data, rotated.sign(data))).toBe(0);
      expect(rotated.verify(data, before)).toBe(true);
    }
  });

  it('refuses a signature for other data, from another key, or in a non-canonical form', () => {
    const signer = new CookieSigner(KEYS);
    const sig = signer.sign('_session=abc');
    expect(signer.verify('_session=abd', sig)).toBe(false);
    expect(signer.verify('_session=abc', new CookieSigner(['another-key-0123456789abcdef012345']).sign('_session=abc'))).toBe(false);
    // Same bytes once decoded: padding, a stray character, the base64 alphabet, a truncation.
    for (const forged of [`${sig}=`, `${sig}.`, `${sig.slice(0, 10)}!${sig.slice(10)}`, sig.replaceAll('-', '+').replaceAll('_', '/'), sig.slice(0, -1), '', 'x'.repeat(27)]) {
      if (forged === sig) continue;
      expect(signer.index('_session=abc', forged), forged).toBe(-1);
    }
    expect(signer.index('_session=abc', undefined as unknown as string)).toBe(-1);
  });

  it('needs a key', () => {
    expect(() => new CookieSigner([])).toThrow();
  });
});
