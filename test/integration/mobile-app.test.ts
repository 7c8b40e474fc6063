/**
 * The mobile app channel end to end over HTTP, with openid-client and a jose-simulated phone: the
 * app signs in as a native client (PKCE, loopback redirect on any port, DPoP), enrols a device key,
 * logs in with it (RFC 7523 JWT bearer grant, loa:2, amr swk, channel mobile) and uses the
 * approvals API. And what must NOT work: a Bearer or proof-less token, a wrong or foreign key, a
 * replayed challenge or call, and guessing past the lockout.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair } from 'jose';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { MobileApp, phoneWithDeviceKey, registerMobileApp, startQrSignIn, totpCode } from '../support/mobile-app.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { deviceKeyChallenges } from '../../src/channels/mobile/challenges.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const MAX_FAILURES = 3;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('mobile app channel ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  let web: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c): Config => ({ ...c, lockout: { maxFailures: MAX_FAILURES, windowSeconds: 900, lockSeconds: 900 } }) });
    app = await registerMobileApp(h);
    web = await relyingParty(h, await h.client({ name: '不动产登记', firstParty: true }));
  });
  afterAll(async () => h?.close());

  /** A pending QR hand-off on the web, scanned by `phone`: an approvals-inbox request. */
  async function pendingRequest(phone: MobileApp) {
    const qr = await startQrSignIn(h, web);
    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    return { qr, id: scanned.json.id as string };
  }

  const countRows = async (table: string, where: Record<string, unknown>) => Number(((await h.yihao.stores.db(table).where(where).count({ n: '*' }).first()) as { n: number | string }).n);

  it.skipIf(!enabled)('signs the app in as a native client (loopback redirect on any port, PKCE, DPoP-bound tokens) and enrols a device key as swk', async () => {
    const citizen = await h.citizen();
    const phone = await MobileApp.create(h, app);
    const { claims } = await phone.signInWithBrowser(citizen);
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });

    const enrolled = await phone.enrolDeviceKey({ storage: 'secure-enclave', name: 'Pixel' });
    expect(enrolled.status).toBe(201);
    // Platform attestation is not verified, so a claim of hardware storage is not believed.
    expect(enrolled.json).toMatchObject({ name: 'Pixel', amr: 'swk' });
    const listed = await phone.call('GET', '/mobile/device-keys');
    expect(listed.json.keys).toEqual([expect.objectContaining({ id: phone.deviceKeyId, amr: 'swk' })]);
    // The same key cannot be enrolled twice.
    expect((await phone.enrolDeviceKey()).status).toBe(409);
    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(events).toContain('credential.added');
  });

  it.skipIf(!enabled)('logs in with the device key: loa:2, amr swk, channel mobile, the same sub, DPoP-bound tokens that refresh on the mobile channel', async () => {
    const { citizen, phone, firstClaims } = await phoneWithDeviceKey(h, app);
    const tokens = await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'mobile' });
    expect(tokens.claims()!.sub).toBe(firstClaims.sub);
    expect(tokens.refresh_token).toBeTruthy();

    // The new token works on the API (DPoP-bound, device-signed).
    expect((await phone.approvals()).status).toBe(200);
    // Refreshing keeps the login's channel.
    const refreshed = await oidc.refreshTokenGrant(phone.rp, tokens.refresh_token!, undefined, { DPoP: phone.dpop });
    expect(refreshed.claims()).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'mobile' });
    // Introspection states what each token was issued with, and its DPoP binding.
    const jkt = await phone.dpopThumbprint();
    const facts = { active: true, sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'mobile', auth_time: tokens.claims()!.auth_time, device_key: 'login', cnf: { jkt } };
    expect(await oidc.tokenIntrospection(phone.rp, tokens.access_token)).toMatchObject(facts);
    expect(await oidc.tokenIntrospection(phone.rp, refreshed.access_token)).toMatchObject(facts);
    // Which key it was stays in Yihao's store (it links the grant to the key), out of every answer.
    expect(await oidc.tokenIntrospection(phone.rp, refreshed.access_token)).not.toHaveProperty('device_key_id');
    expect(JSON.stringify([tokens, refreshed, refreshed.claims()])).not.toContain(phone.deviceKeyId!);
  });

  it.skipIf(!enabled)('issues device-key tokens as every extension grant does: an ID token naming its sid, a refresh token bound to the DPoP key', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const tokens = await phone.loginWithDeviceKey(undefined, 'openid offline_access');
    // The sid that a back-channel logout of this login will name.
    expect(tokens.claims()!.sid).toEqual(expect.any(String));
    const thief = await MobileApp.create(h, app);
    await expect(oidc.refreshTokenGrant(thief.rp, tokens.refresh_token!, undefined, { DPoP: thief.dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.refreshTokenGrant(phone.rp, tokens.refresh_token!, undefined, { DPoP: phone.dpop })).access_token).toBeTruthy();
  });

  it.skipIf(!enabled)('binds the device-key login to the DPoP key: a stolen assertion replayed with another DPoP key is refused, and one naming no DPoP key too', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const stolen = await phone.assertion(await phone.challenge());
    const attacker = await MobileApp.create(h, app);
    await expect(attacker.loginWithDeviceKey(stolen)).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the assertion is bound to another DPoP key (cnf.jkt)' });
    await expect(phone.loginWithDeviceKey(await phone.assertion(await phone.challenge(), { jkt: null }))).rejects.toMatchObject({
      error: 'invalid_grant',
      error_description: 'the assertion must name the DPoP key of this request (cnf.jkt)',
    });
    // The refusal spent nothing: the app itself still logs in with the assertion it made.
    const tokens = await phone.loginWithDeviceKey(stolen);
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
    expect(await oidc.tokenIntrospection(phone.rp, tokens.access_token)).toMatchObject({ active: true, cnf: { jkt: await phone.dpopThumbprint() } });
  });

  it.skipIf(!enabled)('signing out everywhere ends the device-key login\'s tokens (its grant is the account\'s), but keeps the device key', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const tokens = await phone.loginWithDeviceKey(undefined, 'openid offline_access');
    expect((await phone.approvals()).status).toBe(200);
    await h.yihao.signOut.everywhere(citizen.sub);
    expect(await phone.approvals()).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    await expect(oidc.refreshTokenGrant(phone.rp, tokens.refresh_token!, undefined, { DPoP: phone.dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
    // The phone signs in again with its key.
    expect((await phone.loginWithDeviceKey()).claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
  });

  it.skipIf(!enabled)('revoking a device key through the app ends the logins it made: their refresh and access tokens die, and cannot enrol another key', async () => {
    const { citizen, phone: lost, totpSecret } = await phoneWithDeviceKey(h, app);
    const lostKey = lost.deviceKeyId!;
    const tokens = await lost.loginWithDeviceKey(undefined, 'openid profile offline_access');
    expect(tokens.refresh_token).toBeTruthy();
    // The citizen's new phone signs in (password and TOTP), enrols its own key and removes the lost one's.
    const fresh = await MobileApp.create(h, app);
    await fresh.signInWithBrowser(citizen, { secret: totpSecret });
    expect(await fresh.enrolDeviceKey()).toMatchObject({ status: 201 });
    expect((await fresh.call('DELETE', `/mobile/device-keys/${lostKey}`)).status).toBe(204);

    await expect(oidc.refreshTokenGrant(lost.rp, tokens.refresh_token!, undefined, { DPoP: lost.dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await lost.call('GET', '/mobile/device-keys')).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    await lost.newDeviceKey();
    expect(await lost.enrolDeviceKey()).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    // The new phone's own sign-in did not come from the removed key: it goes on.
    expect((await fresh.call('GET', '/mobile/device-keys')).json.keys).toEqual([expect.objectContaining({ id: fresh.deviceKeyId })]);
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'credential.removed')).toMatchObject({ details: { type: 'device_key', deviceKeyId: lostKey } });
    expect(events.find((e) => e.action === 'session.ended')).toMatchObject({ details: { reason: 'device_key_revoked', deviceKeyId: lostKey, grants: 1 } });
  });

  it.skipIf(!enabled)('answers the removal of a device key whose id holds a NUL or a control character as of one it does not have: 404, not 500', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    for (const id of ['%00', `${phone.deviceKeyId}%00`, 'a%0Ab']) {
      expect((await phone.call('DELETE', `/mobile/device-keys/${id}`)).status, id).toBe(404);
    }
    expect((await phone.call('GET', '/mobile/device-keys')).json.keys).toEqual([expect.objectContaining({ id: phone.deviceKeyId })]);
  });

  it.skipIf(!enabled)('records a device key\'s revocation with the revocation itself: ending what it let in may fail afterwards (a store down), the record stays', async () => {
    const { citizen, phone: lost, totpSecret } = await phoneWithDeviceKey(h, app);
    const lostKey = lost.deviceKeyId!;
    const fresh = await MobileApp.create(h, app);
    await fresh.signInWithBrowser(citizen, { secret: totpSecret });
    const failing = vi.spyOn(h.yihao.signOut, 'endDeviceKeyLogins').mockRejectedValueOnce(new Error('the session store is down'));
    try {
      expect((await fresh.call('DELETE', `/mobile/device-keys/${lostKey}`)).status).toBe(500);
    } finally {
      failing.mockRestore();
    }
    expect(await countRows('device_keys', { id: lostKey, revoked_at: null })).toBe(0);
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'credential.removed')).toMatchObject({ details: { type: 'device_key', deviceKeyId: lostKey } });
  });

  /**
   * The citizen removes one of their phones in the portal: signed in there with their password, and
   * again with the authenticator app when the portal asks for loa:2 first. The removal's answer.
   */
  async function removeInPortal(citizen: { citizenId: string; password: string }, totpSecret: string, deviceKeyId: string): Promise<Response> {
    const browser = new ScriptedBrowser();
    const signIn = async (at: { res: Response; url: URL }) => {
      let html = await at.res.text();
      let { res, url } = await browser.follow(new URL(formAction(html, '/login')!, at.url), { form: { csrf: formField(html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
      html = await res.text();
      const second = formAction(html, '/second-factor');
      if (second) {
        ({ res, url } = await browser.follow(new URL(second, url), { form: { csrf: formField(html, 'csrf')!, code: await totpCode(totpSecret, 1) } }));
        html = await res.text();
      }
      expect(url.pathname).toBe('/account/credentials');
      return html;
    };
    let html = await signIn(await browser.follow(`${h.issuer}/account/credentials`));
    expect(html).toContain(`data-device="${deviceKeyId}"`);
    const remove = (page: string) => browser.request(`${h.issuer}/account/devices/remove`, { form: { csrf: formField(page, 'csrf')!, device: deviceKeyId } });
    const answer = await remove(html);
    const location = new URL(answer.headers.get('location') ?? '/', h.issuer);
    if (location.pathname !== '/auth') return answer;
    html = await signIn(await browser.follow(location));
    return remove(html);
  }

  it.skipIf(!enabled)('removing a phone in the portal ends the logins its device key made: their refresh and access tokens die, and cannot enrol a new key', async () => {
    const { citizen, phone, totpSecret } = await phoneWithDeviceKey(h, app);
    const removedKey = phone.deviceKeyId!;
    const tokens = await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
    expect(tokens.refresh_token).toBeTruthy();
    expect((await removeInPortal(citizen, totpSecret, phone.deviceKeyId!)).headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await countRows('device_keys', { id: phone.deviceKeyId!, revoked_at: null })).toBe(0);

    await expect(oidc.refreshTokenGrant(phone.rp, tokens.refresh_token!, undefined, { DPoP: phone.dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await phone.call('GET', '/mobile/device-keys')).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    await phone.newDeviceKey();
    expect(await phone.enrolDeviceKey()).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'credential.removed')).toMatchObject({ details: { type: 'device', deviceKeyId: removedKey } });
    expect(events.find((e) => e.action === 'session.ended')).toMatchObject({ details: { reason: 'device_key_revoked', deviceKeyId: removedKey, grants: 1 } });
  });

  it.skipIf(!enabled)("enrols a device key only from a recent sign-in made on the phone: not from a device key's own login, nor from a sign-in more than five minutes old (a refreshed token keeps its auth_time)", async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    // A key (a stolen one, say) would otherwise make itself a second key that outlives its removal.
    await phone.loginWithDeviceKey();
    await phone.newDeviceKey();
    expect(await phone.enrolDeviceKey()).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    expect(await countRows('device_keys', { account_id: account!.id })).toBe(1);

    // A sign-in at loa:2 (password and TOTP) seven minutes ago, its token refreshed just now.
    const other = await h.citizen();
    const later = await MobileApp.create(h, app);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() - 7 * 60_000);
      await later.signInWithBrowser(other);
    } finally {
      vi.useRealTimers();
    }
    const refreshed = await oidc.refreshTokenGrant(later.rp, later.refreshToken!, undefined, { DPoP: later.dpop });
    expect(refreshed.claims()).toMatchObject({ sub: other.sub, acr: LOA2 });
    expect(refreshed.claims()!.auth_time).toBeLessThan(Date.now() / 1000 - 6 * 60);
    later.accessToken = refreshed.access_token;
    expect(await later.enrolDeviceKey()).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    const otherAccount = await h.yihao.accounts.findBySub(other.sub);
    expect(await countRows('device_keys', { account_id: otherAccount!.id })).toBe(0);
  });

  it.skipIf(!enabled)('refuses a device-key login with a wrong key, a replayed challenge, another app, or no DPoP proof; only failures with a good signature count, against the key alone', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const stranger = await generateKeyPair('ES256');
    const wrongKey = await phone.assertion(await phone.challenge(), { privateKey: stranger.privateKey });
    await expect(phone.loginWithDeviceKey(wrongKey)).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the assertion does not verify with the registered device key' });

    const challenge = await phone.challenge();
    await phone.loginWithDeviceKey(await phone.assertion(challenge));
    await expect(phone.loginWithDeviceKey(await phone.assertion(challenge))).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the challenge is unknown, expired or already used' });

    // A challenge Yihao did not issue, and one that has run out, count as failures too.
    const forged = (await phone.challenge()).replace(/\.[^.]+$/, `.${'A'.repeat(43)}`);
    await expect(phone.loginWithDeviceKey(await phone.assertion(forged))).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the challenge is unknown, expired or already used' });
    await phone.loginWithDeviceKey();
    const shortLived = deviceKeyChallenges(h.yihao.services.Adapter, 1, h.config.secrets.cookieKeys[0]!).issue();
    await new Promise((r) => setTimeout(r, 1_100));
    await expect(phone.loginWithDeviceKey(await phone.assertion(shortLived))).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the challenge is unknown, expired or already used' });

    // No DPoP proof: refused before the assertion is even looked at.
    const res = await fetch(new URL('/token', h.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', client_id: app.client_id, assertion: await phone.assertion(await phone.challenge()), scope: 'openid' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_dpop_proof' });

    // Another app cannot use this app's device key.
    const other = await registerMobileApp(h);
    const otherApp = await MobileApp.create(h, other);
    await expect(otherApp.loginWithDeviceKey(await phone.assertion(await otherApp.challenge(), { iss: other.client_id }))).rejects.toMatchObject({ error: 'invalid_grant' });

    // A stranger's wrong keys and password guesses never count against the device key: it still signs in.
    for (let i = 0; i < MAX_FAILURES + 2; i++) {
      await expect(phone.loginWithDeviceKey(await phone.assertion(await phone.challenge(), { privateKey: stranger.privateKey }))).rejects.toMatchObject({ error: 'invalid_grant' });
      await h.yihao.accounts.verifyPassword(citizen.citizenId, 'a guess', '127.0.0.1');
    }
    await phone.loginWithDeviceKey();
    // Failures count only once the signature checks out (a challenge that is not live): after
    // maxFailures of them, the key waits.
    for (let i = 0; i < MAX_FAILURES; i++) {
      const bad = (await phone.challenge()).replace(/\.[^.]+$/, `.${'B'.repeat(43)}`);
      await expect(phone.loginWithDeviceKey(await phone.assertion(bad))).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'the challenge is unknown, expired or already used' });
    }
    await expect(phone.loginWithDeviceKey()).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'too many failed sign-in attempts with this device key: try again later' });
    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(events.filter((a) => a === 'login.failed').length).toBeGreaterThanOrEqual(3);
  });

  it.skipIf(!enabled)('approvals API: lists the pending request with the requesting app and binding code, and refuses a wrong key, a foreign key, a missing DPoP proof, a Bearer token and a replay, changing nothing', async () => {
    const { phone, citizen, totpSecret } = await phoneWithDeviceKey(h, app);
    const { id, qr } = await pendingRequest(phone);
    const listed = await phone.approvals();
    expect(listed.status).toBe(200);
    expect(listed.json.requests).toEqual([expect.objectContaining({ id, kind: 'qr', client_name: '不动产登记', binding_code: qr.bindingCode, status: 'pending' })]);

    const stranger = await generateKeyPair('ES256');
    const wrongKey = await phone.decide(id, 'approve', { signWith: { privateKey: stranger.privateKey, kid: phone.deviceKeyId! } });
    expect(wrongKey).toMatchObject({ status: 401, json: { error: 'invalid_device_signature' } });

    // A signature over another body ("deny") does not carry an "approve", nor one for another request.
    const url = `${new URL(h.issuer).origin}/mobile/approvals/${id}`;
    const tampered = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `DPoP ${phone.accessToken}`,
        dpop: await phone.dpopProof('POST', url),
        'device-signature': await phone.deviceSignature('POST', url, JSON.stringify({ decision: 'deny' })),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toMatchObject({ error: 'invalid_device_signature', error_description: 'the device signature does not cover this request body' });
    const elsewhere = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `DPoP ${phone.accessToken}`,
        dpop: await phone.dpopProof('POST', url),
        'device-signature': await phone.deviceSignature('POST', `${url}x`, JSON.stringify({ decision: 'approve' })),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect(await elsewhere.json()).toMatchObject({ error: 'invalid_device_signature', error_description: 'the device signature names another request' });

    const noSignature = await phone.decide(id, 'approve', { noSignature: true });
    expect(noSignature).toMatchObject({ status: 401, json: { error: 'invalid_device_signature' } });

    const noDpop = await phone.decide(id, 'approve', { noDpop: true });
    expect(noDpop).toMatchObject({ status: 401, json: { error: 'invalid_dpop_proof', error_description: 'a DPoP proof is required (DPoP header)' } });

    const bearer = await phone.decide(id, 'approve', { bearer: true });
    expect(bearer).toMatchObject({ status: 401, json: { error: 'invalid_token' } });

    // Another citizen's own, valid device key cannot decide this citizen's request.
    const other = await phoneWithDeviceKey(h, app);
    expect(await other.phone.decide(id, 'approve')).toMatchObject({ status: 404, json: { error: 'not_found' } });
    // Nor can this account's token be used with the other phone's key.
    const foreign = await phone.decide(id, 'approve', { signWith: { privateKey: other.phone.deviceKeys.privateKey, kid: other.phone.deviceKeyId! } });
    expect(foreign).toMatchObject({ status: 401, json: { error: 'invalid_device_signature' } });

    // Nor can a token of another first-party app use this phone's key.
    const otherApp = await MobileApp.create(h, await registerMobileApp(h));
    await otherApp.signInWithBrowser(citizen, { secret: totpSecret });
    otherApp.deviceKeyId = phone.deviceKeyId;
    otherApp.deviceKeys = phone.deviceKeys;
    expect(await otherApp.decide(id, 'approve')).toMatchObject({ status: 401, json: { error: 'invalid_device_signature' } });

    expect(await countRows('approval_requests', { id, status: 'pending' })).toBe(1);

    // A captured call does not work twice.
    const listedAgain = await phone.approvals();
    expect(listedAgain.status).toBe(200);
    const replay = await phone.call('GET', '/mobile/approvals', undefined, { reuse: phone.lastProofs! });
    expect(replay.status).toBe(401);

    const approved = await phone.decide(id, 'deny');
    expect(approved).toMatchObject({ status: 200, json: { status: 'denied' } });
    expect(await countRows('approval_requests', { id, status: 'denied' })).toBe(1);
  });

  it.skipIf(!enabled)('refuses a device-key login for an app that does not accept the mobile channel (allowed_channels)', async () => {
    const webOnly = await registerMobileApp(h, { allowedChannels: ['web'] });
    const { phone } = await phoneWithDeviceKey(h, webOnly);
    await expect(phone.loginWithDeviceKey()).rejects.toMatchObject({ error: 'unauthorized_client' });
  });

  it.skipIf(!enabled)('keeps a loa:1 token at loa:1 after its session steps up: the mobile API refuses it what it gives the stepped-up token', async () => {
    const citizen = await h.citizen();
    const phone = await MobileApp.create(h, app);
    const browser = new ScriptedBrowser();
    const weak = await phone.signInWithBrowser(citizen, { passwordOnly: true }, browser);
    expect(weak.claims).toMatchObject({ acr: LOA1, amr: ['pwd'], channel: 'web' });
    const loa1Token = phone.accessToken!;
    // The same browser session steps up in place (no password asked again; TOTP set up on the way): loa:2.
    const strong = await phone.signInWithBrowser(citizen, {}, browser);
    expect(strong.claims).toMatchObject({ sub: weak.claims.sub, acr: LOA2, channel: 'web' });
    const loa2Token = phone.accessToken!;

    phone.accessToken = loa1Token;
    expect(await phone.enrolDeviceKey()).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    phone.accessToken = loa2Token;
    expect(await phone.enrolDeviceKey()).toMatchObject({ status: 201 });
  });

  it.skipIf(!enabled)('refuses enrolment with a Bearer token, without a DPoP proof, without proof of the new key, or from a loa:1 login', async () => {
    const citizen = await h.citizen();
    const phone = await MobileApp.create(h, app);
    await phone.signInWithBrowser(citizen);
    const body = { jwk: phone.deviceJwk };
    expect(await phone.call('POST', '/mobile/device-keys', body, { bearer: true, signWith: { privateKey: phone.deviceKeys.privateKey, kid: '' } })).toMatchObject({ status: 401, json: { error: 'invalid_token' } });
    expect(await phone.call('POST', '/mobile/device-keys', body, { noDpop: true, signWith: { privateKey: phone.deviceKeys.privateKey, kid: '' } })).toMatchObject({ status: 401, json: { error: 'invalid_dpop_proof' } });
    const stranger = await generateKeyPair('ES256');
    expect(await phone.call('POST', '/mobile/device-keys', body, { signWith: { privateKey: stranger.privateKey, kid: '' } })).toMatchObject({ status: 401, json: { error: 'invalid_device_signature' } });
    expect(await phone.call('POST', '/mobile/device-keys', { jwk: { ...phone.deviceJwk, d: 'AAAA' } })).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    expect(await countRows('device_keys', { account_id: account!.id })).toBe(0);

    // A password alone does not make a key that logs in at loa:2.
    const weak = await MobileApp.create(h, app);
    const { claims } = await weak.signInWithBrowser(citizen, { passwordOnly: true });
    expect(claims).toMatchObject({ acr: 'urn:yihao:loa:1', channel: 'web' });
    expect(await weak.enrolDeviceKey()).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    expect(await countRows('device_keys', { account_id: account!.id })).toBe(0);
  });
});

