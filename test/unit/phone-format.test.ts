import { describe, expect, it } from 'vitest';
import { maskPhone } from '../../src/accounts/index.js';

describe('the one masked phone format', () => {
  it.each(['+8613800138000', '8613800138000', '13800138000', '138 0013 8000', '+86 138-0013-8000'])('shows %s as its first three and last four digits, grouped', (raw) => {
    expect(maskPhone(raw)).toBe('138 **** 8000');
  });

  it('never shows the middle four digits', () => {
    expect(maskPhone('+8619912345678')).toBe('199 **** 5678');
    expect(maskPhone('+8619912345678')).not.toContain('1234');
  });

  it('shows a number that is not a mainland mobile only by its last two characters, not its length', () => {
    expect(maskPhone('+85291234567')).toBe('**** 67');
    expect(maskPhone('+4915123456789')).toBe('**** 89');
    expect(maskPhone('12')).toBe('****');
    expect(maskPhone('')).toBe('****');
  });
});
