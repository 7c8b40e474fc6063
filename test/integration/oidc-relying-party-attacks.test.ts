/**
 * The OIDC protocol surface against a hostile relying party (an app registered by another
 * department) or someone holding a leaked token: what one app holds must not work for another,
 * what the citizen ended must end at every app, and an app must hear of it in terms it can match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, oauthError, relyingParty } from '../support/relying-party.js';
import { signInAllowing } from '../support/consent-walk.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import type { ClientInput, CreatedClient } from '../../src/clients/index.js';
import { APP_REDIRECT, phoneWithDeviceKey, registerMobileApp, type MobileApp } from '../support/mobile-app.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const LOA3 = 'urn:yihao:loa:3';
const CIBA = 'urn:openid:params:grant-type:ciba';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a hostile relying party ($name)', ({ name, enabled }) => {
  let h: Harness;
  let receiver: Awaited<ReturnType<typeof logoutReceiver>>;

  beforeAll(async () => {
    if (!enabled) return;
    // Back-channel logout to a relying party on loopback needs it named as an allowed network.
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    receiver = await logoutReceiver();
  });
  afterAll(async () => {
    receiver?.server.close();
    await h?.close();
  });

  async function signIn(input: Partial<ClientInput>, extra: Record<string, string> = {}, who?: Awaited<ReturnType<Harness['citizen']>>, browser = new ScriptedBrowser()) {
    const citizen = who ?? (await h.citizen());
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], ...input });
    const rp = await relyingParty(h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { scope: 'openid', ...extra }), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return { citizen, client, rp, tokens, browser };
  }

  /** The logout tokens that reached the receiver for `clientId` since `from`, verified. */
  async function logoutTokensFor(clientId: string, from: number) {
    for (let i = 0; i < 50 && receiver.tokens.length <= from; i++) await new Promise((r) => setTimeout(r, 50));
    const jwks = createRemoteJWKSet(new URL(`${h.issuer}/jwks`));
    const verified = await Promise.all(receiver.tokens.slice(from).map((t) => jwtVerify(t, jwks, { issuer: h.issuer }).then((v) => v.payload)));
    return verified.filter((p) => p.aud === clientId);
  }

  it.skipIf(!enabled)('tells a pairwise app of a sign-out everywhere by the sub that app knows', async () => {
    const from = receiver.tokens.length;
    const { citizen, client, tokens } = await signIn({ subjectType: 'pairwise', backchannelLogoutUri: receiver.url });
    const sub = tokens.claims()!.sub;
    expect(sub).not.toBe(citizen.sub);

    await h.yihao.signOut.everywhere(citizen.sub);
    const logouts = await logoutTokensFor(client.client_id, from);
    expect(logouts).toHaveLength(1);
    expect(logouts[0]!.sub).toBe(sub);
    expect(logouts[0]!.sid).toBe(tokens.claims()!.sid);
  });

  it.skipIf(!enabled)('tells a pairwise app whose grant outlived its session by the sub that app knows', async () => {
    const from = receiver.tokens.length;
    const { citizen, client, tokens } = await signIn({ subjectType: 'pairwise', backchannelLogoutUri: receiver.url, scope: 'openid offline_access' }, { scope: 'openid offline_access', prompt: 'consent' });
    const sub = tokens.claims()!.sub;
    // The browser session is gone (cookie lost, expired); the app's offline grant lives on.
    for (const e of (await h.yihao.services.accountIndex.list(citizen.sub)).filter((x) => x.model === 'Session')) {
      await (await h.yihao.holder.current.Session.findByUid(e.id))?.destroy();
    }
    await h.yihao.signOut.everywhere(citizen.sub);
    const logouts = await logoutTokensFor(client.client_id, from);
    expect(logouts).toHaveLength(1);
    expect(logouts[0]!.sub).toBe(sub);
  });

  it.skipIf(!enabled)("gives no extension-grant tokens below the level the app registered as its minimum", async () => {
    // The government app, as `yihao client create --kind mobile` registers it; a device key enrolled from a loa:2 sign-in.
    const created = await h.yihao.clients.create({ kind: 'mobile', name: '一号 App', redirectUris: [APP_REDIRECT], firstParty: true, scope: 'openid profile offline_access' });
    const { phone } = await phoneWithDeviceKey(h, created);
    expect((await phone.loginWithDeviceKey()).access_token).toBeTruthy();

    // An approved change raises the app's minimum to loa:3 (ID card, or in person): a device-key login (loa:2) falls short.
    await h.yihao.clients.publish({ ...created, metadata: { ...created.metadata, min_acr: 'urn:yihao:loa:3' } });
    await expect(phone.loginWithDeviceKey()).rejects.toMatchObject({ error: 'unauthorized_client' });
  });
});

/**
 * An app's registration only narrows what it holds: once an approved change raises its minimum level
 * or drops a scope, what it got before (refresh tokens, a counter's pending request) gives it no more
 * than the registration allows now. Access tokens issued before the change stay as they were until
 * they expire (minutes).
 */