describe.skipIf(!(pgAvailable && redisAvailable))('mobile app channel scaled out (two instances on PostgreSQL + Redis)', () => {
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    a = await startHarness({ backend: 'postgres+redis' });
    b = await startHarness({ share: a });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('redeems a challenge from one instance on the other (once), and completes a QR sign-in shown by one instance on the other', async () => {
    const app = await registerMobileApp(a);
    const { citizen, phone } = await phoneWithDeviceKey(a, app);
    const onB = await MobileApp.create(b, app);
    Object.assign(onB, { deviceKeys: phone.deviceKeys, deviceKeyId: phone.deviceKeyId });
    const challenge = await phone.challenge();
    // The same phone talking to instance B (with B's DPoP handle): the assertion names that DPoP key.
    const assertion = await phone.assertion(challenge, { jkt: await onB.dpopThumbprint() });
    expect((await onB.loginWithDeviceKey(assertion)).claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
    await expect(phone.loginWithDeviceKey(await phone.assertion(challenge))).rejects.toMatchObject({ error: 'invalid_grant' });

    const web = await relyingParty(a, await a.client({ name: '出入境', firstParty: true }));
    const qr = await startQrSignIn(a, web);
    const scanned = await onB.scan(qr.code);
    expect(await onB.decide(scanned.json.id as string, 'approve')).toMatchObject({ status: 200 });
    // The browser's next requests land on instance B: the question whose account, and the answer.
    const asked = await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/complete`, b.url), { form: { csrf: formField(qr.qr.html, 'csrf')! } });
    expect(asked.status).toBe(200);
    const question = await asked.text();
    const form = { csrf: formField(question, 'csrf')!, approval: formField(question, 'approval')! };
    expect((await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/confirm`, b.url), { form })).status).toBe(303);
  });
});

