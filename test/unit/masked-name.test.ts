import { describe, expect, it } from 'vitest';
import { maskName } from '../../src/accounts/index.js';

describe('a name shown masked', () => {
  it.each([
    ['张三', '张*'],
    ['张小三', '张*三'],
    ['欧阳小明', '欧**明'],
    ['买买提·艾力', '买**·*力'],
    ['Zhang San', 'Z**** **n'],
    [' 李四 ', '李*'],
  ])('shows %s as %s', (name, masked) => {
    expect(maskName(name)).toBe(masked);
  });

  it('never shows a one-character name, nor an empty one', () => {
    expect(maskName('王')).toBe('*');
    expect(maskName('')).toBe('*');
  });

  it('counts characters outside the basic plane as one', () => {
    expect(maskName('𠮷野家')).toBe('𠮷*家');
    expect(maskName('李𠮷')).toBe('李*');
  });
});
