/**
 * The OIDC protocol surface against a hostile relying party (an app registered by another
 * department) or someone holding a leaked token: what one app holds must not work for another,
 * what the citizen ended must end at every app, and an app must hear of it in terms it can match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { logoutReceiver } from '../support/logout-receiver.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import type { ClientInput } from '../../src/clients/index.js';
import { APP_REDIRECT, phoneWithDeviceKey } from '../support/mobile-app.js';

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
