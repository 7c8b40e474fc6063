import { describe, expect, it } from 'vitest';
import { withKioskIdle } from '../../src/channels/kiosk/idle.js';

const ID_CARD = 'urn:yihao:grant-type:id-card';
const kiosk = { grantTypeAllowed: (t: string) => t === ID_CARD || t === 'urn:ietf:params:oauth:grant-type:device_code' };
// A kiosk with the phone sign-in alone (kind kiosk, the device grant only): found uncapped by a review.
const phoneOnlyKiosk = { grantTypeAllowed: (t: string) => t === 'urn:ietf:params:oauth:grant-type:device_code' };
// A kiosk with the phone and the wallet but no card reader (a review found its sessions uncapped).
const walletKiosk = { grantTypeAllowed: (t: string) => t === 'urn:yihao:grant-type:presentation' || t === 'urn:ietf:params:oauth:grant-type:device_code' };

describe('kiosk sessions end on idle', () => {
  const ttl = withKioskIdle({ AccessToken: 600, RefreshToken: 2_592_000, Session: 1_209_600 }, 120) as unknown as Record<string, (ctx: unknown, token: { gty?: string }, client: unknown) => number>;

  it('caps the access and refresh tokens of card sessions, refreshed or not, at the idle time', () => {
    expect(ttl.AccessToken!(undefined, { gty: ID_CARD }, kiosk)).toBe(120);
    expect(ttl.RefreshToken!(undefined, { gty: `${ID_CARD} refresh_token` }, kiosk)).toBe(120);
  });

  it('caps sign-ins by presentation at a kiosk the same way', () => {
    expect(ttl.AccessToken!(undefined, { gty: 'urn:yihao:grant-type:presentation' }, kiosk)).toBe(120);
    expect(ttl.RefreshToken!(undefined, { gty: 'urn:yihao:grant-type:presentation refresh_token' }, kiosk)).toBe(120);
  });

  it("caps every device-flow session: the device flow is a kiosk's phone sign-in, with a card reader or without", () => {
    expect(ttl.AccessToken!(undefined, { gty: 'device_code' }, kiosk)).toBe(120);
    expect(ttl.RefreshToken!(undefined, { gty: 'device_code refresh_token' }, walletKiosk)).toBe(120);
    expect(ttl.AccessToken!(undefined, { gty: 'device_code' }, phoneOnlyKiosk)).toBe(120);
  });

  it('leaves web sign-ins and everything else alone', () => {
    expect(ttl.AccessToken!(undefined, { gty: 'authorization_code' }, kiosk)).toBe(600);
    expect((ttl as unknown as Record<string, number>).Session).toBe(1_209_600);
  });
});
