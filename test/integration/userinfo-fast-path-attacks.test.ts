/**
 * Attacks on userinfo's fast path (src/oidc/userinfo-fast-path.ts). Two instances on one
 * store, the second without the fast path (oidc-provider's own userinfo), asked the same things
 * after each change an attacker or an operator can make: every answer must be the same, at once,
 * and every refusal must be oidc-provider's. (A helper's review; every attack held.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import * as jose from 'jose';
import { randomUUID, createHash } from 'node:crypto';
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

type Init = { path?: string; method?: string; headers?: Record<string, string>; body?: string };

describe.each(backends)('userinfo fast path under attack ($backend)', ({ backend, enabled }) => {
  let fast: Harness;
  let reference: Harness;
  /** Where a change made by an operator or the citizen is written: the other instance where instances can share (Redis), else the one asked. */
  let writer: Harness;
  const { built, watch: watchClaims } = claimsWatch();

  beforeAll(async () => {
    if (!enabled) return;
    fast = await startHarness({ backend });
    reference = await startHarness({ share: fast, fastPaths: false });
    // Without Redis an instance hears no change made on another (docs/admin.md: embedded SQLite is one instance).
    writer = backend === 'postgres+redis' ? reference : fast;
    watchClaims(fast);
    watchClaims(reference);
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });

  async function ask(h: Harness, init: Init): Promise<Answer> {
    const res = await fetch(`${h.url.replace(/\/+$/, '')}${init.path ?? '/me'}`, { method: init.method ?? 'GET', headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) });
    const headers = Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));
    return { status: res.status, headers, body: await res.text() };
  }

  async function compare(init: Init) {
    const before = { fast: built.get(fast)!.length, reference: built.get(reference)!.length };
    const answers = { fast: await ask(fast, init), reference: await ask(reference, init) };
    expect(answers.fast, JSON.stringify(init).slice(0, 300)).toEqual(answers.reference);
    return { answer: answers.fast, builtBy: { fast: built.get(fast)!.slice(before.fast), reference: built.get(reference)!.slice(before.reference) } };
  }

  async function signIn(input: Partial<ClientInput>, params: Record<string, string>, dpopKey?: oidc.CryptoKeyPair) {
    const citizen = await fast.citizen({ phone: `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}` });
    const client = await fast.client({ redirectUris: [REDIRECT], ...input });
    const rp = await relyingParty(fast, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, params), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }, undefined, dpopKey ? { DPoP: oidc.getDPoPHandle(rp, dpopKey) } : {});
    return { tokens, citizen, client, rp };
  }

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** Rewrites a client's live metadata as an operator's approved change (or suspension) does, through the writing instance's store. */
  async function rewriteClient(clientId: string, change: (metadata: Record<string, unknown>) => Record<string, unknown> | undefined) {
    const metadata = (await new writer.yihao.services.Adapter('Client').find(clientId)) as Record<string, unknown>;
    const next = change({ ...metadata });
    // Without Redis, each instance drops only its own cached copy: the write goes through both (one instance is the supported shape).
    for (const h of backend === 'postgres+redis' ? [writer] : [fast, reference]) {
      const clients = new h.yihao.services.Adapter('Client');
      if (next) await clients.upsert(clientId, next as never);
      else await clients.destroy(clientId);
    }
    return metadata;
  }

  it.skipIf(!enabled)('an account whose name and phone changed after issue cannot be served the old values by the fast path', async () => {
    const { tokens } = await signIn({ scope: 'openid profile phone' }, { scope: 'openid profile phone' });
    const first = await compare({ headers: bearer(tokens.access_token) });
    expect(first.builtBy.fast).toEqual(['fast path']);
    const account = (await fast.yihao.accounts.findBySub(tokens.claims()!.sub))!;
    const phone = `138${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    await writer.yihao.stores.db('accounts').where({ id: account.id }).update({ phone, name: '王改名' });
    const after = await compare({ headers: bearer(tokens.access_token) });
    expect(after.answer.status).toBe(200);
    expect(JSON.parse(after.answer.body)).toMatchObject({ phone_number: phone, name: '王改名' });
    expect(after.builtBy.fast).toEqual(['fast path']);
  });

  it.skipIf(!enabled)('a disabled-then-re-enabled account, or a locked one, is served exactly as oidc-provider serves it', async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const account = (await fast.yihao.accounts.findBySub(tokens.claims()!.sub))!;
    await writer.yihao.accounts.setStatus(account.id, 'disabled');
    const disabled = await compare({ headers: bearer(tokens.access_token) });
    expect({ status: disabled.answer.status, builtBy: disabled.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
    await writer.yihao.accounts.setStatus(account.id, 'locked');
    await compare({ headers: bearer(tokens.access_token) });
    await writer.yihao.accounts.setStatus(account.id, 'active');
    await compare({ headers: bearer(tokens.access_token) });
  });

  it.skipIf(!enabled)('a token of an account signed out everywhere (on the other instance) cannot be served by the fast path', async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    expect((await compare({ headers: bearer(tokens.access_token) })).builtBy.fast).toEqual(['fast path']);
    await writer.yihao.signOut.everywhere(tokens.claims()!.sub);
    const after = await compare({ headers: bearer(tokens.access_token) });
    expect({ status: after.answer.status, builtBy: after.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
  });

  it.skipIf(!enabled)('a client suspended by an operator (on the other instance) cannot go on being served by the fast path, and is served again once resumed', async () => {
    const { tokens, client } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    // Cached on both instances.
    expect((await compare({ headers: bearer(tokens.access_token) })).builtBy.fast).toEqual(['fast path']);
    const metadata = await rewriteClient(client.client_id, () => undefined);
    const suspended = await compare({ headers: bearer(tokens.access_token) });
    expect({ status: suspended.answer.status, builtBy: suspended.builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
    await rewriteClient(client.client_id, () => metadata);
    const resumed = await compare({ headers: bearer(tokens.access_token) });
    expect(resumed.answer.status).toBe(200);
  });

  it.skipIf(!enabled)('a client whose settings changed after issue (policy lowered, scopes narrowed, pairwise, signed userinfo) is served as oidc-provider serves it, at once', async () => {
    const { tokens, client } = await signIn({ scope: 'openid profile phone citizen_id', citizenIdRelease: 'full' }, { scope: 'openid profile phone citizen_id' });
    const first = await compare({ headers: bearer(tokens.access_token) });
    expect(JSON.parse(first.answer.body)).toHaveProperty('citizen_id');
    expect((JSON.parse(first.answer.body) as { citizen_id: string }).citizen_id).not.toContain('*');

    await rewriteClient(client.client_id, (m) => ({ ...m, citizen_id_release: 'masked' }));
    const masked = await compare({ headers: bearer(tokens.access_token) });
    expect((JSON.parse(masked.answer.body) as { citizen_id: string }).citizen_id).toContain('*');

    await rewriteClient(client.client_id, (m) => ({ ...m, citizen_id_release: 'none' }));
    const none = await compare({ headers: bearer(tokens.access_token) });
    expect(JSON.parse(none.answer.body)).not.toHaveProperty('citizen_id');

    await rewriteClient(client.client_id, (m) => ({ ...m, scope: 'openid profile' }));
    await compare({ headers: bearer(tokens.access_token) });

    await rewriteClient(client.client_id, (m) => ({ ...m, subject_type: 'pairwise' }));
    const pairwise = await compare({ headers: bearer(tokens.access_token) });
    expect(pairwise.answer.status).toBe(200);
    expect((JSON.parse(pairwise.answer.body) as { sub: string }).sub).not.toBe(tokens.claims()!.sub);

    await rewriteClient(client.client_id, (m) => ({ ...m, userinfo_signed_response_alg: 'ES256' }));
    const signed = await compare({ headers: bearer(tokens.access_token) });
    // oidc-provider answers JSON here too (signed userinfo needs its jwtUserinfo feature, which is off): the two agree.
    expect(signed.answer.status).toBe(200);
  });

  it.skipIf(!enabled)('a grant narrowed after issue (phone taken back) cannot have the fast path release the phone', async () => {
    const { tokens } = await signIn({ scope: 'openid profile phone' }, { scope: 'openid profile phone', claims: JSON.stringify({ userinfo: { phone_number: null } }) });
    expect(JSON.parse((await compare({ headers: bearer(tokens.access_token) })).answer.body)).toHaveProperty('phone_number');
    const provider = writer.yihao.holder.current as Provider;
    const token = (await provider.AccessToken.find(tokens.access_token))!;
    const grant = (await provider.Grant.find(token.grantId!))!;
    grant.openid = { scope: 'openid profile', claims: [] };
    grant.rejectOIDCScope('phone');
    grant.rejectOIDCClaims(['phone_number', 'phone_number_verified']);
    await grant.save();
    const after = await compare({ headers: bearer(tokens.access_token) });
    expect(after.answer.status).toBe(200);
    expect(JSON.parse(after.answer.body)).not.toHaveProperty('phone_number');
  });

  it.skipIf(!enabled)('the claims parameter (essential, value constraints, claims outside the client\'s registration) cannot release more through the fast path', async () => {
    const claims = {
      userinfo: {
        citizen_id: { essential: true },
        phone_number: { value: '+8613900000000' },
        name: { values: ['nobody'], essential: true },
        gender: { essential: false },
        verified_claims: { verification: { trust_framework: null }, claims: { name: null } },
        acr: { values: ['urn:yihao:loa:3'] },
      },
    };
    const { tokens } = await signIn({ scope: 'openid profile phone' }, { scope: 'openid', claims: JSON.stringify(claims) });
    const { answer, builtBy } = await compare({ headers: bearer(tokens.access_token) });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).not.toHaveProperty('citizen_id');
    expect(JSON.parse(answer.body)).not.toHaveProperty('verified_claims');
    expect(builtBy).toEqual({ fast: ['fast path'], reference: ['oidc-provider'] });
  });

  it.skipIf(!enabled)('header and method tricks are answered exactly as oidc-provider answers them', async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const value = tokens.access_token;
    const requests: Init[] = [
      { headers: { authorization: `Bearer ${value} ` } },
      { headers: { authorization: `Bearer\t${value}` } },
      { headers: { authorization: `BEARER ${value}` } },
      { headers: { authorization: `bearer ${value}=` } },
      { headers: { authorization: `Bearer ${value}==` } },
      { headers: { authorization: `Bearer ${encodeURIComponent(value + '=')}` } },
      { headers: { authorization: `Bearer ${value}${'A'.repeat(6000)}` } },
      { headers: { authorization: `Bearer ${value},Bearer ${value}` } },
      { headers: { authorization: `Bearer ${value}`, 'content-length': '0' } },
      { headers: bearer(value), method: 'HEAD' },
      { headers: bearer(value), path: '/me?' },
      { headers: bearer(value), path: '/me/' },
      { headers: bearer(value), path: '/ME' },
      { headers: bearer(value), path: '//me' },
      { headers: bearer(value), path: '/me;x' },
      { headers: { ...bearer(value), origin: 'null' } },
      { headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }, method: 'OPTIONS' },
      { headers: { ...bearer(value), accept: 'application/jwt' } },
    ];
    for (const request of requests) {
      const { answer, builtBy } = await compare(request);
      if (answer.status !== 200) expect(builtBy.fast, JSON.stringify(request).slice(0, 200)).toEqual([]);
    }
  });

  it.skipIf(!enabled)('a DPoP-bound token with a proof of the wrong key, for another URL, or replayed, cannot be served', async () => {
    const key = await oidc.randomDPoPKeyPair('ES256');
    const { tokens } = await signIn({ scope: 'openid profile', dpopRequired: true }, { scope: 'openid profile' }, key);
    const ath = createHash('sha256').update(tokens.access_token).digest('base64url');
    const proof = async (pair: oidc.CryptoKeyPair, claims: Record<string, unknown> = {}) => {
      const jwk = await jose.exportJWK(pair.publicKey);
      return new jose.SignJWT({ htm: 'GET', htu: new URL('/me', fast.issuer).href, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath, ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(pair.privateKey);
    };
    const dpop = (p: string) => ({ authorization: `DPoP ${tokens.access_token}`, dpop: p });
    const other = await oidc.randomDPoPKeyPair('ES256');
    for (const p of [await proof(other), await proof(key, { htu: 'https://elsewhere.example/me' }), await proof(key, { htm: 'POST' }), await proof(key, { ath: 'x' })]) {
      const { answer, builtBy } = await compare({ headers: dpop(p) });
      expect({ status: answer.status, builtBy }).toEqual({ status: 401, builtBy: { fast: [], reference: [] } });
    }
    // A good proof works once, on either instance; its replay is refused on both.
    const good = await proof(key);
    expect((await ask(fast, { headers: dpop(good) })).status).toBe(200);
    expect((await ask(fast, { headers: dpop(good) })).status).toBe(401);
    expect((await ask(reference, { headers: dpop(good) })).status).toBe(401);
    // The proof as a Bearer token's companion.
    const asBearer = await compare({ headers: { ...bearer(tokens.access_token), dpop: await proof(key) } });
    expect({ status: asBearer.answer.status, builtBy: asBearer.builtBy }).toEqual({ status: 400, builtBy: { fast: [], reference: [] } });
  });

  it.skipIf(!enabled)('calls racing a revocation: once the revocation returned, no call is answered by the fast path', async () => {
    const { tokens } = await signIn({ scope: 'openid profile' }, { scope: 'openid profile' });
    const provider = writer.yihao.holder.current as Provider;
    const token = (await provider.AccessToken.find(tokens.access_token))!;
    const racing = Array.from({ length: 20 }, () => ask(fast, { headers: bearer(tokens.access_token) }));
    await writer.yihao.signOut.revokeGrant(token.grantId!);
    await Promise.all(racing);
    const after = await Promise.all(Array.from({ length: 20 }, () => ask(fast, { headers: bearer(tokens.access_token) })));
    expect(after.map((a) => a.status)).toEqual(Array(20).fill(401));
    const both = await compare({ headers: bearer(tokens.access_token) });
    expect(both.answer.status).toBe(401);
  });
});
