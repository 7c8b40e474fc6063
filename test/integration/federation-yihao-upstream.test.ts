/**
 * The worked example of docs/federation.md: a second Yihao instance (a province's own) is the
 * upstream of the national one. Each runs on its own port with its own store; the citizen's
 * browser keeps one cookie jar per site, as it would for two host names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, go, page, ScriptedBrowser, scriptedSignIn, submit } from '../support/scripted-browser.js';
import { logoutReceiver } from '../support/logout-receiver.js';

describe('federation: a second Yihao instance as the upstream', () => {
  let national: Harness;
  let province: Harness;
  let receiver: Awaited<ReturnType<typeof logoutReceiver>>;

  beforeAll(async () => {
    const allowLoopback = (c: Harness['config']) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } });
    [national, province] = await Promise.all([startHarness({ overrides: allowLoopback }), startHarness({ overrides: allowLoopback })]);
    // At the province: register the national Yihao as a first-party client that may see the full ID number.
    const atProvince = await province.client({
      name: '国家一号',
      redirectUris: [`${national.issuer}/federation/callback`],
      backchannelLogoutUri: `${national.issuer}/federation/province/backchannel-logout`,
      // For `--sign-out-upstream`: where the province sends the browser back after signing out.
      postLogoutRedirectUris: [`${national.issuer}/federation/signed-out`],
      scope: 'openid profile phone citizen_id',
      citizenIdRelease: 'full',
      firstParty: true,
    });
    // At the national Yihao: connect the province (what `yihao idp add` does).
    await national.yihao.federation.upstreams.add(
      {
        name: 'province',
        displayName: '某省一号',
        displayNameEn: 'Province Yihao',
        issuer: province.issuer,
        clientId: atProvince.client_id,
        scope: 'openid profile phone citizen_id',
        citizenIdClaim: 'citizen_id',
        maxAcr: 'urn:yihao:loa:2',
        trustAmr: true,
      },
      atProvince.client_secret,
    );
    receiver = await logoutReceiver();
  });
  afterAll(async () => {
    receiver?.server.close();
    await national?.close();
    await province?.close();
  });

  it('a citizen of the province signs in to a national app with the province login: account created, same sub next time; national logout leaves the province session, province logout ends the national one', async () => {
    const citizen = await province.citizen({ name: '陈一' });
    const rp = await relyingParty(national, await national.client({ backchannelLogoutUri: receiver.url }));
    const nationalOrigin = new URL(national.issuer).origin;

    const signIn = async (atNational: ScriptedBrowser, atProvince: ScriptedBrowser) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const login = page(await go(atNational, await authorizationUrl(rp, verifier), nationalOrigin));
      expect(login.html).toContain('使用「某省一号」登录');
      const res = await atNational.request(new URL(formAction(login.html, '/federation/province')!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
      expect(res.status).toBe(303);
      // At the province's own Yihao: its password page (or its existing session), then back.
      const callback = await scriptedSignIn(atProvince, new URL(res.headers.get('location')!), { identifier: citizen.citizenId, password: citizen.password });
      expect(callback.origin + callback.pathname).toBe(`${national.issuer}/federation/callback`);
      let step = await go(atNational, callback, nationalOrigin);
      // Sent back to the province to sign in afresh (its session predates a sign-out everywhere here).
      if (step.kind === 'rp' && step.url.origin === new URL(province.issuer).origin) {
        expect(step.url.searchParams.get('prompt')).toBe('login');
        step = await go(atNational, await scriptedSignIn(atProvince, step.url, { identifier: citizen.citizenId, password: citizen.password }), nationalOrigin);
      }
      if (step.kind === 'page' && formAction(step.html, '/confirm')) step = await submit(atNational, step, '/confirm', {}, nationalOrigin);
      if (step.kind !== 'rp') throw new Error(`did not reach the relying party: ${step.status} ${step.html.slice(0, 300)}`);
      return (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier })).claims()!;
    };

    const atNational = new ScriptedBrowser();
    const atProvince = new ScriptedBrowser();
    const first = await signIn(atNational, atProvince);
    expect(first).toMatchObject({ acr: 'urn:yihao:loa:1', amr: ['fed', 'pwd'], channel: 'web' });
    const account = await national.yihao.accounts.findBySub(first.sub);
    expect(account?.citizenId()).toBe(citizen.citizenId);
    expect(account?.assurance).toBe('federated');
    expect(account?.name).toBe('陈一');
    // The upstream's sub is its own; the national sub is the national one.
    expect(first.sub).not.toBe(citizen.sub);

    // Another browser, another sign-in at the province: the same national account and sub.
    const again = await signIn(new ScriptedBrowser(), new ScriptedBrowser());
    expect(again.sub).toBe(first.sub);

    const silently = async (browser: ScriptedBrowser, at: oidc.Configuration) =>
      (await browser.follow(await authorizationUrl(at, oidc.randomPKCECodeVerifier(), { prompt: 'none' }))).url.searchParams;

    // The national Yihao signing the citizen out everywhere leaves the province's own session alone.
    const provinceApp = await relyingParty(province, await province.client({ firstParty: true }));
    // Login times are whole seconds: the province's login is from an earlier second than the sign-out, as in life.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await national.yihao.signOut.everywhere(first.sub);
    expect((await silently(atNational, rp)).get('error')).toBe('login_required');
    expect((await silently(atProvince, provinceApp)).get('code')).toBeTruthy();

    // Signed in again: the province remembers the citizen, but from before the sign-out everywhere,
    // so it is asked (prompt=login) to authenticate afresh. Then signed out everywhere at the
    // province: its back-channel logout ends the national session too.
    const refusedBefore = await national.yihao.stores.db('audit_events').where({ action: 'federation.refused' }).count({ n: '*' }).first();
    expect((await signIn(atNational, atProvince)).sub).toBe(first.sub);
    const stale = (await national.yihao.stores.db('audit_events').where({ action: 'federation.refused' }).orderBy('id', 'desc').first()) as { details: string };
    expect(JSON.parse(stale.details)).toMatchObject({ reason: 'upstream_login_predates_sign_out' });
    expect(Number((await national.yihao.stores.db('audit_events').where({ action: 'federation.refused' }).count({ n: '*' }).first())?.n)).toBe(Number(refusedBefore?.n) + 1);
    const provinceAccount = await province.yihao.accounts.findBySub(citizen.sub);
    await province.yihao.signOut.disableAccount(provinceAccount!.id, { actorType: 'operator', actorId: 'op-test' });
    expect((await silently(atNational, rp)).get('error')).toBe('login_required');
    await expect.poll(() => receiver.tokens.length).toBeGreaterThanOrEqual(1);
  });

  it('with --sign-out-upstream, signing out of a national app in the browser signs the citizen out of the province too, and back at the app', async () => {
    const BYE = 'http://127.0.0.1:9/bye';
    expect(await national.yihao.federation.upstreams.setSignOutUpstream('province', true)).toBe(true);
    const citizen = await province.citizen({ name: '陈二' });
    const rp = await relyingParty(national, await national.client({ postLogoutRedirectUris: [BYE] }));
    const provinceApp = await relyingParty(province, await province.client({ firstParty: true }));
    const nationalOrigin = new URL(national.issuer).origin;
    const atNational = new ScriptedBrowser();
    const atProvince = new ScriptedBrowser();

    const verifier = oidc.randomPKCECodeVerifier();
    const login = page(await go(atNational, await authorizationUrl(rp, verifier), nationalOrigin));
    const res = await atNational.request(new URL(formAction(login.html, '/federation/province')!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
    const callback = await scriptedSignIn(atProvince, new URL(res.headers.get('location')!), { identifier: citizen.citizenId, password: citizen.password });
    let step = await go(atNational, callback, nationalOrigin);
    if (step.kind === 'page' && formAction(step.html, '/confirm')) step = await submit(atNational, step, '/confirm', {}, nationalOrigin);
    if (step.kind !== 'rp') throw new Error('did not reach the relying party');
    const tokens = await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier });

    const silently = async (browser: ScriptedBrowser, at: oidc.Configuration) =>
      (await browser.follow(await authorizationUrl(at, oidc.randomPKCECodeVerifier(), { prompt: 'none' }))).url.searchParams;
    expect((await silently(atProvince, provinceApp)).get('code')).toBeTruthy();

    const confirm = async (browser: ScriptedBrowser, url: URL) => {
      const html = await (await browser.request(url)).text();
      return browser.request(new URL(formAction(html, '/session/end/confirm')!, url), { form: { xsrf: formField(html, 'xsrf')!, logout: 'yes' } });
    };
    // "Sign out" at the national Yihao: on to the province's end_session_endpoint.
    const out = await confirm(atNational, oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: BYE }));
    const toProvince = new URL(out.headers.get('location')!);
    expect(`${toProvince.origin}${toProvince.pathname}`).toBe(`${province.issuer}/session/end`);
    expect(toProvince.searchParams.get('client_id')).toBeTruthy();
    expect(toProvince.href).not.toContain(citizen.citizenId);
    // "Sign out" at the province (its own confirmation page): back to the national Yihao, then the app.
    const back = await confirm(atProvince, toProvince);
    const backUrl = new URL(back.headers.get('location')!);
    expect(`${backUrl.origin}${backUrl.pathname}`).toBe(`${national.issuer}/federation/signed-out`);
    expect((await atNational.follow(backUrl)).url.href).toBe(BYE);

    expect((await silently(atNational, rp)).get('error')).toBe('login_required');
    expect((await silently(atProvince, provinceApp)).get('error')).toBe('login_required');
  });
});
