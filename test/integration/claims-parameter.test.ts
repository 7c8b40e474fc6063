/**
 * The `claims` request parameter (OpenID Connect Core 5.5) names single claims instead of scopes.
 * It must not become a side door: an app receives only claims under the scopes it was registered
 * for, and the consent page lists whatever the citizen is asked to allow, named by scope or by
 * claim. Otherwise an app registered for `openid` alone could ask for the phone number and the ID
 * number by name behind a consent page that lists nothing.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { signInAllowing } from '../support/consent-walk.js';
import { relyingParty } from '../support/relying-party.js';

const claims = (names: string[]) => JSON.stringify({ userinfo: Object.fromEntries(names.map((n) => [n, null])) });

describe('claims asked for by name', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  async function userinfoAfter(client: { client_id: string; client_secret?: string }, citizen: Awaited<ReturnType<Harness['citizen']>>, extra: Record<string, string>) {
    const walk = await signInAllowing(h, client, citizen, extra);
    const sub = walk.tokens.claims()!.sub;
    return { ...walk, userinfo: await oidc.fetchUserInfo(await relyingParty(h, client), walk.tokens.access_token, sub) };
  }

  it('gives an app nothing outside the scopes it was registered for, however it asks', async () => {
    const citizen = await h.citizen({ phone: '13800001235' });
    const app = await h.client({ scope: 'openid', citizenIdRelease: 'full' });
    const { userinfo, consentPages } = await userinfoAfter(app, citizen, { scope: 'openid', claims: claims(['phone_number', 'citizen_id', 'birthdate', 'name']) });
    expect(userinfo.phone_number).toBeUndefined();
    expect(userinfo.citizen_id).toBeUndefined();
    expect(userinfo.birthdate).toBeUndefined();
    expect(userinfo.name).toBeUndefined();
    // Nothing was asked of the citizen that the app could receive.
    for (const page of consentPages) {
      expect(page).not.toContain('手机号码');
      expect(page).not.toContain('您完整的身份证号');
    }
    expect(JSON.stringify(userinfo)).not.toContain(citizen.citizenId);
  });

  it('does not ask again from a new browser because of a claim it refused the app', async () => {
    const citizen = await h.citizen({ phone: '13800001236' });
    const app = await h.client({ scope: 'openid profile' });
    const extra = { scope: 'openid profile', claims: claims(['phone_number']) };
    const first = await userinfoAfter(app, citizen, extra);
    expect(first.consentPages).toHaveLength(1);
    expect(first.userinfo.phone_number).toBeUndefined();
    const again = await userinfoAfter(app, citizen, extra);
    expect(again.consentPages).toEqual([]);
    expect(again.userinfo.phone_number).toBeUndefined();
    expect(again.userinfo.name).toBe(first.userinfo.name);
  });

  it('lists on the consent page what it asks for by name, and releases only that', async () => {
    const phone = '13800001234';
    const citizen = await h.citizen({ phone });
    const app = await h.client({ scope: 'openid phone citizen_id', citizenIdRelease: 'masked' });
    const { userinfo, consentPages } = await userinfoAfter(app, citizen, { scope: 'openid', claims: claims(['phone_number', 'citizen_id']) });
    expect(consentPages).toHaveLength(1);
    expect(consentPages[0]).toContain('手机号码');
    expect(consentPages[0]).toContain('部分隐藏的身份证号');
    expect(userinfo.phone_number).toBe(`+86${phone}`);
    expect(userinfo.citizen_id).toBe(`${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`);
  });
});
