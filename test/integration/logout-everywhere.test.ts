/**
 * Log out everywhere across channels, end to end over HTTP: one citizen holds a web session, a
 * mobile app's refresh token, a kiosk card session and an assisted counter login, each with its own
 * relying party listening for back-channel logout. The citizen logs out everywhere from the kiosk;
 * afterwards every channel's tokens fail and every relying party got a logout token for the right
 * `sub` (and `sid`). Another person's session at the same counter is untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { REDIRECT, authorizationUrl, relyingParty } from '../support/relying-party.js';
import { staffSignIn } from '../support/counter-staff.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Receiver = Awaited<ReturnType<typeof logoutReceiver>>;

describe.each(backends)('log out everywhere from any channel ($name)', ({ name, enabled }) => {
  let h: Harness;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
  });
  afterAll(async () => {
    for (const r of receivers) r.server.close();
    await h?.close();
  });

  const receiver = async () => {
    const r = await logoutReceiver();
    receivers.push(r);
    return r;
  };

  /** A code-flow sign-in in its own browser. */
  async function signIn(rp: oidc.Configuration, who: { citizenId: string; password: string }, scope = 'openid') {
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope }), { identifier: who.citizenId, password: who.password });
    return { browser, tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }) };
  }

  it.skipIf(!enabled)('ends web, mobile, kiosk and counter sessions; every token fails; each relying party gets a back-channel logout', async () => {
    const citizen = await h.citizen();
    const [webR, mobileR, kioskR, counterR] = [await receiver(), await receiver(), await receiver(), await receiver()];

    const webClient = await h.client({ name: '社保查询', backchannelLogoutUri: webR.url, grantTypes: ['authorization_code', 'refresh_token'], firstParty: true });
    const webRp = await relyingParty(h, webClient);
    const web = await signIn(webRp, citizen);

    // The mobile app: a public native client holding a refresh token.
    const mobileClient = await h.client({ name: '一号通 App', public: true, backchannelLogoutUri: mobileR.url, grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access', firstParty: true });
    const mobileRp = await relyingParty(h, mobileClient);
    const mobile = await signIn(mobileRp, citizen, 'openid offline_access');
    expect(mobile.tokens.refresh_token).toBeTruthy();

    const kiosk = await simulatedKiosk(h, { backchannelLogoutUri: kioskR.url });
    const atKiosk = await kiosk.cardLogin({ citizenId: citizen.citizenId });

    const counterClient = await h.client({
      name: '政务服务中心柜台',
      grantTypes: ['authorization_code', TOKEN_EXCHANGE as never],
      redirectUris: [REDIRECT],
      allowedChannels: ['web', 'counter'],
      backchannelLogoutUri: counterR.url,
      firstParty: true,
    });
    const counterRp = await relyingParty(h, counterClient);
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.services.counterStaff.add((await h.yihao.accounts.findBySub(staff.sub))!.id);
    const staffSession = { tokens: await staffSignIn(h, counterRp, staff) };
    const atCounter = await oidc.genericGrantRequest(counterRp, TOKEN_EXCHANGE, {
      subject_token: citizen.citizenId,
      subject_token_type: 'urn:yihao:token-type:citizen-id',
      actor_token: staffSession.tokens.access_token,
      actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      document_check: 'in_person',
      scope: 'openid',
    });
    // The same person, the same sub, on every channel (each client here uses public subjects).
    for (const t of [web.tokens, mobile.tokens, atKiosk, atCounter]) expect(t.claims()!.sub).toBe(citizen.sub);
    expect([web.tokens, mobile.tokens, atKiosk, atCounter].map((t) => t.claims()!.channel)).toEqual(['web', 'web', 'kiosk', 'counter']);

    // The citizen, at the kiosk, chooses "log out everywhere".
    const res = await fetch(`${h.url}/kiosk/session/end-everywhere`, { method: 'POST', headers: { authorization: `Bearer ${atKiosk.access_token}` } });
    expect(res.status).toBe(204);

    // Every channel's tokens fail.
    await expect(oidc.refreshTokenGrant(webRp, web.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(webRp, web.tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(mobileRp, mobile.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(mobileRp, mobile.tokens.access_token, citizen.sub)).rejects.toThrow();
    await expect(oidc.refreshTokenGrant(kiosk.rp, atKiosk.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(kiosk.rp, atKiosk.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(counterRp, atCounter.access_token)).active).toBe(false);
    const silent = await web.browser.follow(await authorizationUrl(webRp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    expect(silent.url.searchParams.get('error')).toBe('login_required');

    // Each relying party heard about it, for this citizen and the session it knew.
    const jwks = createRemoteJWKSet(new URL(`${h.issuer}/jwks`));
    const heard = async (r: Receiver, audience: string) => {
      expect(r.tokens.length, `logout tokens at ${audience}`).toBe(1);
      const { payload } = await jwtVerify(r.tokens[0]!, jwks, { issuer: h.issuer, audience, typ: 'logout+jwt' });
      expect(payload.sub).toBe(citizen.sub);
      expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
      return payload.sid;
    };
    expect(await heard(webR, webClient.client_id)).toBe(web.tokens.claims()!.sid);
    expect(await heard(mobileR, mobileClient.client_id)).toBe(mobile.tokens.claims()!.sid);
    expect(await heard(kioskR, kiosk.client.client_id)).toBe(atKiosk.claims()!.sid);
    expect(await heard(counterR, counterClient.client_id)).toBe(atCounter.claims()!.sid);

    // The staff member's own session at the counter is not the citizen's: untouched.
    expect((await oidc.tokenIntrospection(counterRp, staffSession.tokens.access_token)).active).toBe(true);
    const ended = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended');
    expect(ended).toMatchObject({ channel: 'kiosk', details: expect.objectContaining({ via: 'kiosk', all: true }) });
  });

  it.skipIf(!enabled)("ends the government app's device-key session (DPoP-bound, channel mobile) with the kiosk's, and both apps hear of it", async () => {
    const [appR, kioskR] = [await receiver(), await receiver()];
    const app = await registerMobileApp(h, { backchannelLogoutUri: appR.url });
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const onPhone = await phone.loginWithDeviceKey(undefined, 'openid profile offline_access');
    expect(onPhone.claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
    expect(onPhone.refresh_token).toBeTruthy();

    const kiosk = await simulatedKiosk(h, { backchannelLogoutUri: kioskR.url });
    const atKiosk = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    expect(atKiosk.claims()!.sub).toBe(onPhone.claims()!.sub);

    const res = await fetch(`${h.url}/kiosk/session/end-everywhere`, { method: 'POST', headers: { authorization: `Bearer ${atKiosk.access_token}` } });
    expect(res.status).toBe(204);

    await expect(oidc.refreshTokenGrant(phone.rp, onPhone.refresh_token!, undefined, { DPoP: phone.dpop })).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await phone.call('GET', '/mobile/approvals')).status).toBe(401);
    expect((await oidc.tokenIntrospection(kiosk.rp, atKiosk.access_token)).active).toBe(false);
    expect(appR.tokens.length).toBeGreaterThanOrEqual(1);
    expect(kioskR.tokens).toHaveLength(1);
    const jwks = createRemoteJWKSet(new URL(`${h.issuer}/jwks`));
    for (const [r, audience] of [[appR, app.client_id], [kioskR, kiosk.client.client_id]] as const) {
      const { payload } = await jwtVerify(r.tokens[0]!, jwks, { issuer: h.issuer, audience, typ: 'logout+jwt' });
      expect(payload.sub).toBe(citizen.sub);
    }
  });

  it.skipIf(!enabled)('the portal path (signOut.everywhere) also reaches kiosk and counter clients, and a token of another kind cannot call the kiosk endpoint', async () => {
    const citizen = await h.citizen();
    const kioskR = await receiver();
    const kiosk = await simulatedKiosk(h, { backchannelLogoutUri: kioskR.url });
    const atKiosk = await kiosk.cardLogin({ citizenId: citizen.citizenId });

    const webRp = await relyingParty(h, await h.client({ grantTypes: ['authorization_code', 'refresh_token'] }));
    const web = await signIn(webRp, citizen);
    const refused = await fetch(`${h.url}/kiosk/session/end-everywhere`, { method: 'POST', headers: { authorization: `Bearer ${web.tokens.access_token}` } });
    expect(refused.status).toBe(401);
    expect((await oidc.tokenIntrospection(kiosk.rp, atKiosk.access_token)).active).toBe(true);

    const result = await h.yihao.signOut.everywhere(citizen.sub);
    expect(result.notified).toContain(kiosk.client.client_id);
    expect(kioskR.tokens).toHaveLength(1);
    expect((await oidc.tokenIntrospection(kiosk.rp, atKiosk.access_token)).active).toBe(false);
  });
});
