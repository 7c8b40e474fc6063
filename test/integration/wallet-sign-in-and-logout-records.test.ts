/**
 * The wallet's own sign-in freshness rule and the account on `grant.revoked`, attacked after their
 * fixes. Each test states an attack and what a secure server must do. Found by this second look (it
 * failed before): an app's RP-initiated logout revoked its grant with no account on the record.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import type { IssuerMetadataResult } from '@openid4vc/openid4vci';
import { walkSignIn } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { APP_REDIRECT, JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { addTotp } from '../support/second-factors.js';
import { jwkSigner, Wallet } from '../support/wallet.js';

const LOA2 = 'urn:yihao:loa:2';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const CONFIGURATION = 'yihao_identity_sd_jwt';
const SCOPE = 'identity_credential';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('the wallet\u2019s sign-in and the records of logouts ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let metadata: IssuerMetadataResult;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
    metadata = await (await Wallet.create(appId)).client.resolveIssuerMetadata(h.issuer);
  }, 60_000);
  afterAll(async () => h?.close());

  const issuedTo = async (sub: string) => h.yihao.credentials.store.listByAccount((await h.yihao.accounts.findBySub(sub))!.id);

  async function retrieve(wallet: Wallet, accessToken: string, dpop: unknown): Promise<string> {
    try {
      const issued = await wallet.client.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken,
        credentialConfigurationId: CONFIGURATION,
        proofs: { jwt: [await wallet.proof(metadata, CONFIGURATION, await wallet.newKey())] },
        dpop: dpop as never,
      });
      return `issued ${(issued.credentialResponse.credentials as unknown[]).length}`;
    } catch (e) {
      return `refused: ${(e as Error).message.slice(0, 200)}`;
    }
  }

  // ------------------------------------------------------------------ 1. the freshness rule

  it.skipIf(!enabled)('1a. the wallet\'s own fresh sign-in (password + authenticator app) gets the identity credential; its refresh token, used 11 minutes later, keeps the old auth_time and gets none', async () => {
    const citizen = await h.citizen();
    const { secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
    const wallet = await Wallet.create(appId);
    const browser = new ScriptedBrowser();
    const tokens = await wallet.authorize(Wallet.offer(h.issuer, CONFIGURATION), metadata, SCOPE, APP_REDIRECT, async (start) => {
      const walked = await walkSignIn(browser, start, { ...citizen, totpSecret: secret }, (u) => u.href.startsWith(APP_REDIRECT));
      return walked.url;
    });
    // Honest flow: a fresh loa:2 sign-in yields the credential.
    expect(await retrieve(wallet, tokens.accessTokenResponse.access_token, tokens.dpop)).toBe('issued 1');
    const refreshToken = tokens.accessTokenResponse.refresh_token as string | undefined;
    expect(refreshToken, 'the wallet app is registered for refresh_token').toBeTruthy();

    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 11 * 60_000);
      const oauth2 = (wallet.client as unknown as { oauth2Client: { retrieveRefreshTokenAccessToken(o: unknown): Promise<{ accessTokenResponse: { access_token: string }; dpop?: unknown }> } }).oauth2Client;
      const refreshed = await oauth2.retrieveRefreshTokenAccessToken({
        authorizationServerMetadata: metadata.authorizationServers[0],
        refreshToken,
        resource: h.issuer,
        dpop: { signer: jwkSigner(wallet.dpopKey), nonce: (tokens.dpop as { nonce?: string } | undefined)?.nonce },
      });
      expect(await retrieve(wallet, refreshed.accessTokenResponse.access_token, refreshed.dpop)).toMatch(/^refused/);
    } finally {
      vi.useRealTimers();
    }
    expect(await issuedTo(citizen.sub)).toHaveLength(1);
  }, 60_000);

  it.skipIf(!enabled)('1b. a silent (prompt=none) wallet sign-in in a browser whose loa:2 login is 11 minutes old gets no credential', async () => {
    const citizen = await h.citizen();
    const { secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
    const first = await Wallet.create(appId);
    const browser = new ScriptedBrowser();
    await first.authorize(Wallet.offer(h.issuer, CONFIGURATION), metadata, SCOPE, APP_REDIRECT, async (start) => (await walkSignIn(browser, start, { ...citizen, totpSecret: secret }, (u) => u.href.startsWith(APP_REDIRECT))).url);
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 11 * 60_000);
      const thief = await Wallet.create(appId);
      let outcome: string;
      try {
        const tokens = await thief.authorize(Wallet.offer(h.issuer, CONFIGURATION), metadata, SCOPE, APP_REDIRECT, async (start) => {
          start.searchParams.set('prompt', 'none');
          return (await walkSignIn(browser, start, { citizenId: '000000000000000000', password: 'unknown' }, (u) => u.href.startsWith(APP_REDIRECT))).url;
        });
        outcome = await retrieve(thief, tokens.accessTokenResponse.access_token, tokens.dpop);
      } catch (e) {
        outcome = `refused: ${(e as Error).message.slice(0, 200)}`;
      }
      expect(outcome).toMatch(/^refused/);
    } finally {
      vi.useRealTimers();
    }
    expect(await issuedTo(citizen.sub)).toHaveLength(0);
  }, 60_000);

  // ------------------------------------------------------------------ 2. grant.revoked names the account

  async function signedInApp() {
    const citizen = await h.citizen();
    // No offline_access: its grant does not persist a logout (oidc-provider revokes it at /session/end).
    const client = await h.client({ name: '办事指南', grantTypes: ['authorization_code'], postLogoutRedirectUris: ['https://guide.example/bye'] });
    const rp = await relyingParty(h, client);
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return { citizen, client, rp, browser, tokens };
  }

  async function endSession(browser: ScriptedBrowser, idToken: string, logoutAll: boolean) {
    const url = new URL(`${h.issuer}/session/end`);
    url.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: 'https://guide.example/bye' }).toString();
    const html = await (await browser.request(url)).text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
    expect(xsrf, 'the logout confirmation page').toBeTruthy();
    const res = await browser.request(`${h.issuer}/session/end/confirm`, { form: { xsrf: xsrf!, ...(logoutAll ? { logout: 'yes' } : {}) } });
    await res.arrayBuffer();
  }

  for (const logoutAll of [true, false]) {
    it.skipIf(!enabled)(`2${logoutAll ? 'a' : 'b'}. an RP-initiated logout (${logoutAll ? 'of every app, logout=yes' : 'of the one app'}) revokes the app's grant: its grant.revoked is on the citizen's record`, async () => {
      const { citizen, client, rp, browser, tokens } = await signedInApp();
      await endSession(browser, tokens.id_token!, logoutAll);
      // The grant went (oidc-provider's revoke: the grant.revoked event).
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
      await new Promise((r) => setTimeout(r, 300));
      const revoked = (await h.yihao.services.audit.query({ action: 'grant.revoked', limit: 1000 })).events.filter((e) => e.clientId === client.client_id);
      expect(revoked.length, 'a grant.revoked event for the app').toBeGreaterThan(0);
      expect(revoked.map((e) => e.accountId)).toContain(citizen.sub);
      expect((await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action)).toContain('grant.revoked');
    }, 60_000);
  }
});
