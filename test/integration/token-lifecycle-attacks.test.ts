/**
 * The life and death of tokens, attacked. For each way access ends (RFC 7009 revocation, the portal's
 * consent revocation), every artifact the app holds must stop working everywhere it is accepted,
 * on this instance and on a second one sharing the stores; no client may end or read another
 * client's token; a lying token_type_hint changes nothing; a refresh raced by a revocation leaves
 * nothing alive; and each ending is on the citizen's record (found by a review: an app's RFC 7009
 * revocation, and a reuse's, named no account, so the citizen's history never showed it; failed
 * before).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, oauthError, REDIRECT, relyingParty } from '../support/relying-party.js';
import { nationalTree } from '../support/admin-operators.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { phoneWithDeviceKey, registerMobileApp, totpCode, type MobileApp } from '../support/mobile-app.js';
import { registerCounterSystem } from '../support/counter-system.js';

const CIBA = 'urn:openid:params:grant-type:ciba';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;
type Client = { client_id: string; client_secret?: string; basic?: boolean };

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** A relying party of `h`'s issuer whose requests go to `target` (a second instance) instead. */
async function rpVia(h: Harness, target: Harness, client: Client): Promise<oidc.Configuration> {
  const auth = client.basic ? oidc.ClientSecretBasic(client.client_secret!) : undefined;
  if (target === h) return oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, auth, { execute: [oidc.allowInsecureRequests] });
  const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(h.issuer, target.url), options as RequestInit);
  const rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, auth, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
  rp[oidc.customFetch] = toInstance;
  return rp;
}

