/**
 * Back-channel logout from an upstream identity provider (OpenID Connect Back-Channel Logout 1.0):
 * the citizen signs out at the real upstream, which sends its logout token to Yihao; Yihao ends the
 * sessions that upstream session created, tells its own relying parties, and a later prompt=none
 * gets login_required. Sessions the citizen opened some other way stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];
const UPSTREAM = 'province';

describe.each(backends)('federation: back-channel logout from the upstream ($name)', ({ name: backend, enabled }) => {
  let h: Harness;
  let up: UpstreamOp;
  let receiver: Awaited<ReturnType<typeof logoutReceiver>>;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: UPSTREAM });
    await h.yihao.federation.upstreams.add({ name: UPSTREAM, issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, up.clientSecret);
    receiver = await logoutReceiver();
  });
  afterAll(async () => {
    receiver?.server.close();
    await up?.close();
    await h?.close();
  });

  const post = (token: string, name = UPSTREAM) =>
    fetch(`${h.issuer}/federation/${name}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });

  it.skipIf(!enabled)('ends the linked local session (and tells its relying parties); prompt=none then gets login_required; a password session stays', async () => {
    const citizen = await h.citizen();
    up.citizens.set('citizen', { claims: { citizen_id: citizen.citizenId, name: citizen.name } });
    const client = await h.client({ backchannelLogoutUri: receiver.url });
    const rp = await relyingParty(h, client);

    const viaUpstream = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(viaUpstream, h, up, UPSTREAM, 'citizen', await authorizationUrl(rp, verifier));
    if (step.kind !== 'rp') throw new Error('the federated sign-in did not reach the relying party');
    const fed = await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier });
    expect(fed.claims()!.sub).toBe(citizen.sub);

    const withPassword = new ScriptedBrowser();
    const pwVerifier = oidc.randomPKCECodeVerifier();
    await scriptedSignIn(withPassword, await authorizationUrl(rp, pwVerifier), { identifier: citizen.citizenId, password: citizen.password });

    // The citizen signs out at the upstream, in the same browser.
    const endPage = await viaUpstream.request(`${up.issuer}/session/end`);
    const xsrf = formField(await endPage.text(), 'xsrf');
    expect(xsrf).toBeTruthy();
    const confirmed = await viaUpstream.request(`${up.issuer}/session/end/confirm`, { form: { xsrf: xsrf!, logout: 'yes' } });
    expect(confirmed.status).toBe(303);
    expect(up.logoutTokens).toHaveLength(1);

    const silent = async (browser: ScriptedBrowser) => {
      const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
      return url.searchParams;
    };
    expect((await silent(viaUpstream)).get('error')).toBe('login_required');
    expect((await silent(withPassword)).get('code')).toBeTruthy();
    // Yihao told its own relying party that the session it was part of has ended.
    await expect.poll(() => receiver.tokens.length).toBe(1);
    const actions = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(actions).toContain('federation.logout');

    // The same logout token again is a replay.
    const replayed = await post(up.logoutTokens[0]!);
    expect(replayed.status).toBe(400);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_request', error_description: 'the logout token was already used' });
  });

  const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };
  let jtis = 0;
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: up.issuer,
    aud: up.clientId,
    iat: Math.floor(Date.now() / 1000),
    jti: `crafted-${Date.now()}-${jtis++}`,
    events: EVENT,
    ...extra,
  });

  it.skipIf(!enabled)('a logout token naming only the upstream sid ends the session that upstream session created', async () => {
    const citizen = await h.citizen();
    up.citizens.set('sid-only', { claims: { citizen_id: citizen.citizenId, name: citizen.name } });
    const rp = await relyingParty(h, await h.client({}));
    const browser = new ScriptedBrowser();
    const { step } = await federatedWalk(browser, h, up, UPSTREAM, 'sid-only', await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    expect(step.kind).toBe('rp');
    const sid = await up.sidFor(browser.cookieHeader(new URL(`${up.issuer}/`)));
    expect(sid).toBeTruthy();
    const res = await post(await up.sign(claims({ sid })));
    expect(res.status).toBe(200);
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    expect(url.searchParams.get('error')).toBe('login_required');
  });

  it.skipIf(!enabled)('still ends a session that the upstream created after the citizen signed in again in it with a password', async () => {
    const citizen = await h.citizen();
    up.citizens.set('again', { claims: { citizen_id: citizen.citizenId, name: citizen.name } });
    const rp = await relyingParty(h, await h.client({}));
    const browser = new ScriptedBrowser();
    const { step } = await federatedWalk(browser, h, up, UPSTREAM, 'again', await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    expect(step.kind).toBe('rp');
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier, { prompt: 'login' }), { identifier: citizen.citizenId, password: citizen.password });
    expect((await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier })).claims()!.amr).toEqual(['pwd']);

    expect((await post(await up.sign(claims({ sub: 'again' })))).status).toBe(200);
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    expect(url.searchParams.get('error')).toBe('login_required');
  });

  it.skipIf(!enabled)('refuses logout tokens signed by the upstream that break the rules: no event, a nonce, neither sub nor sid, another audience, too old', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [claims({ sub: 'someone', events: undefined }), /not valid|no back-channel logout event/],
      [claims({ sub: 'someone', events: { 'http://example.com/other': {} } }), /no back-channel logout event/],
      [claims({ sub: 'someone', nonce: 'n' }), /must not contain a nonce/],
      [claims(), /neither sub nor sid/],
      [claims({ sub: 'someone', aud: 'another-app' }), /not valid/],
      [claims({ sub: 'someone', iat: Math.floor(Date.now() / 1000) - 3600 }), /not valid/],
    ];
    for (const [payload, problem] of cases) {
      const res = await post(await up.sign(Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined))));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error_description: string }).error_description).toMatch(problem);
    }
    // A valid token about someone Yihao has never linked is accepted and ends nothing.
    expect((await post(await up.sign(claims({ sub: 'never-linked' })))).status).toBe(200);
  });

  it.skipIf(!enabled)('refuses malformed and foreign-signed logout tokens, and unknown upstreams, with 400 (audited)', async () => {
    expect((await post('not-a-jwt')).status).toBe(400);
    const missing = await fetch(`${h.issuer}/federation/${UPSTREAM}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(missing.status).toBe(400);

    // Right issuer, audience and claims, but signed with a key the upstream never published.
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const kid = (await exportJWK(publicKey)).n!.slice(0, 8);
    const forged = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: 'x' })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' })
      .setIssuer(up.issuer)
      .setAudience(up.clientId)
      .setIssuedAt()
      .setJti(`j-${Date.now()}`)
      .setSubject('citizen')
      .sign(privateKey);
    const res = await post(forged);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_description: string }).error_description).toMatch(/not valid/);

    expect((await post(forged, 'nobody')).status).toBe(400);
    const refused = await h.yihao.stores.db('audit_events').where({ action: 'federation.logout_refused' }).count({ n: '*' });
    expect(Number(refused[0]!.n)).toBeGreaterThanOrEqual(3);
  });
});
