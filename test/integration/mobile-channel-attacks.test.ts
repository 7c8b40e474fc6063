/**
 * The mobile app channel against the attackers of its review: someone who holds only the citizen's
 * password (or SMS codes), someone who briefly holds the unlocked phone, and a revocation racing the
 * requests of the key it revokes. Over HTTP with the simulated app (test/support/mobile-app.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** A counter system (CIBA, private_key_jwt), registered as ciba-counter.test.ts does. */
async function registerCounter(h: Harness): Promise<oidc.Configuration> {
  const keys = await generateKeyPair('ES256', { extractable: true });
  const { client_id: clientId } = await h.yihao.clients.create({
    kind: 'ciba',
    name: '政务服务中心 5 号窗口',
    jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'counter-1', use: 'sig', alg: 'ES256' }] },
    scope: 'openid profile',
  });
  return oidc.discovery(new URL(h.issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: keys.privateKey, kid: 'counter-1' }), { execute: [oidc.allowInsecureRequests] });
}

describe.each(backends)('mobile app channel under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await registerMobileApp(h);
  });
  afterAll(async () => h?.close());

  const activeKeys = async (sub: string) => {
    const account = await h.yihao.accounts.findBySub(sub);
    return (await h.yihao.channels.deviceKeys.listForAccount(account!.id)).map((k) => k.id);
  };

  it.skipIf(!enabled)('revokes a device key only from a recent loa:2 sign-in: not with the password alone, nor with an old sign-in refreshed', async () => {
    const citizen = await h.citizen();
    // A loa:2 sign-in seven minutes old (a phone left unlocked on a desk); its token is refreshed below.
    const idle = await MobileApp.create(h, app);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    let totpSecret: string;
    try {
      vi.setSystemTime(Date.now() - 7 * 60_000);
      ({ totpSecret } = await idle.signInWithBrowser(citizen));
    } finally {
      vi.useRealTimers();
    }
    const phone = await MobileApp.create(h, app);
    await phone.signInWithBrowser(citizen, { secret: totpSecret });
    expect((await phone.enrolDeviceKey()).status).toBe(201);

    // Someone with the password signs the government app in (loa:1) and removes the citizen's phone:
    // with the app gone as second factor, a password and an SMS code would then reach loa:2.
    const attacker = await MobileApp.create(h, app);
    expect((await attacker.signInWithBrowser(citizen, { passwordOnly: true })).claims).toMatchObject({ acr: 'urn:yihao:loa:1' });
    const refused = await attacker.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`);
    expect(refused).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    expect(await activeKeys(citizen.sub)).toEqual([phone.deviceKeyId]);
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action)).not.toContain('credential.removed');

    idle.accessToken = (await oidc.refreshTokenGrant(idle.rp, idle.refreshToken!, undefined, { DPoP: idle.dpop })).access_token;
    expect(await idle.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    expect(await activeKeys(citizen.sub)).toEqual([phone.deviceKeyId]);

    // The key's own fresh login (the app unlocks the key with the citizen's biometrics) removes it.
    await phone.loginWithDeviceKey();
    expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);
    expect(await activeKeys(citizen.sub)).toEqual([]);
  });

  it.skipIf(!enabled)("a device-key login racing the key's revocation ends with it: no tokens outlive the removal", async () => {
    const { citizen, phone, totpSecret } = await phoneWithDeviceKey(h, app);
    const keys = h.yihao.channels.deviceKeys;
    const other = await MobileApp.create(h, app);
    await other.signInWithBrowser(citizen, { secret: totpSecret });
    // The citizen removes the phone from their other one while the thief's login is under way:
    // after the key was looked up and its assertion checked, before the login's tokens are issued.
    const touch = keys.touch.bind(keys);
    const spy = vi.spyOn(keys, 'touch').mockImplementationOnce(async (id: string) => {
      expect((await other.call('DELETE', `/mobile/device-keys/${id}`)).status).toBe(204);
      return touch(id);
    });
    try {
      await expect(phone.loginWithDeviceKey(undefined, 'openid offline_access')).rejects.toMatchObject({ error: 'invalid_grant' });
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    // Nothing of the login is left: no channel login (its grant) for the account.
    expect(await h.yihao.signOut.channelLogins(citizen.sub)).toEqual([]);
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.filter((e) => e.action === 'login.succeeded' && e.details?.method === 'device_key')).toEqual([]);
  });

  it.skipIf(!enabled)('holds the cap of ten device keys when enrolments race', async () => {
    const citizen = await h.citizen();
    const phone = await MobileApp.create(h, app);
    await phone.signInWithBrowser(citizen);
    const enrol = async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      return (await phone.call('POST', '/mobile/device-keys', { jwk: await exportJWK(pair.publicKey) }, { signWith: { privateKey: pair.privateKey, kid: '' } })).status;
    };
    for (let i = 0; i < 8; i++) expect(await enrol()).toBe(201);
    const statuses = await Promise.all(Array.from({ length: 6 }, enrol));
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 409)).toHaveLength(4);
    expect(await activeKeys(citizen.sub)).toHaveLength(10);
  });

  it.skipIf(!enabled)("a counter system that knows a citizen's ID number cannot flood their phone: three unapproved requests of one counter at a time, denied ones included, each request still answered alike", async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const counter = await registerCounter(h);
    const ask = () => oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: citizen.citizenId, binding_message: '窗口5-B2' });
    const started = [];
    for (let i = 0; i < 8; i++) started.push(await ask());
    // Every request gets its auth_req_id, as a number without the app does: nothing to tell apart.
    expect(started.every((s) => typeof s.auth_req_id === 'string')).toBe(true);
    const inbox = async () => ((await phone.approvals()).json.requests as { id: string; kind: string }[]).filter((r) => r.kind === 'ciba');
    const shown = await inbox();
    expect(shown).toHaveLength(3);
    // A denial makes no room: each one must not buy the next push (a review: ten requests, each
    // denied, all ten reached the phone).
    expect(await phone.decide(shown[0]!.id, 'deny')).toMatchObject({ status: 200 });
    await ask();
    expect(await inbox()).toHaveLength(2);
    // An approval does: a counter asking again after the citizen said yes.
    expect(await phone.decide(shown[1]!.id, 'approve')).toMatchObject({ status: 200 });
    await ask();
    expect(await inbox()).toHaveLength(2);
    // Another counter still reaches the citizen.
    const other = await registerCounter(h);
    await oidc.initiateBackchannelAuthentication(other, { scope: 'openid', login_hint: citizen.citizenId, binding_message: '窗口6-C3' });
    expect(await inbox()).toHaveLength(3);
  });
});
