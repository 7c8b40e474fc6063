import { describe, expect, it } from 'vitest';
import { normaliseName, sameName } from '../../src/registry/index.js';

describe('registry name normalisation', () => {
  it('trims and collapses inner whitespace, full-width spaces included', () => {
    expect(normaliseName('  王小明 ')).toBe('王小明');
    expect(normaliseName('Maria \t  Chen\n')).toBe('Maria Chen');
    expect(normaliseName('\u3000张三\u3000')).toBe('张三');
  });

  it('applies NFKC, so full-width letters equal ASCII ones', () => {
    expect(normaliseName('ＭＡＲＩＡ')).toBe('MARIA');
    expect(sameName('ＭＡＲＩＡ　ＣＨＥＮ', 'MARIA CHEN')).toBe(true);
  });

  it('drops zero-width characters carried in by copy and paste', () => {
    expect(sameName('张\u200B三\uFEFF', '张三')).toBe(true);
  });

  it.each([
    ['U+00B7 middle dot', '阿依古丽·买买提'],
    ['U+2022 bullet', '阿依古丽•买买提'],
    ['U+002E full stop', '阿依古丽.买买提'],
    ['U+FF0E full-width full stop', '阿依古丽．买买提'],
    ['U+30FB katakana middle dot', '阿依古丽・买买提'],
    ['U+FF65 half-width katakana middle dot', '阿依古丽･买买提'],
    ['U+2027 hyphenation point', '阿依古丽‧买买提'],
    ['U+22C5 dot operator', '阿依古丽⋅买买提'],
    ['spaces around the dot', '阿依古丽 · 买买提'],
  ])('treats a minority name written with the %s as the same name', (_label, variant) => {
    expect(normaliseName(variant)).toBe('阿依古丽·买买提');
    expect(sameName(variant, '阿依古丽·买买提')).toBe(true);
  });

  it('still tells different names apart', () => {
    expect(sameName('张三', '张叁')).toBe(false);
    expect(sameName('阿依古丽买买提', '阿依古丽·买买提')).toBe(false);
    expect(sameName('张 三', '张三')).toBe(false);
    expect(sameName('maria chen', 'Maria Chen')).toBe(false);
  });

  it('never matches an empty or blank name', () => {
    expect(sameName('', '')).toBe(false);
    expect(sameName('  \u3000 ', ' ')).toBe(false);
    expect(sameName('\u200B', '')).toBe(false);
  });
});
