import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleMessages } from '../../src/admin/console/i18n.js';
import { quoteName } from '../../src/http/quote-name.js';
import { messages } from '../../src/interactions/i18n.js';
import { portalMessages } from '../../src/portal/i18n.js';

describe('names in running text', () => {
  it('puts a name between 「」 in Chinese and leaves it as it is in English', () => {
    expect(quoteName['zh-CN']('城市公积金')).toBe('「城市公积金」');
    expect(quoteName.en('City Housing Fund')).toBe('City Housing Fund');
  });

  it('quotes app names the same way on the sign-in pages, the portal and the console', () => {
    expect(messages('zh-CN').signInTo('社保查询')).toContain('「社保查询」');
    expect(messages('zh-CN').consentLead('社保查询')).toContain('「社保查询」');
    expect(portalMessages('zh-CN').revokeLabel('社保查询')).toBe('撤销授权：「社保查询」');
    expect(consoleMessages('zh-CN').clientTitle('社保查询')).toContain('「社保查询」');
    expect(messages('en').signInTo('Social Security')).toBe('Sign in to continue to Social Security');
  });

  it('has every catalogue quote through the helper, none by hand', () => {
    const files = readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('quote-name.ts'));
    const byHand = files.filter((f) => /「|」/.test(readFileSync(join('src', f), 'utf8')));
    expect(byHand).toEqual([]);
  });
});
