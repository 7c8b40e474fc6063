import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { logoutReceiver } from '../support/logout-receiver.js';



describe('protocol features', () => {
  let h: Harness;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  const rpFor = (c: { client_id: string; client_secret?: string }) => relyingParty(h, c);

  beforeAll(async () => {
    // Back-channel logout to a relying party on loopback needs it named as an allowed network.
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    citizen = await h.citizen();
  });
  afterAll(async () => h?.close());

  const authUrl = authorizationUrl;

  it('accepts pushed authorization requests (PAR)', async () => {
    const rp = await rpFor(await h.client({}));
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(citizen.sub);
    // A request_uri is single-use.
    const again = await fetch(url, { redirect: 'manual' });
    expect(again.status).toBeGreaterThanOrEqual(300);
    expect(again.status).toBeLessThan(500);
  });

  it('binds tokens to a DPoP key', async () => {
    const rp = await rpFor(await h.client({}));
    const dpop = oidc.getDPoPHandle(rp, await oidc.randomDPoPKeyPair());
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP: dpop });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, citizen.sub, { DPoP: dpop });
    expect(info.sub).toBe(citizen.sub);
    // Without the proof the bound token is useless.
    const bare = await fetch(`${h.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bare.status).toBe(401);
  });

  it('answers response_mode=form_post with a page whose auto-submit script the CSP allows', async () => {
    const rp = await rpFor(await h.client({}));
    const browser = new ScriptedBrowser();
    await scriptedSignIn(browser, await authUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });
    const { res } = await browser.follow(await authUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none', response_mode: 'form_post' }));
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(await res.text())![1]!;
    expect(csp).toContain(`'sha256-${createHash('sha256').update(script).digest('base64')}'`);
  });

  it('requires S256 PKCE from a public client', async () => {
    const pub = await h.client({ public: true });
    const rp = await rpFor(pub);
    const plain = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    const res = await fetch(plain, { redirect: 'manual' });
    expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    expect(tokens.claims()!.sub).toBe(citizen.sub);
  });

  it('lets a first-party client skip the consent page through a saved grant', async () => {
    const first = await h.client({ firstParty: true });
    const rp = await rpFor(first);
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { res, url } = await browser.follow(await authUrl(rp, verifier));
    const html = await res.text();
    const after = await browser.follow(new URL(formAction(html, '/login')!, url), {
      form: { csrf: formField(html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password },
    });
    // Straight back to the relying party: no consent page in between.
    expect(after.url.origin + after.url.pathname).toBe(REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(rp, after.url, { pkceCodeVerifier: verifier });
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, citizen.sub);
    expect(info.name).toBe(citizen.name); // profile was granted, through a real Grant
    const grants = await h.yihao.stores.db('oidc_models').where({ model: 'Grant' });
    expect(grants.some((g: { payload: string }) => JSON.parse(g.payload).clientId === first.client_id)).toBe(true);

    // An ordinary client still asks.
    const other = await rpFor(await h.client({}));
    const page = await browser.follow(await authUrl(other, oidc.randomPKCECodeVerifier()));
    expect(formAction(await page.res.text(), '/confirm')).toBeTruthy();
  });

  it('notifies relying parties through back-channel logout', async () => {
    const receiver = await logoutReceiver();
    try {
      const client = await h.client({ backchannelLogoutUri: receiver.url, postLogoutRedirectUris: ['http://127.0.0.1:9/bye'] });
      const rp = await rpFor(client);
      const browser = new ScriptedBrowser();
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = await scriptedSignIn(browser, await authUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
      const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
      const sid = tokens.claims()!.sid;
      expect(sid).toBeTruthy();

      const page = await browser.request(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token! }));
      const html = await page.text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
      await browser.follow(new URL(/action="([^"]+)"/.exec(html)![1]!, h.issuer), { form: { xsrf, logout: 'yes' } });

      for (let i = 0; i < 50 && receiver.tokens.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(receiver.tokens).toHaveLength(1);
      const { payload, protectedHeader } = await jwtVerify(receiver.tokens[0]!, createRemoteJWKSet(new URL(`${h.issuer}/jwks`)), {
        issuer: h.issuer,
        audience: client.client_id,
      });
      expect(protectedHeader.typ).toBe('logout+jwt');
      expect(payload.sub).toBe(citizen.sub);
      expect(payload.sid).toBe(sid);
      expect(payload.events).toHaveProperty(['http://schemas.openid.net/event/backchannel-logout']);
    } finally {
      receiver.server.close();
    }
  });
});
