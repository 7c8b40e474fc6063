import { describe, expect, it } from 'vitest';
import { citizenIdReleaseFrom, dateCitizenIdConsent } from '../../src/oidc/citizen-id-consent.js';

/** A client as oidc-provider hands it over: its metadata, here the policy and when it last revealed more. */
const client = (since?: number) => ({ metadata: () => ({ citizen_id_release: 'full', ...(since === undefined ? {} : { citizen_id_consent_since: since }) }) });

describe('what a grant releases of the ID number after the policy changed', () => {
  it('releases under the policy from a grant dated at or after the change, and from one made in this request (no iat yet)', () => {
    expect(citizenIdReleaseFrom(client(1000), { iat: 1000 })).toBe('full');
    expect(citizenIdReleaseFrom(client(1000), { iat: 2000 })).toBe('full');
    expect(citizenIdReleaseFrom(client(1000), {})).toBe('full');
    expect(citizenIdReleaseFrom(client(), { iat: 1 })).toBe('full');
  });

  it('releases nothing from a grant dated before the change, or without a grant', () => {
    expect(citizenIdReleaseFrom(client(1000), { iat: 999 })).toBe('none');
    expect(citizenIdReleaseFrom(client(1000), undefined)).toBe('none');
  });

  it('dates a consent given now at or after the change, and leaves a later date alone', () => {
    const old = { iat: 10 };
    dateCitizenIdConsent(4_000_000_000, old);
    expect(old.iat).toBe(4_000_000_000);
    const fresh: { iat?: number } = {};
    dateCitizenIdConsent(1000, fresh);
    expect(fresh.iat).toBeGreaterThanOrEqual(1000);
    const later = { iat: 5000 };
    dateCitizenIdConsent(1000, later);
    expect(later.iat).toBe(5000);
  });
});
