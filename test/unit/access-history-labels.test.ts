import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, auditActionLabel, NAMED_OPERATOR_ACTIONS } from '../../src/audit/index.js';
import { RFC8176_AMR } from '../../src/federation/upstream.js';
import { portalMessages } from '../../src/portal/i18n.js';

/**
 * The access history and the operators' audit log show words, not codes. `AuditEventInput.action`
 * takes only the registered actions, so this enumerates every action the code can emit; operators'
 * actions (`admin.*`) are read from the source; amr values are every RFC 8176 value (an upstream
 * may pass any of them on) plus Yihao's own `fed`.
 */
describe('audit action labels', () => {
  const locales = ['zh-CN', 'en'] as const;
  const amrs = [...RFC8176_AMR, 'fed'];

  it.each(locales)('labels every audit action in %s', (locale) => {
    const missing = AUDIT_ACTIONS.filter((a) => auditActionLabel(locale, a) === a);
    expect(missing).toEqual([]);
  });

  it.each(locales)('names an operator action (admin.*) to the citizen by its family, never with the code itself', (locale) => {
    const label = auditActionLabel(locale, 'admin.role.assigned');
    expect(label).not.toContain('admin.');
    expect(label).toBe(auditActionLabel(locale, 'admin.client.created'));
  });

  it.each(locales)('names each operator action that the admin services record, for the audit log in %s', (locale) => {
    const files = readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const recorded = new Set(files.flatMap((f) => [...readFileSync(join('src', f), 'utf8').matchAll(/'(admin\.[a-z_]+\.[a-z_]+)'/g)].map((m) => m[1]!)));
    expect(recorded.size).toBeGreaterThan(5);
    expect([...recorded].filter((a) => !NAMED_OPERATOR_ACTIONS.includes(a))).toEqual([]);
    for (const a of recorded) expect(auditActionLabel(locale, a, 'operator')).not.toContain('admin.');
  });

  it('keeps the code of an operator action that has no words yet, in the audit log', () => {
    expect(auditActionLabel('en', 'admin.future.thing', 'operator')).toBe('admin.future.thing');
  });

  it.each(locales)('labels every amr value in %s', (locale) => {
    const t = portalMessages(locale);
    expect(amrs.filter((m) => !t.methods[m])).toEqual([]);
  });

  it('says them differently in each language', () => {
    for (const a of [...AUDIT_ACTIONS, ...NAMED_OPERATOR_ACTIONS]) expect(auditActionLabel('zh-CN', a, 'operator')).not.toBe(auditActionLabel('en', a, 'operator'));
  });
});