describe('mobile APIs answer bad input with a 4xx', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('refuses malformed JSON, a wrong content type, an oversized body, an unknown request, a kind that is not scanned and the wrong method, with JSON errors', async () => {
    const { phone } = await phoneWithDeviceKey(h, await registerMobileApp(h));
    const origin = new URL(h.issuer).origin;
    const signed = async (path: string, body: string, type = 'application/json') => {
      const url = `${origin}${path}`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `DPoP ${phone.accessToken}`, dpop: await phone.dpopProof('POST', url), 'device-signature': await phone.deviceSignature('POST', url, body), 'content-type': type },
        body,
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    expect(await signed('/mobile/approvals/ap_x', '{"decision":')).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(await signed('/mobile/approvals/ap_x', 'decision=approve', 'application/x-www-form-urlencoded')).toMatchObject({ status: 415, json: { error: 'invalid_request' } });
    expect(await signed('/mobile/approvals/ap_x', JSON.stringify({ decision: 'x'.repeat(70_000) }))).toMatchObject({ status: 413 });
    expect(await signed('/mobile/approvals/ap_x', JSON.stringify({ decision: 'maybe' }))).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(await signed('/mobile/approvals/ap_x', JSON.stringify({ decision: 'approve' }))).toMatchObject({ status: 404, json: { error: 'not_found' } });
    expect(await signed('/mobile/approvals/scan', JSON.stringify({ kind: 'ciba', code: 'x' }))).toMatchObject({ status: 400, json: { error: 'invalid_request' } });
    expect(await signed('/mobile/approvals/scan', JSON.stringify({ code: 'nope' }))).toMatchObject({ status: 410, json: { error: 'expired' } });
    expect((await fetch(new URL('/mobile/challenge', h.issuer))).status).toBe(405);
    expect((await fetch(new URL('/mobile/approvals', h.issuer))).status).toBe(401);
    expect((await fetch(new URL('/mobile/device-keys', h.issuer), { headers: { authorization: 'DPoP not-a-token' }, method: 'GET' })).status).toBe(401);
  });
});

describe('mobile app channel: an explicit trust decision for claimed hardware keys', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c): Config => ({ ...c, mobile: { ...c.mobile, trustClaimedHardwareKeys: true } }) });
  });
  afterAll(async () => h?.close());

  it('records a key the app says is in hardware as hwk, and its login says amr hwk', async () => {
    const app = await registerMobileApp(h);
    const citizen = await h.citizen();
    const phone = await MobileApp.create(h, app);
    await phone.signInWithBrowser(citizen);
    expect((await phone.enrolDeviceKey({ storage: 'strongbox' })).json).toMatchObject({ amr: 'hwk' });
    const tokens = await phone.loginWithDeviceKey();
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:2', amr: ['hwk'], channel: 'mobile' });
  });
});
