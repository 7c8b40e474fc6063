/** The certificate-type definition and the claim validator built from it (docs/credentials.md). */
import { describe, expect, it } from 'vitest';
import { certificateTypeInput, claimsValidator } from '../../src/credentials/index.js';
import { storedClaimSchema } from '../../src/credentials/certificate-types.js';

const base = { id: 'business_licence', department_id: 'd1', names: { 'zh-CN': '营业执照', en: 'Business licence' } };

describe('certificate types', () => {
  it('accepts a schema and fills in the defaults', () => {
    const parsed = certificateTypeInput.parse({ ...base, claims: { company: { type: 'string', required: true }, capital: { type: 'number' } } });
    expect(parsed.claims.capital).toEqual({ type: 'number', required: false });
    expect(parsed.validity_days).toBe(1826);
  });

  it.each([
    ['a reserved claim', { vct: { type: 'string' } }, 'vct'],
    ['the citizen ID, which only the identity credential carries', { citizen_id: { type: 'string' } }, 'citizen_id'],
    ['an upper-case claim name', { Company: { type: 'string' } }, 'Company'],
    ['max_length on a number', { capital: { type: 'number', max_length: 3 } }, 'capital.max_length'],
    ['an unknown type', { founded: { type: 'datetime' } }, 'founded.type'],
    ['no claims at all', {}, ''],
  ])('refuses %s', (_what, claims, where) => {
    const parsed = certificateTypeInput.safeParse({ ...base, claims });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.slice(1).join('.'))).toContain(where);
  });

  it('validates claims by type, required-ness, length and calendar, and refuses unknown ones', () => {
    const check = claimsValidator({ company: { type: 'string', required: true, max_length: 5 }, founded: { type: 'date', required: false }, listed: { type: 'boolean', required: false } });
    expect(check.safeParse({ company: '一号公司' }).success).toBe(true);
    expect(check.safeParse({ company: '一号科技有限公司' }).success).toBe(false);
    expect(check.safeParse({ company: '   ' }).success).toBe(false);
    expect(check.safeParse({}).success).toBe(false);
    expect(check.safeParse({ company: 'A', founded: '2024-02-29' }).success).toBe(true);
    expect(check.safeParse({ company: 'A', founded: '2023-02-29' }).success).toBe(false);
    expect(check.safeParse({ company: 'A', listed: 'yes' }).success).toBe(false);
    expect(check.safeParse({ company: 'A', owner: 'B' }).success).toBe(false);
  });

  it('refuses a label a reader cannot see as written, yet reads one stored before that rule (an offline bundle)', () => {
    const hidden = { licence_class: { type: 'string', names: { 'zh-CN': '准驾\u200B车型', en: 'Class' } } };
    expect(certificateTypeInput.safeParse({ ...base, claims: hidden }).success).toBe(false);
    expect(storedClaimSchema.parse(hidden)).toMatchObject({ licence_class: { type: 'string', required: false } });
    expect(storedClaimSchema.safeParse({ licence_class: { type: 'datetime' } }).success).toBe(false);
  });
});