describe.each(backends)('a relying party whose registration an approved change narrowed ($name)', ({ name, enabled }) => {
  let h: Harness;

  beforeAll(async () => {
    if (enabled) h = await startHarness({ backend: name });
  });
  afterAll(async () => h?.close());

  /** An approved change going live, as the console's review publishes it: the live metadata with `metadata` over it. */
  const change = (client: CreatedClient, metadata: Record<string, unknown>) => h.yihao.clients.publish({ ...client, metadata: { ...client.metadata, ...metadata } });

  /** A counter system (`yihao client create --kind ciba`), confidential, private_key_jwt, poll mode. */
  async function registerCounter(extra: Partial<ClientInput> = {}) {
    const keys = await generateKeyPair('ES256', { extractable: true });
    const created = await h.yihao.clients.create({
      kind: 'ciba',
      name: '政务服务中心 5 号窗口',
      jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'counter-1', use: 'sig', alg: 'ES256' }] },
      scope: 'openid profile',
      ...extra,
    });
    const rp = await oidc.discovery(new URL(h.issuer), created.client_id, undefined, oidc.PrivateKeyJwt({ key: keys.privateKey, kid: 'counter-1' }), { execute: [oidc.allowInsecureRequests] });
    return { created, rp };
  }
  const cibaRequests = async (phone: MobileApp) => ((await phone.approvals()).json.requests as Record<string, unknown>[]).filter((r) => r.kind === 'ciba');

  it.skipIf(!enabled)('refuses to refresh a login below the minimum level an approved change raised the app to', async () => {
    const citizen = await h.citizen();
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
    const rp = await relyingParty(h, client);
    const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid profile offline_access', prompt: 'consent' });
    expect(tokens.claims()!.acr).toBe(LOA1);

    // A minimum the login meets: the refresh goes on.
    await change(client, { min_acr: LOA1 });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()!.acr).toBe(LOA1);

    // Raised above it: the app's refresh tokens from that login give nothing more, and say why.
    await change(client, { min_acr: LOA2 });
    const refused = await oauthError(oidc.refreshTokenGrant(rp, refreshed.refresh_token!));
    expect(refused).toMatchObject({ error: 'invalid_grant' });
    expect(refused.error_description).toContain(LOA2);
    expect(refused.error_description).toContain(LOA1);
  });

  it.skipIf(!enabled)('refuses to refresh a login made on a channel an approved change took away from the app', async () => {
    const citizen = await h.citizen();
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
    const rp = await relyingParty(h, client);
    const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid profile offline_access', prompt: 'consent' });
    expect(tokens.claims()!.channel).toBe('web');

    // Still accepted: the refresh goes on.
    await change(client, { allowed_channels: ['web', 'mobile'] });
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()!.channel).toBe('web');

    // The web channel taken away: its logins refresh no more, and the answer says why.
    await change(client, { allowed_channels: ['mobile'] });
    const refused = await oauthError(oidc.refreshTokenGrant(rp, refreshed.refresh_token!));
    expect(refused).toMatchObject({ error: 'invalid_grant' });
    expect(refused.error_description).toContain('web');
  });

  it.skipIf(!enabled)('gives a refresh only the scopes the app is still registered for, and no claim asked for by name under a dropped one', async () => {
    const citizen = await h.citizen({ phone: '13800004321' });
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone citizen_id offline_access', citizenIdRelease: 'masked' });
    const rp = await relyingParty(h, client);
    const byName = JSON.stringify({ userinfo: { citizen_id: null } });
    const { tokens } = await signInAllowing(h, client, citizen, { scope: 'openid profile phone offline_access', prompt: 'consent', claims: byName });
    const sub = tokens.claims()!.sub;
    const before = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(before.scope!.split(' ')).toContain('phone');
    const shown = await oidc.fetchUserInfo(rp, before.access_token, sub);
    expect(shown.phone_number).toBeDefined();
    expect(shown.citizen_id).toBeDefined();

    // An approved change takes the phone number and the ID number away from the app.
    await change(client, { scope: 'openid profile offline_access' });
    const after = await oidc.refreshTokenGrant(rp, before.refresh_token!);
    expect(after.scope!.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile']);
    const userinfo = await oidc.fetchUserInfo(rp, after.access_token, sub);
    expect(userinfo).toMatchObject({ sub, name: citizen.name });
    expect(userinfo.phone_number).toBeUndefined();
    expect(userinfo.citizen_id).toBeUndefined();
    // Asked for explicitly, a dropped scope is refused, as at the authorization endpoint; the token is not spent.
    expect(await oauthError(oidc.refreshTokenGrant(rp, after.refresh_token!, { scope: 'openid phone' }))).toMatchObject({ error: 'invalid_scope' });
    // Its successor holds no more either.
    const next = await oidc.refreshTokenGrant(rp, after.refresh_token!);
    expect(next.scope!.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile']);
    expect((await oidc.fetchUserInfo(rp, next.access_token, sub)).citizen_id).toBeUndefined();
  });

  it.skipIf(!enabled)('refuses a counter system whose minimum level a phone approval cannot reach, before the citizen is asked', async () => {
    const app = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const { rp: strict } = await registerCounter({ minAcr: LOA3 });
    const refused = await oauthError(oidc.initiateBackchannelAuthentication(strict, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A1' }));
    expect(refused).toMatchObject({ error: 'unauthorized_client' });
    expect(refused.error_description).toContain(LOA3);
    expect(JSON.stringify(refused)).not.toContain(citizen.citizenId);
    expect(await cibaRequests(phone)).toEqual([]);

    // A minimum the approval meets: asked as before.
    const { rp: twoFactor } = await registerCounter({ minAcr: LOA2 });
    expect((await oidc.initiateBackchannelAuthentication(twoFactor, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A2' })).auth_req_id).toBeTruthy();
  });

  it.skipIf(!enabled)('gives a counter no tokens when its minimum was raised past loa:2 while the citizen was being asked', async () => {
    const app = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const { created, rp } = await registerCounter();
    const started = await oidc.initiateBackchannelAuthentication(rp, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A3' });
    await change(created, { min_acr: LOA3 });
    const [entry] = await cibaRequests(phone);
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 200 });
    expect(await oauthError(oidc.genericGrantRequest(rp, CIBA, { auth_req_id: started.auth_req_id }))).toMatchObject({ error: 'unauthorized_client' });
  });
});
