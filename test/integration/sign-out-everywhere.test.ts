import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { logoutReceiver } from '../support/logout-receiver.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];


describe.each(backends)('signing an account out everywhere ($name)', ({ name, enabled }) => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof logoutReceiver>>;
  afterAll(async () => {
    receiver?.server.close();
    await h?.close();
  });

  it.skipIf(!enabled)('disabling an account ends every session, kills its refresh tokens and notifies clients', async () => {
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    receiver = await logoutReceiver();
    const citizen = await h.citizen();
    const other = await h.citizen();
    const notifying = await h.client({ backchannelLogoutUri: receiver.url, grantTypes: ['authorization_code', 'refresh_token'] });
    const plain = await h.client({ grantTypes: ['authorization_code', 'refresh_token'] });

    // Two sessions in two browsers, one through each app; and another citizen who must be untouched.
    const signIn = async (client: typeof plain, who: typeof citizen, browser = new ScriptedBrowser()) => {
      const rp = await relyingParty(h, client);
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: who.citizenId, password: who.password });
      return { rp, browser, tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }) };
    };
    const first = await signIn(notifying, citizen);
    const second = await signIn(plain, citizen);
    const bystander = await signIn(plain, other);

    const account = await h.yihao.accounts.findBySub(citizen.sub);
    const result = await h.yihao.signOut.disableAccount(account!.id, { actorType: 'operator', actorId: 'op-test' });
    expect(result.sessions).toBe(2);
    expect(result.notified).toEqual([notifying.client_id]);

    for (const { rp, tokens } of [first, second]) {
      await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    }
    const silent = await first.browser.follow(await authorizationUrl(first.rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    expect(silent.url.searchParams.get('error')).toBe('login_required');

    expect(receiver.tokens).toHaveLength(1);
    const { payload } = await jwtVerify(receiver.tokens[0]!, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)), { issuer: h.issuer, audience: notifying.client_id });
    expect(payload.sub).toBe(citizen.sub);
    expect(payload.sid).toBe(first.tokens.claims()!.sid);

    // A disabled account cannot sign in again; the other citizen is untouched.
    await expect(signIn(plain, citizen)).rejects.toThrow();
    expect((await oidc.refreshTokenGrant(bystander.rp, bystander.tokens.refresh_token!)).access_token).toBeTruthy();
    // The disable commits with its record; what the sign-out then ended is recorded after it.
    const [ended, disabled] = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(disabled).toMatchObject({ action: 'account.disabled', actorId: 'op-test' });
    expect(ended).toMatchObject({ action: 'session.ended', actorId: 'op-test', details: { everywhere: true, reason: 'account_disabled' } });
  });

  it.skipIf(!enabled)("names the session in the logout token of a grant that outlived its browser session (every app that gets logout tokens registered backchannel_logout_session_required)", async () => {
    const citizen = await h.citizen();
    const client = await h.client({ backchannelLogoutUri: receiver.url, grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const sid = tokens.claims()!.sid;
    expect(sid).toBeTruthy();
    // The browser session ends (it expired, or the browser signed out of it) while the app keeps its refresh token.
    const Session = new h.yihao.services.Adapter('Session');
    for (const { model, id } of await h.yihao.services.accountIndex.list(citizen.sub)) {
      if (model !== 'Session') continue;
      const session = await Session.findByUid(id);
      if (session?.jti) await Session.destroy(session.jti);
    }
    const before = receiver.tokens.length;
    const result = await h.yihao.signOut.everywhere(citizen.sub);
    expect(result).toMatchObject({ sessions: 0, grants: 1, notified: [client.client_id] });
    expect(receiver.tokens).toHaveLength(before + 1);
    const { payload } = await jwtVerify(receiver.tokens.at(-1)!, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)), { issuer: h.issuer, audience: client.client_id });
    expect(payload).toMatchObject({ sub: citizen.sub, sid });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('signing out everywhere leaves the account usable', async () => {
    const citizen = await h.citizen();
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'] });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const result = await h.yihao.signOut.everywhere(citizen.sub);
    expect(result).toMatchObject({ sessions: 1, grants: 1 });
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const again = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), {
      identifier: citizen.citizenId,
      password: citizen.password,
    });
    expect(again.searchParams.get('code')).toBeTruthy();
  });
});
