/**
 * What a new version of a certificate type may change (docs/credentials.md, "Changing a type"):
 * nothing that breaks a certificate already issued under an earlier one.
 */
import { describe, expect, it } from 'vitest';
import { alwaysPresent, claimSchema, disclosedClaimsValidator, incompatibleChanges, type ClaimSchema } from '../../src/credentials/certificate-types.js';

const v1 = claimSchema.parse({ number: { type: 'string', required: true, max_length: 8 }, points: { type: 'number' } }) as ClaimSchema;

describe('certificate type versions', () => {
  it('refuses dropping a claim or changing its type, naming the claim', () => {
    expect(incompatibleChanges(v1, claimSchema.parse({ number: v1.number }) as ClaimSchema)).toEqual({ 'claims.points': expect.stringMatching(/cannot be removed/) });
    expect(incompatibleChanges(v1, claimSchema.parse({ ...v1, points: { type: 'string' } }) as ClaimSchema)).toEqual({ 'claims.points': expect.stringMatching(/from number to string/) });
  });

  it('allows new claims (required ones too), and changing required, max_length and names', () => {
    const v2 = claimSchema.parse({ number: { type: 'string', max_length: 4, names: { 'zh-CN': '编号', en: 'Number' } }, points: { type: 'number', required: true }, class: { type: 'string', required: true } }) as ClaimSchema;
    expect(incompatibleChanges(v1, v2)).toEqual({});
    // Mandatory only where every version required it.
    expect(alwaysPresent('number', [{ claims: v1 }, { claims: v2 }])).toBe(false);
    expect(alwaysPresent('class', [{ claims: v1 }, { claims: v2 }])).toBe(false);
    expect(alwaysPresent('number', [{ claims: v1 }])).toBe(true);
  });

  it('checks disclosures by type only: a value an older version allowed still passes a later, shorter limit', () => {
    const v2 = claimSchema.parse({ ...v1, number: { type: 'string', required: true, max_length: 2 } }) as ClaimSchema;
    const check = disclosedClaimsValidator(v2);
    expect(check.safeParse({ number: 'ABCDEFGH', issuing_department: '公安厅' }).success).toBe(true);
    expect(check.safeParse({ points: 'twelve' }).success).toBe(false);
    expect(check.safeParse({ blood_type: 'A' }).success).toBe(false);
  });
});
