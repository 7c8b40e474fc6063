/**
 * userinfo's fast path (src/oidc/userinfo-fast-path.ts) against oidc-provider's own userinfo: two
 * instances on one store, the second without the fast path, asked the same things. Every answer
 * must be the same, byte for byte (status, headers, body). The fast path must answer the ordinary
 * calls itself, and must leave every refusal, and every request it does not fully understand, to
 * oidc-provider: a token bound to a key, one whose grant was revoked, whose account was disabled, or
 * that expired is refused exactly as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import { claimsWatch } from '../support/claims-watch.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import type { ClientInput } from '../../src/clients/index.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** Headers that differ between any two answers (or instances) whatever answered them. */
const VARYING = new Set(['date', 'x-request-id', 'keep-alive', 'connection']);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

describe.each(backends)('userinfo fast path ($backend)', ({ backend, enabled }) => {
  let fast: Harness;
  let reference: Harness;
  const { built, watch: watchClaims } = claimsWatch();

  beforeAll(async () => {
    if (!enabled) return;
    fast = await startHarness({ backend });
    reference = await startHarness({ share: fast, fastPaths: false });
    watchClaims(fast);
    watchClaims(reference);
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });

  async function ask(h: Harness, init: { path?: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
    const res = await fetch(new URL(init.path ?? '/me', h.url), { method: init.method ?? 'GET', headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) });
    const headers = Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));
    return { status: res.status, headers, body: await res.text() };
  }

  /** Both instances' answers to one request (which must be the same), and who built the claims on each. */
  async function compare(init: Parameters<typeof ask>[1]) {
    const before = { fast: built.get(fast)!.length, reference: built.get(reference)!.length };
    const answers = { fast: await ask(fast, init), reference: await ask(reference, init) };
    expect(answers.fast).toEqual(answers.reference);
    return { answer: answers.fast, builtBy: { fast: built.get(fast)!.slice(before.fast), reference: built.get(reference)!.slice(before.reference) } };
  }

  async function signIn(input: Partial<ClientInput>, params: Record<string, string>, dpopKey?: oidc.CryptoKeyPair) {
    // A phone number of its own: a number binds one account.
    const citizen = await fast.citizen({ phone: `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}` });
    const client = await fast.client({ redirectUris: [REDIRECT], ...input });
    const rp = await relyingParty(fast, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, params), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, undefined, dpopKey ? { DPoP: oidc.getDPoPHandle(rp, dpopKey) } : {});
    return { tokens, citizen, client, rp };
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it.skipIf(!enabled)('answers an ordinary call itself, with what oidc-provider answers: scopes, claims requested, pairwise subjects, citizen-ID policies', async () => {
    const cases: [Partial<ClientInput>, Record<string, string>][] = [
      [{ scope: 'openid profile phone' }, { scope: 'openid profile phone' }],
      [{ scope: 'openid profile', subjectType: 'pairwise' }, { scope: 'openid profile' }],
      // The claims parameter asks for phone_number at userinfo, outside any scope asked for.
      [{ scope: 'openid profile phone' }, { scope: 'openid', claims: JSON.stringify({ userinfo: { phone_number: null, name: { essential: true } } }) }],
      [{ scope: 'openid citizen_id', citizenIdRelease: 'masked' }, { scope: 'openid citizen_id' }],
      [{ scope: 'openid citizen_id', citizenIdRelease: 'pseudonym' }, { scope: 'openid citizen_id' }],
    ];
    for (const [input, params] of cases) {
      const { tokens, rp } = await signIn(input, params);
      const { answer, builtBy } = await compare({ headers: bearer(tokens.access_token) });
      expect(answer.status).toBe(200);
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(JSON.parse(answer.body)).toMatchObject({ sub: tokens.claims()!.sub });
      expect(builtBy).toEqual({ fast: ['fast path'], reference: ['oidc-provider'] });
      // openid-client, as a relying party, accepts it.
      expect((await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).sub).toBe(tokens.claims()!.sub);
    }
  });

  it.skipIf(!enabled)('withholds citizen_id from a grant allowed before the client\'s policy revealed more, as oidc-provider does', async () => {
    const { tokens, client } = await signIn({ scope: 'openid citizen_id', citizenIdRelease: 'masked' }, { scope: 'openid citizen_id' });
    // What an approved raise publishes (admin/client-service.ts): the new policy, and the second from which consents count.
    const clients = new fast.yihao.services.Adapter('Client');
    const metadata = await clients.find(client.client_id);
    await clients.upsert(client.client_id, { ...metadata, citizen_id_release: 'full', citizen_id_consent_since: Math.floor(Date.now() / 1000) + 1 } as never);
    const { answer, builtBy } = await compare({ headers: bearer(tokens.access_token) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ sub: tokens.claims()!.sub });
    expect(JSON.parse(answer.body)).not.toHaveProperty('citizen_id');
    expect(builtBy).toEqual({ fast: ['fast path'], reference: ['oidc-provider'] });
  });

  it.skipIf(!enabled)('refuses a DPoP-bound token presented as a Bearer token, as oidc-provider does, and serves it with its proof', async () => {
    const key = await oidc.randomDPoPKeyPair('ES256');
    const { tokens, rp } = await signIn({ scope: 'openid profile', dpopRequired: true }, { scope: 'openid profile' }, key);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    const stolen = await compare({ headers: bearer(tokens.access_token) });
    expect({ status: stolen.answer.status, builtBy: stolen.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
    const proven = await oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub, { DPoP: oidc.getDPoPHandle(rp, key) });
    expect(proven.sub).toBe(tokens.claims()!.sub);
  });

  it.skipIf(!enabled)('refuses a token whose grant was revoked, or whose account was disabled, as oidc-provider does', async () => {
    const provider = fast.yihao.holder.current as Provider;
    const revoked = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const token = await provider.AccessToken.find(revoked.tokens.access_token);
    await (await provider.Grant.find(token!.grantId!))!.destroy();
    const afterRevoke = await compare({ headers: bearer(revoked.tokens.access_token) });
    expect({ status: afterRevoke.answer.status, builtBy: afterRevoke.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });

    const disabled = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const account = await fast.yihao.accounts.findBySub(disabled.tokens.claims()!.sub);
    expect((await compare({ headers: bearer(disabled.tokens.access_token) })).builtBy.fast).toEqual(['fast path']);
    await fast.yihao.accounts.setStatus(account!.id, 'disabled');
    const afterDisable = await compare({ headers: bearer(disabled.tokens.access_token) });
    expect({ status: afterDisable.answer.status, builtBy: afterDisable.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
  });

  it.skipIf(!enabled)('refuses an expired token, an unknown one, one without the openid scope and one for another resource, as oidc-provider does', async () => {
    const provider = fast.yihao.holder.current as Provider;
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const issued = (await provider.AccessToken.find(tokens.access_token))!;
    const client = (await provider.Client.find(issued.clientId!))!;
    const mint = (scope: string, extra: { expiresIn?: number; aud?: string } = {}) =>
      new provider.AccessToken({ accountId: issued.accountId!, client, grantId: issued.grantId!, gty: 'authorization_code', scope, ...extra }).save();
    const shortLived = await mint('openid profile', { expiresIn: 1 });
    const noOpenid = await mint('profile');
    // A token for another resource server (RFC 8707) is not one for userinfo, whatever its scope.
    const forAnApi = await mint('openid profile', { aud: 'https://api.example.test/' });
    // A second past its expiry, with a margin for a loaded machine.
    await new Promise((r) => setTimeout(r, 2500));
    for (const value of [shortLived, noOpenid, forAnApi, 'an-unknown-token-of-some-length', tokens.access_token.slice(0, -2)]) {
      const { answer, builtBy } = await compare({ headers: bearer(value) });
      expect({ status: answer.status, builtBy }).toEqual({ status: answer.status === 403 ? 403 : 401, builtBy: { fast: [], reference: [] } });
    }
  });

  it.skipIf(!enabled)('leaves to oidc-provider what it does not fully understand: other schemes, a second token, a scope parameter, POST, a cross-origin call', async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const value = tokens.access_token;
    const requests: Parameters<typeof ask>[1][] = [
      { headers: { authorization: `Basic ${value}` } },
      { headers: { authorization: `Bearer  ${value}` } },
      { headers: { authorization: `DPoP ${value}` } },
      { headers: bearer(value), path: `/me?access_token=${value}` },
      { headers: bearer(value), path: '/me?scope=openid%20profile' },
      { headers: bearer(value), path: '/me?scope=openid%20phone' },
      { headers: { ...bearer(value), 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', body: '' },
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, method: 'POST', body: `access_token=${value}` },
      { headers: { ...bearer(value), origin: 'https://elsewhere.example' } },
      { headers: {} },
    ];
    for (const request of requests) expect((await compare(request)).builtBy.fast, JSON.stringify(request)).not.toContain('fast path');
    // The scheme's case does not matter to oidc-provider, nor to the fast path.
    expect((await compare({ headers: { authorization: `bEaReR ${value}` } })).builtBy).toEqual({ fast: ['fast path'], reference: ['oidc-provider'] });
  });
});