describe.each(backends)('token lifecycle under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  /** A second instance on the same stores (PostgreSQL + Redis); the same instance on SQLite. */
  let h2: Harness;
  let appA: Client;
  let appB: Client;
  let mobile: { client_id: string };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    h2 = name === 'postgres+redis' ? await startHarness({ share: h }) : h;
    appA = await h.client({ name: '社保查询 A', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
    mobile = await registerMobileApp(h);
    appB = await h.client({ name: '公积金 B', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile offline_access' });
  });
  afterAll(async () => {
    if (h2 && h2 !== h) await h2.close();
    await h?.close();
  });

  async function signIn(client: Client, who: Citizen, browser = new ScriptedBrowser()) {
    const rp = await rpVia(h, h, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: who.citizenId, password: who.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return { rp, browser, tokens };
  }

  /** A code issued silently in the same browser (not redeemed yet), and how to redeem it. */
  async function pendingCode(app: Awaited<ReturnType<typeof signIn>>) {
    const verifier = oidc.randomPKCECodeVerifier();
    const { url } = await app.browser.follow(await authorizationUrl(app.rp, verifier, { prompt: 'none' }));
    expect(url.searchParams.get('code'), 'a silent sign-in gives a code').toBeTruthy();
    return () => oidc.authorizationCodeGrant(app.rp, url, { pkceCodeVerifier: verifier });
  }

  /** Every place an artifact of the app is accepted, on both instances: all must refuse. */
  async function expectAllDead(client: Client, tokens: { access_token: string; refresh_token?: string }) {
    for (const target of new Set([h, h2])) {
      const rp = await rpVia(h, target, client);
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active, `introspection at ${target.url}`).toBe(false);
      expect(await oauthError(oidc.fetchUserInfo(rp, tokens.access_token, oidc.skipSubjectCheck)), `userinfo at ${target.url}`).toMatchObject({ error: 'invalid_token' });
      if (tokens.refresh_token) {
        expect((await oidc.tokenIntrospection(rp, tokens.refresh_token)).active, `RT introspection at ${target.url}`).toBe(false);
        expect(await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token)), `refresh at ${target.url}`).toMatchObject({ error: 'invalid_grant' });
      }
    }
  }

  it.skipIf(!enabled)('RFC 7009: revoking the refresh token ends the access token, the refresh token and a code issued just before, on every instance', async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    const redeemLater = await pendingCode(a);
    await oidc.tokenRevocation(a.rp, a.tokens.refresh_token!);
    await expectAllDead(appA, a.tokens);
    // The code was issued under the same grant (the browser session's): it went with it.
    expect(await oauthError(redeemLater())).toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('RFC 7009 on the second instance ends the tokens on the first', async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    const refreshed = await oidc.refreshTokenGrant(a.rp, a.tokens.refresh_token!);
    await oidc.tokenRevocation(await rpVia(h, h2, appA), refreshed.refresh_token!);
    await expectAllDead(appA, refreshed);
    await expectAllDead(appA, { access_token: a.tokens.access_token });
  });

  it.skipIf(!enabled)("another client cannot revoke an app's tokens, whatever the hint", async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    const rpB = await relyingParty(h, appB);
    for (const token of [a.tokens.refresh_token!, a.tokens.access_token]) {
      for (const hint of [undefined, 'refresh_token', 'access_token', 'bogus']) {
        // RFC 7009 §2.2: 200 either way; the token must survive.
        await oidc.tokenRevocation(rpB, token, hint ? { token_type_hint: hint } : undefined).catch(() => undefined);
      }
    }
    expect((await oidc.tokenIntrospection(a.rp, a.tokens.access_token)).active).toBe(true);
    const userinfo = await oidc.fetchUserInfo(a.rp, a.tokens.access_token, oidc.skipSubjectCheck);
    expect(userinfo.sub).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(a.rp, a.tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
  });

  it.skipIf(!enabled)("another client introspecting an app's tokens learns nothing but active:false", async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    for (const target of new Set([h, h2])) {
      const rpB = await rpVia(h, target, appB);
      for (const token of [a.tokens.refresh_token!, a.tokens.access_token]) {
        for (const hint of [undefined, 'refresh_token', 'access_token']) {
          const answer = await oidc.tokenIntrospection(rpB, token, hint ? { token_type_hint: hint } : undefined);
          expect(answer).toEqual({ active: false });
        }
      }
    }
  });

  it.skipIf(!enabled)('a lying token_type_hint does not save a token from its owner revoking it', async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    await oidc.tokenRevocation(a.rp, a.tokens.refresh_token!, { token_type_hint: 'access_token' });
    await expectAllDead(appA, a.tokens);

    const b = await signIn(appA, await h.citizen());
    await oidc.tokenRevocation(a.rp, b.tokens.access_token, { token_type_hint: 'refresh_token' });
    expect((await oidc.tokenIntrospection(a.rp, b.tokens.access_token)).active).toBe(false);
    expect(await oauthError(oidc.fetchUserInfo(a.rp, b.tokens.access_token, oidc.skipSubjectCheck))).toMatchObject({ error: 'invalid_token' });
  });

  it.skipIf(!enabled)('a refresh raced by the revocation of its refresh token leaves nothing alive', async () => {
    for (let round = 0; round < 3; round++) {
      const a = await signIn(appA, await h.citizen());
      const rp2 = await rpVia(h, h2, appA);
      const [refresh] = await Promise.allSettled([oidc.refreshTokenGrant(rp2, a.tokens.refresh_token!), oidc.tokenRevocation(a.rp, a.tokens.refresh_token!)]);
      await expectAllDead(appA, a.tokens);
      if (refresh.status === 'fulfilled') await expectAllDead(appA, refresh.value);
    }
  });

  it.skipIf(!enabled)("RFC 7009 revocation is on the citizen's own record (audit log, against the account)", async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    await oidc.tokenRevocation(a.rp, a.tokens.refresh_token!);
    await expectAllDead(appA, a.tokens);
    // It is recorded (by the client, with the grant's id)...
    const recorded = (await h.yihao.services.audit.query({ action: 'grant.revoked', limit: 1000 })).events;
    expect(recorded.some((e) => e.clientId === appA.client_id)).toBe(true);
    // ...but the citizen's record (their portal history, an auditor's look at the account) must hold it too.
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.map((e) => e.action)).toContain('grant.revoked');
  });

  // ------------------------------------------------------------------ the portal

  async function openPortal(browser: ScriptedBrowser, who: Citizen, path = '/account') {
    let { res, url } = await browser.follow(`${h.issuer}${path}`);
    let page = await res.text();
    if (url.pathname.startsWith('/interaction/')) {
      const action = formAction(page, '/login');
      ({ res, url } = await browser.follow(new URL(action!, url), { form: { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } }));
      page = await res.text();
    }
    return { status: res.status, url, page };
  }

  it.skipIf(!enabled)("revoking an app's consent in the portal ends an unredeemed code and every token, on every instance", async () => {
    const citizen = await h.citizen();
    const a = await signIn(appA, citizen);
    const redeemLater = await pendingCode(a);
    // A second, separate authorization of the same app (another browser, an offline grant).
    const other = await signIn(appA, citizen);

    const portal = new ScriptedBrowser();
    const apps = await openPortal(portal, citizen, '/account/apps');
    const res = await portal.request(`${h.issuer}/account/apps/revoke`, { form: { csrf: formField(apps.page, 'csrf')!, client_id: appA.client_id } });
    expect(res.headers.get('location')).toBe('/account/apps?notice=consent_revoked');

    expect(await oauthError(redeemLater())).toMatchObject({ error: 'invalid_grant' });
    await expectAllDead(appA, a.tokens);
    await expectAllDead(appA, other.tokens);
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'consent.revoked')).toMatchObject({ clientId: appA.client_id });
  });

  it.skipIf(!enabled)('a code being redeemed while the consent is revoked leaves nothing alive', async () => {
    for (let round = 0; round < 2; round++) {
      const citizen = await h.citizen();
      const a = await signIn(appA, citizen);
      const redeemLater = await pendingCode(a);
      const portal = new ScriptedBrowser();
      const apps = await openPortal(portal, citizen, '/account/apps');
      const [redeemed] = await Promise.allSettled([
        redeemLater(),
        portal.request(`${h.issuer}/account/apps/revoke`, { form: { csrf: formField(apps.page, 'csrf')!, client_id: appA.client_id } }),
      ]);
      await expectAllDead(appA, a.tokens);
      if (redeemed.status === 'fulfilled') await expectAllDead(appA, redeemed.value);
    }
  });

  /** Posts the portal's consent revocation, signing in again at loa:2 (password and TOTP) when the portal asks. */
  async function revokeInPortal(who: Citizen, clientId: string, totpSecret: string) {
    const portal = new ScriptedBrowser();
    let apps = await openPortal(portal, who, '/account/apps');
    let res = await portal.request(`${h.issuer}/account/apps/revoke`, { form: { csrf: formField(apps.page, 'csrf')!, client_id: clientId } });
    if (res.headers.get('location')?.startsWith('http')) {
      const login = await portal.follow(new URL(res.headers.get('location')!));
      const loginPage = await login.res.text();
      const second = await portal.follow(new URL(formAction(loginPage, '/login')!, login.url), { form: { csrf: formField(loginPage, 'csrf')!, identifier: who.citizenId, password: who.password } });
      const secondPage = await second.res.text();
      const back = await portal.follow(new URL(formAction(secondPage, '/second-factor')!, second.url), { form: { csrf: formField(secondPage, 'csrf')!, code: await totpCode(totpSecret, 1) } });
      apps = { status: back.res.status, url: back.url, page: await back.res.text() };
      res = await portal.request(`${h.issuer}/account/apps/revoke`, { form: { csrf: formField(apps.page, 'csrf')!, client_id: clientId } });
    }
    expect(res.headers.get('location')).toBe('/account/apps?notice=consent_revoked');
  }

  it.skipIf(!enabled)("a CIBA request approved on the phone but not yet polled dies with the counter's consent revoked in the portal (polled on the second instance)", async () => {
    const counter = await registerCounterSystem(h);
    const rp = await counter.rpVia(h);
    const rp2 = await counter.rpVia(h2);
    const { citizen, phone, totpSecret } = await phoneWithDeviceKey(h, mobile);
    const inbox = async (p: MobileApp) => ((await p.approvals()).json.requests as { id: string; kind: string; status: string }[]).filter((r) => r.kind === 'ciba' && r.status === 'pending');
    const approvedRequest = async () => {
      const started = await oidc.initiateBackchannelAuthentication(rp, { scope: 'openid profile', login_hint: citizen.citizenId, binding_message: '窗口3-A7' });
      const [entry] = await inbox(phone);
      expect(await phone.decide(entry!.id, 'approve')).toMatchObject({ status: 200 });
      return started.auth_req_id;
    };
    // An earlier counter login that was polled (its tokens), and one approved but not polled yet.
    const earlier = await oidc.genericGrantRequest(rp, CIBA, { auth_req_id: await approvedRequest() });
    const pending = await approvedRequest();

    await revokeInPortal(citizen, counter.clientId, totpSecret);

    expect(await oauthError(oidc.genericGrantRequest(rp2, CIBA, { auth_req_id: pending }))).toMatchObject({ error: expect.stringMatching(/invalid_grant|expired_token|access_denied/) });
    for (const target of [rp, rp2]) {
      expect((await oidc.tokenIntrospection(target, earlier.access_token)).active).toBe(false);
      expect(await oauthError(oidc.fetchUserInfo(target, earlier.access_token, oidc.skipSubjectCheck))).toMatchObject({ error: 'invalid_token' });
    }
  });

  it.skipIf(!enabled)("an operator's suspension of the app ends its access token at userinfo and its refresh token, on every instance at once", async () => {
    const tree = await nationalTree(h);
    const made = await tree.deptAdmin.api('POST', '/clients', {
      department_id: tree.dept.nation.id,
      settings: { client_name: '被暂停的应用', redirect_uris: [REDIRECT], scope: 'openid profile offline_access', grant_types: ['authorization_code', 'refresh_token'] },
    });
    expect(made.status).toBe(201);
    const submitted = await tree.deptAdmin.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect((await tree.reviewer.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: submitted.body.revision })).body.client?.status).toBe('active');
    const app: Client = { client_id: made.body.client.client_id as string, client_secret: made.body.client_secret as string, basic: true };
    const a = await signIn(app, await h.citizen());
    const rp2 = await rpVia(h, h2, app);
    // The second instance has the client in its cache: used just before.
    expect((await oidc.fetchUserInfo(rp2, a.tokens.access_token, oidc.skipSubjectCheck)).sub).toBeTruthy();
    expect((await tree.deptAdmin.api('POST', `/clients/${app.client_id}/suspend`, { reason: '密钥泄露' })).status).toBe(200);
    for (const rp of [a.rp, rp2]) {
      expect(await oauthError(oidc.fetchUserInfo(rp, a.tokens.access_token, oidc.skipSubjectCheck))).toMatchObject({ error: 'invalid_token' });
      await expect(oidc.refreshTokenGrant(rp, a.tokens.refresh_token!)).rejects.toThrow();
    }
    const events = (await h.yihao.services.audit.query({ action: 'admin.client.suspended', limit: 50 })).events;
    expect(events.some((e) => e.clientId === app.client_id)).toBe(true);
  });
});
