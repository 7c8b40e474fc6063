/**
 * A citizen who lost the phone that was their only second factor cannot remove its key online
 * (removal needs a loa:2 sign-in, and only that phone gives one). At a counter, a staff member who
 * checked their ID card revokes the app's device keys over HTTP (`POST /counter/device-keys/revoke`,
 * docs/channels/counter-assisted.md): the keys and what they let in end, as with `yihao account
 * revoke-devices`, audited against the staff member. Only counter staff of that counter's department,
 * signed in at loa:2 to that counter system, with the in-person check attested; never on their own
 * account; a miss is on record and never names the number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { registerMobileApp, phoneWithDeviceKey } from '../support/mobile-app.js';
import { oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.each(backends)('revoking a lost phone’s device keys at a counter ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let counterRp: oidc.Configuration;
  let staff: Awaited<ReturnType<Harness['citizen']>>;
  let staffToken: string;
  let departmentId: string;

  const revoke = (token: string, body: unknown) =>
    fetch(`${h.issuer}/counter/device-keys/revoke`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    if (!enabled) return;
    // A small daily budget per staff member, so that the last test can spend it.
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, rateLimits: { ...c.rateLimits, counterDeviceRevocations: { points: 3, durationSeconds: 86_400 } } }) });
    ({ client_id: appId } = await registerMobileApp(h));
    const counter = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    departmentId = await counterClientOf(h, counter, '杭州市政务服务中心');
    counterRp = await relyingParty(h, counter);
    staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    staffToken = (await staffSignIn(h, counterRp, staff)).access_token;
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('revokes every device key of the citizen in front of the staff member, ends what they let in, and audits it against the staff member', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: appId });
    // The app's own sign-in on the lost phone (password and one-time code, offline): made by no key,
    // it would outlive the keys' revocation (a review found it refreshing at loa:2 afterwards).
    const appSignIn = phone.refreshToken!;
    const offline = await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
    const refresh = () => oidc.refreshTokenGrant(phone.rp, offline.refresh_token!, undefined, { DPoP: phone.dpop });

    const res = await revoke(staffToken, { citizen_id: citizen.citizenId, document_check: 'in_person' });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ revoked: 1, signed_out_everywhere: true });
    expect(await h.yihao.channels.deviceKeys.find(phone.deviceKeyId!)).toBeUndefined();
    expect(await oauthError(refresh())).toMatchObject({ error: 'invalid_grant' });
    expect(await oauthError(oidc.refreshTokenGrant(phone.rp, appSignIn, undefined, { DPoP: phone.dpop }))).toMatchObject({ error: 'invalid_grant' });
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'credential.removed')).toMatchObject({ actorType: 'operator', actorId: staff.sub, channel: 'counter', details: { type: 'device', via: 'counter', deviceKeyId: phone.deviceKeyId } });
    expect(events.find((e) => e.action === 'session.ended' && e.details?.reason === 'device_key_revoked')).toMatchObject({ actorType: 'operator', actorId: staff.sub, details: { via: 'counter', deviceKeyId: phone.deviceKeyId } });
    expect(events.find((e) => e.action === 'session.ended' && e.details?.everywhere === true)).toMatchObject({ actorType: 'operator', actorId: staff.sub, details: { reason: 'lost_phone', via: 'counter' } });
    expect(JSON.stringify(events)).not.toContain(citizen.citizenId);
    // Nothing left: done again, it revokes none.
    expect(await (await revoke(staffToken, { citizen_id: citizen.citizenId, document_check: 'in_person' })).json()).toEqual({ revoked: 0, signed_out_everywhere: true });
  });

  it.runIf(enabled)('refuses anyone but counter staff of that counter, signed in to it, with the in-person check attested; a miss is audited without the number', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: appId });
    const body = { citizen_id: citizen.citizenId, document_check: 'in_person' };
    // No token; the citizen's own app token (not a counter system's); a staff member's token of an
    // account that is no counter staff: refused, and the key stays.
    expect((await fetch(`${h.issuer}/counter/device-keys/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).status).toBe(401);
    const appToken = (await phone.loginWithDeviceKey(undefined, 'openid')).access_token;
    expect((await revoke(appToken, body)).status).toBe(401);
    const stranger = await h.citizen({ name: '王路人' });
    const strangerToken = (await staffSignIn(h, counterRp, stranger)).access_token;
    const notStaff = await revoke(strangerToken, body);
    expect(notStaff.status).toBe(403);
    expect((await h.yihao.services.audit.query({ actor: stranger.sub, action: 'counter.assist_refused', limit: 5 })).events.map((e) => e.details)).toContainEqual({ reason: 'not_counter_staff', operation: 'device_keys.revoke' });
    // Without the attested check, or with anything else in the body: 400.
    expect((await revoke(staffToken, { citizen_id: citizen.citizenId })).status).toBe(400);
    expect((await revoke(staffToken, { ...body, reason: 'x' })).status).toBe(400);
    expect((await revoke(staffToken, { ...body, citizen_id: 'not-a-number' })).status).toBe(400);
    // Staff cannot act on their own account: a colleague does.
    const own = await revoke(staffToken, { citizen_id: staff.citizenId, document_check: 'in_person' });
    expect(own.status).toBe(403);
    expect(await h.yihao.channels.deviceKeys.find(phone.deviceKeyId!)).toBeDefined();

    const unknown = syntheticCitizenId({ seq: 424 });
    const miss = await revoke(staffToken, { citizen_id: unknown, document_check: 'in_person' });
    expect(miss.status).toBe(404);
    expect(await miss.text()).not.toContain(unknown.slice(0, 14));
    const refused = await h.yihao.services.audit.query({ actor: staff.sub, action: 'counter.assist_refused', limit: 10 });
    expect(refused.events.map((e) => e.details)).toEqual(expect.arrayContaining([{ reason: 'no_active_account', operation: 'device_keys.revoke' }, { reason: 'own_identity', operation: 'device_keys.revoke' }]));
    expect(JSON.stringify(refused.events)).not.toContain(unknown.slice(0, 14));
  });

  it.runIf(enabled)('limits each staff member’s revocations a day: a stolen staff token cannot sign citizen after citizen out', async () => {
    // Three a day here (the tests above may have spent some): the fourth is refused, and nothing
    // happens to that citizen. A colleague's budget is their own.
    let refused: Response | undefined;
    let spared: Awaited<ReturnType<Harness['citizen']>> | undefined;
    for (let i = 0; i < 4 && !refused; i++) {
      const citizen = await h.citizen({ name: `市民${i}` });
      const res = await revoke(staffToken, { citizen_id: citizen.citizenId, document_check: 'in_person' });
      if (res.status === 429) [refused, spared] = [res, citizen];
      else expect(res.status).toBe(200);
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    const signedOut = (await h.yihao.services.audit.query({ actor: staff.sub, action: 'session.ended', limit: 50 })).events.filter((e) => e.details?.everywhere === true);
    expect(signedOut).toHaveLength(3);
    expect((await h.yihao.services.audit.query({ actor: staff.sub, action: 'counter.assist_refused', limit: 10 })).events.map((e) => e.details)).toContainEqual({ reason: 'too_many_revocations', operation: 'device_keys.revoke' });
    expect((await h.yihao.services.audit.forAccount(spared!.sub)).filter((e) => e.action === 'session.ended')).toEqual([]);
    const colleague = await h.citizen({ name: '张柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: colleague.sub, role: 'counter-staff', departmentId });
    const colleagueToken = (await staffSignIn(h, counterRp, colleague)).access_token;
    expect((await revoke(colleagueToken, { citizen_id: spared!.citizenId, document_check: 'in_person' })).status).toBe(200);
  });
});
