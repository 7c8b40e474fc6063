import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../../src/audit/index.js';
import { RFC8176_AMR } from '../../src/federation/upstream.js';
import { actionLabel, portalMessages } from '../../src/portal/i18n.js';

/**
 * The access history shows words, not codes. `AuditEventInput.action` takes only the registered
 * actions, so this enumerates every action the code can emit; amr values are every RFC 8176 value
 * (an upstream may pass any of them on) plus Yihao's own `fed`.
 */
describe('access history labels', () => {
  const locales = ['zh-CN', 'en'] as const;
  const amrs = [...RFC8176_AMR, 'fed'];

  it.each(locales)('labels every audit action in %s', (locale) => {
    const t = portalMessages(locale);
    const missing = AUDIT_ACTIONS.filter((a) => !t.actions[a]);
    expect(missing).toEqual([]);
  });

  it.each(locales)('labels every operator action (admin.*) in %s, never with the code itself', (locale) => {
    const t = portalMessages(locale);
    const label = actionLabel(t, 'admin.role.assigned');
    expect(label).not.toContain('admin.');
    expect(label.length).toBeGreaterThan(0);
  });

  it.each(locales)('labels every amr value in %s', (locale) => {
    const t = portalMessages(locale);
    expect(amrs.filter((m) => !t.methods[m])).toEqual([]);
  });

  it('says them differently in each language', () => {
    const [zh, en] = locales.map(portalMessages);
    for (const a of AUDIT_ACTIONS) expect(zh!.actions[a]).not.toBe(en!.actions[a]);
  });
});
