import { describe, expect, it } from 'vitest';
import { acrRank, requestedAcr } from '../../src/oidc/acr-policy.js';

const L1 = 'urn:yihao:loa:1';
const L2 = 'urn:yihao:loa:2';
const L3 = 'urn:yihao:loa:3';
const claims = (acr: unknown) => JSON.stringify({ id_token: { acr } });

describe('the level an authorization request asks for', () => {
  it('ranks our three levels and nothing else', () => {
    expect([L1, L2, L3, 'urn:other', undefined].map(acrRank)).toEqual([1, 2, 3, 0, 0]);
  });

  it('takes the lowest known level from acr_values, since any of them will do', () => {
    expect(requestedAcr({ acr_values: L2 })).toBe(L2);
    expect(requestedAcr({ acr_values: `${L3} ${L2}` })).toBe(L2);
    expect(requestedAcr({ acr_values: `urn:other ${L3}` })).toBe(L3);
    expect(requestedAcr({ acr_values: 'urn:other' })).toBeUndefined();
    expect(requestedAcr({})).toBeUndefined();
  });

  it('reads the claims parameter (value or values, essential or not)', () => {
    expect(requestedAcr({ claims: claims({ essential: true, value: L2 }) })).toBe(L2);
    expect(requestedAcr({ claims: claims({ values: [L3, L2] }) })).toBe(L2);
    expect(requestedAcr({ claims: JSON.stringify({ userinfo: { acr: { value: L2 } } }) })).toBeUndefined();
    expect(requestedAcr({ claims: '{not json' })).toBeUndefined();
    expect(requestedAcr({ claims: 'null' })).toBeUndefined();
  });

  it('lets acr_values win over the claims parameter, as oidc-provider does', () => {
    expect(requestedAcr({ acr_values: L1, claims: claims({ essential: true, value: L3 }) })).toBe(L1);
  });
});
