import { describe, expect, it } from 'vitest';
import { requiredAcr } from '../../src/oidc/acr-policy.js';

const L1 = 'urn:yihao:loa:1';
const L2 = 'urn:yihao:loa:2';
const L3 = 'urn:yihao:loa:3';

describe('the level a sign-in must reach', () => {
  it('is the higher of the request and the client minimum', () => {
    expect(requiredAcr({ acr_values: L1 }, L2)).toBe(L2);
    expect(requiredAcr({ acr_values: L3 }, L2)).toBe(L3);
    expect(requiredAcr({}, L2)).toBe(L2);
    expect(requiredAcr({ acr_values: L2 }, undefined)).toBe(L2);
    expect(requiredAcr({}, undefined)).toBeUndefined();
    expect(requiredAcr({ claims: JSON.stringify({ id_token: { acr: { essential: true, value: L1 } } }) }, L3)).toBe(L3);
  });
});
