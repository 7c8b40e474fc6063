import { afterAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

async function signIn(rp: oidc.Configuration, citizen: { citizenId: string; password: string }, browser = new ScriptedBrowser()) {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = await authorizationUrl(rp, verifier);
  const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
  return { tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }), browser };
}

const jwksOf = async (url: string) => (await (await fetch(`${url}/jwks`)).json()) as JSONWebKeySet;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(backends)('lifecycle ($name)', ({ name, enabled }) => {
  const open: Harness[] = [];
  afterAll(async () => {
    for (const h of open.reverse()) await h.close();
  });

  it.skipIf(!enabled)('a restart keeps accounts, clients, keys, refresh tokens and SSO sessions', async () => {
    const first = await startHarness({ backend: name });
    const client = await first.client({ grantTypes: ['authorization_code', 'refresh_token'] });
    const citizen = await first.citizen();
    const rp1 = await relyingParty(first, client);
    const { tokens, browser } = await signIn(rp1, citizen);
    const kidsBefore = (await jwksOf(first.url)).keys.map((k) => k.kid);
    await first.stop();

    const second = await startHarness({ reuse: first });
    open.push(second);
    expect((await jwksOf(second.url)).keys.map((k) => k.kid)).toEqual(kidsBefore);
    const rp2 = await relyingParty(second, client);
    // The refresh token and the client (with its secret) survived.
    const refreshed = await oidc.refreshTokenGrant(rp2, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(citizen.sub);
    // The SSO session survived: prompt=none with the same browser gets a code, no password asked.
    const silent = await authorizationUrl(rp2, oidc.randomPKCECodeVerifier(), { prompt: 'none' });
    const back = await browser.follow(silent);
    expect(back.url.searchParams.get('code')).toBeTruthy();
    // The account still signs in.
    expect((await signIn(rp2, citizen)).tokens.claims()!.sub).toBe(citizen.sub);
  });

  it.skipIf(!enabled)('a key rotation reaches every running instance; old tokens still verify', async () => {
    const fast = (c: Harness['config']) => ({ ...c, keys: { ...c.keys, refreshSeconds: 0.2 } });
    const a = await startHarness({ backend: name, overrides: fast });
    open.push(a);
    const b = await startHarness({ share: a, overrides: fast });
    open.push(b);
    const client = await a.client({ grantTypes: ['authorization_code', 'refresh_token'] });
    const citizen = await a.citizen();
    const rp = await relyingParty(a, client);
    const before = (await signIn(rp, citizen)).tokens.id_token!;
    const oldKid = decodeProtectedHeader(before).kid!;

    const rotated = await a.yihao.signingKeys.rotate(); // what `yihao keys rotate` does
    const newKid = rotated.find((k) => k.alg === 'ES256')!.kid;
    expect(newKid).not.toBe(oldKid);
    for (const instance of [a, b]) {
      await waitFor(`instance ${instance.url} to publish the new key`, async () =>
        (await jwksOf(instance.url)).keys.some((k) => k.kid === newKid) ? true : undefined,
      );
    }

    const after = (await signIn(rp, citizen)).tokens.id_token!;
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    // Instance B signs with the new key as well, without a restart.
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const viaB = await fetch(`${b.url}/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: (await signIn(rp, citizen)).tokens.refresh_token! }),
    });
    expect(viaB.status).toBe(200);
    expect(decodeProtectedHeader(((await viaB.json()) as { id_token: string }).id_token).kid).toBe(newKid);

    const jwks = createLocalJWKSet(await jwksOf(b.url));
    await expect(jwtVerify(before, jwks, { issuer: a.issuer })).resolves.toBeTruthy();
    await expect(jwtVerify(after, jwks, { issuer: a.issuer })).resolves.toBeTruthy();
  });
});
