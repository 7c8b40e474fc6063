/**
 * What an upstream says beyond the sign-in's own claims: a phone, a citizen ID, acr, amr and
 * auth_time spelled to break things, the unsigned userinfo response, ID tokens with a missing or
 * unknown kid (Yihao must not refetch the JWKS for each), key rotation, `none` and HS256, and the
 * upstream's back-channel logout token. Each test states the secure behaviour. A logout token with a
 * NUL in its sub, sid or jti answered 500 before those became opaque ids (found by a second review
 * of the signature fix, with the rest of this file).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHmac } from 'node:crypto';
import * as oidc from 'openid-client';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { tamperable, type Json, type Tamper } from '../support/lying-upstream.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const backend = pgAvailable && redisAvailable ? 'postgres+redis' : 'sqlite';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const hs256 = (claims: Json, key: string | Buffer, header: Json = { alg: 'HS256', typ: 'JWT' }) => {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
const signedIn = (step: Step) => step.kind === 'rp' && step.url.searchParams.has('code');
const statusOf = (step: Step) => (step.kind === 'page' ? step.status : 200);

describe(`an upstream's claims, keys and logout (${backend})`, () => {
  let h: Harness;
  let upA: UpstreamOp;
  let upM: UpstreamOp;
  let tA: Tamper;
  let tM: Tamper;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.1/32'] } }) });
    upA = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'sl-a' });
    upM = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'sl-m', idTokenClaims: 'minimal' });
    tA = tamperable(upA);
    tM = tamperable(upM);
    await h.yihao.federation.upstreams.add(
      { name: 'sl-a', issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile phone citizen_id', citizenIdClaim: 'citizen_id', maxAcr: 'urn:yihao:loa:2', acrMap: { 'urn:upstream:strong': 'urn:yihao:loa:2' } },
      upA.clientSecret,
    );
    await h.yihao.federation.upstreams.add(
      { name: 'sl-m', issuer: upM.issuer, clientId: upM.clientId, scope: 'openid profile phone citizen_id', citizenIdClaim: 'citizen_id' },
      upM.clientSecret,
    );
    rp = await relyingParty(h, await h.client({ name: 'second look app', scope: 'openid profile' }));
  }, 30_000);
  afterAll(async () => {
    await upA?.close();
    await upM?.close();
    await h?.close();
  });

  async function signIn(up: UpstreamOp, name: string, login: string, browser = new ScriptedBrowser()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(browser, h, up, name, login, await authorizationUrl(rp, verifier));
    if (!signedIn(step)) return { step, browser };
    const tokens = await oidc.authorizationCodeGrant(rp, (step as Extract<Step, { kind: 'rp' }>).url, { pkceCodeVerifier: verifier });
    return { step, browser, claims: tokens.claims()!, tokens };
  }

  /** A sign-in through sl-a whose ID token is changed (and re-signed by the upstream's own key, unless `tamper` signs itself). */
  async function withIdToken(login: string, claims: Json, tamper: (jwt: string) => Promise<string>, more: Partial<Omit<Tamper, 'hits'>> = {}) {
    upA.citizens.set(login, { claims });
    tA.idToken = tamper;
    Object.assign(tA, more);
    try {
      return await signIn(upA, 'sl-a', login);
    } finally {
      tA.idToken = undefined;
      tA.discovery = undefined;
      tA.jwks = undefined;
    }
  }
  const resign = (change: (c: Json) => Json) => async (jwt: string) => upA.sign(change(decodeJwt(jwt) as Json), 'JWT');

  // --- phone -------------------------------------------------------------------------------------

  it("a verified phone claim naming an existing account's number in another format does not bind it to the new account", async () => {
    await h.citizen({ phone: '+8613800138991' });
    for (const [i, format] of ['138 0013 8991', '86-138-0013-8991', '+86 13800138991'].entries()) {
      upA.citizens.set(`sl-phone-${i}`, { claims: { citizen_id: syntheticCitizenId(), name: '借号', phone_number: format, phone_number_verified: true } });
      const r = await signIn(upA, 'sl-a', `sl-phone-${i}`);
      expect(r.claims, `sign-in ${format}`).toBeDefined();
      expect((await h.yihao.accounts.findBySub(r.claims!.sub))?.phone ?? null, format).toBeNull();
    }
  });

  it('a verified phone claim of 1000 characters, with control characters, or verified as the string "true" is never stored (no 500)', async () => {
    for (const [i, phone, verified] of [
      [0, `1${'3'.repeat(999)}`, true],
      [1, '1380013\u00008992', true],
      [2, '13800138993', 'true'],
      [3, '１３８００１３８９９４', true],
    ] as const) {
      upA.citizens.set(`sl-phone-odd-${i}`, { claims: { citizen_id: syntheticCitizenId(), name: '怪号', phone_number: phone, phone_number_verified: verified } });
      const r = await signIn(upA, 'sl-a', `sl-phone-odd-${i}`);
      expect(statusOf(r.step), `case ${i}`).not.toBe(500);
      if (r.claims) expect((await h.yihao.accounts.findBySub(r.claims.sub))?.phone ?? null, `case ${i}`).toBeNull();
    }
  });

  // --- citizen ID --------------------------------------------------------------------------------

  it("a citizen ID with a lowercase x links to the existing account with X (no second account for the same person)", async () => {
    let id = syntheticCitizenId();
    while (!id.endsWith('X')) id = syntheticCitizenId();
    const account = await h.yihao.accounts.create({ citizenId: id, name: '小写', password: 'pw-lowercase-x-Aa1' });
    upA.citizens.set('sl-lower-x', { claims: { citizen_id: ` ${id.slice(0, 17)}x\n`, name: '小写' } });
    const r = await signIn(upA, 'sl-a', 'sl-lower-x');
    expect(r.claims?.sub).toBe(account.sub);
  });

  it('a citizen ID with fullwidth digits, inner spaces or 10 000 characters is refused without creating an account (no 500)', async () => {
    const id = syntheticCitizenId();
    const fullwidth = [...id].map((c) => (c >= '0' && c <= '9' ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join('');
    for (const [i, raw] of [fullwidth, `${id.slice(0, 6)} ${id.slice(6, 14)} ${id.slice(14)}`, `${id}${' '.repeat(10_000)}x`, [id]].entries()) {
      upA.citizens.set(`sl-cid-${i}`, { claims: { citizen_id: raw, name: '号码' } });
      const r = await signIn(upA, 'sl-a', `sl-cid-${i}`);
      expect(signedIn(r.step), `case ${i}`).toBe(false);
      expect(statusOf(r.step), `case ${i}`).not.toBe(500);
    }
  });

  // --- acr / amr / auth_time ----------------------------------------------------------------------

  it('acr as an object or "__proto__"/"toString", and amr as 50 000 entries of non-strings and control characters give loa:1 and amr [fed] (no 500)', async () => {
    const amr = [...Array.from({ length: 50_000 }, (_, i) => (i % 3 === 0 ? { x: i } : i % 3 === 1 ? `m\u0000\n${i}` : i)), 'hwk', 'mfa'];
    for (const [i, acr] of [{ value: 'urn:yihao:loa:3' }, '__proto__', 'toString', ['urn:upstream:strong']].entries()) {
      const r = await withIdToken(`sl-acr-${i}`, { citizen_id: syntheticCitizenId(), name: '等级' }, resign((c) => ({ ...c, acr, amr })));
      expect(statusOf(r.step), `case ${i}`).not.toBe(500);
      if (r.claims) {
        expect(r.claims.acr, `case ${i}`).toBe('urn:yihao:loa:1');
        expect(r.claims.amr, `case ${i}`).toEqual(['fed']);
      }
    }
  });

  it('auth_time far in the future is not carried into Yihao\'s tokens (auth_time at most now)', async () => {
    const r = await withIdToken('sl-future', { citizen_id: syntheticCitizenId(), name: '未来' }, resign((c) => ({ ...c, auth_time: 99_999_999_999 })));
    expect(r.claims).toBeDefined();
    expect(r.claims!.auth_time as number).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
  });

  it('auth_time as a string, negative, or a float is refused or signs in with an auth_time no later than now (no 500)', async () => {
    for (const [i, at] of [String(Math.floor(Date.now() / 1000)), -5, Date.now() / 1000 - 10.75, 0].entries()) {
      const r = await withIdToken(`sl-at-${i}`, { citizen_id: syntheticCitizenId(), name: '时间' }, resign((c) => ({ ...c, auth_time: at })));
      expect(statusOf(r.step), `case ${i}`).not.toBe(500);
      if (r.claims) expect(r.claims.auth_time as number, `case ${i}`).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    }
  });

  // --- userinfo -----------------------------------------------------------------------------------

  it('the unsigned userinfo response cannot raise acr/amr, change sub, or bring an unusable name', async () => {
    upM.citizens.set('sl-ui', { claims: { citizen_id: syntheticCitizenId(), name: '信息' } });
    tM.userinfo = (doc) => ({ ...doc, acr: 'urn:yihao:loa:3', amr: ['hwk', 'mfa'], auth_time: 99_999_999_999, sid: 'x'.repeat(400) });
    try {
      const r = await signIn(upM, 'sl-m', 'sl-ui');
      expect(r.claims?.acr).toBe('urn:yihao:loa:1');
      expect(r.claims?.amr).toEqual(['fed']);
    } finally {
      tM.userinfo = undefined;
    }
    upM.citizens.set('sl-ui-sub', { claims: { citizen_id: syntheticCitizenId(), name: '换号' } });
    tM.userinfo = (doc) => ({ ...doc, sub: 'someone-else' });
    try {
      expect(signedIn((await signIn(upM, 'sl-m', 'sl-ui-sub')).step)).toBe(false);
    } finally {
      tM.userinfo = undefined;
    }
    upM.citizens.set('sl-ui-name', { claims: { citizen_id: syntheticCitizenId(), name: '好名' } });
    tM.userinfo = (doc) => ({ ...doc, name: '坏\u0000名\u202E' });
    try {
      const r = await signIn(upM, 'sl-m', 'sl-ui-name');
      expect(statusOf(r.step)).not.toBe(500);
      if (r.claims) expect((await h.yihao.accounts.findBySub(r.claims.sub))!.name).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    } finally {
      tM.userinfo = undefined;
    }
  });

  // --- keys ---------------------------------------------------------------------------------------

  it('ID tokens with unknown kids do not make Yihao fetch the upstream JWKS once per attempt', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    // Prime the JWKS cache with one good sign-in.
    upA.citizens.set('sl-kid-ok', { claims: { citizen_id: syntheticCitizenId(), name: '钥匙' } });
    expect((await signIn(upA, 'sl-a', 'sl-kid-ok')).claims).toBeDefined();
    const before = tA.hits['/jwks'] ?? 0;
    for (let i = 0; i < 6; i++) {
      const r = await withIdToken(`sl-kid-${i}`, { citizen_id: syntheticCitizenId(), name: '钥匙' }, async (jwt) =>
        new SignJWT(decodeJwt(jwt)).setProtectedHeader({ alg: 'RS256', kid: `unknown-${i}`, typ: 'JWT' }).sign(privateKey),
      );
      expect(signedIn(r.step)).toBe(false);
    }
    expect((tA.hits['/jwks'] ?? 0) - before).toBeLessThanOrEqual(2);
  });

  it("an ID token without a kid, signed by another key, is refused", async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const foreign = await withIdToken('sl-nokid-foreign', { citizen_id: syntheticCitizenId(), name: '无钥' }, async (jwt) =>
      new SignJWT(decodeJwt(jwt)).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(privateKey),
    );
    expect(signedIn(foreign.step)).toBe(false);
  });

  it('accepts an upstream\'s new key once Yihao\'s copy of its JWKS is a minute old (docs/federation.md: publish a key a minute before signing with it)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pub = { ...(await exportJWK(publicKey)), kid: 'rotated-2', alg: 'RS256', use: 'sig' };
    upA.citizens.set('sl-rotate-warm2', { claims: { citizen_id: syntheticCitizenId(), name: '轮换' } });
    expect((await signIn(upA, 'sl-a', 'sl-rotate-warm2')).claims).toBeDefined();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    try {
      const r = await withIdToken(
        'sl-rotate2',
        { citizen_id: syntheticCitizenId(), name: '轮换' },
        async (jwt) => new SignJWT(decodeJwt(jwt)).setProtectedHeader({ alg: 'RS256', kid: 'rotated-2', typ: 'JWT' }).sign(privateKey),
        { jwks: (doc) => ({ keys: [pub, ...doc.keys] }) },
      );
      expect(signedIn(r.step)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an upstream whose discovery says id_token_signing_alg_values_supported ["none"] cannot sign anyone in with an unsigned ID token', async () => {
    await h.yihao.federation.upstreams.add({ name: 'sl-none', issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, upA.clientSecret);
    upA.citizens.set('sl-none', { claims: { citizen_id: syntheticCitizenId(), name: '无签' } });
    tA.discovery = (doc) => ({ ...doc, id_token_signing_alg_values_supported: ['none'] });
    tA.idToken = async (jwt) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(decodeJwt(jwt))}.`;
    try {
      const r = await signIn(upA, 'sl-none', 'sl-none');
      expect(signedIn(r.step)).toBe(false);
      expect(statusOf(r.step)).not.toBe(500);
    } finally {
      tA.discovery = undefined;
      tA.idToken = undefined;
    }
  });

  it('HS256 forged with a public value (the client_id, the upstream RSA modulus, an empty key) is refused', async () => {
    const jwks = (await (await fetch(`${upA.issuer}/jwks`)).json()) as { keys: { n: string }[] };
    for (const [i, key] of [upA.clientId, jwks.keys[0]!.n, Buffer.alloc(0)].entries()) {
      await h.yihao.federation.upstreams.add({ name: `sl-hs-forged-${i}`, issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, upA.clientSecret);
      upA.citizens.set(`sl-hs-forged-${i}`, { claims: { citizen_id: syntheticCitizenId(), name: '伪造' } });
      tA.discovery = (doc) => ({ ...doc, id_token_signing_alg_values_supported: ['HS256', 'RS256'] });
      tA.idToken = async (jwt) => hs256({ ...decodeJwt(jwt), citizen_id: syntheticCitizenId() }, key);
      try {
        const r = await signIn(upA, `sl-hs-forged-${i}`, `sl-hs-forged-${i}`);
        expect(signedIn(r.step), `key ${i}`).toBe(false);
      } finally {
        tA.discovery = undefined;
        tA.idToken = undefined;
      }
    }
  });

  it('refuses an upstream signing ID tokens HS256 with the client secret: only signatures by its published keys are taken (docs/federation.md)', async () => {
    await h.yihao.federation.upstreams.add({ name: 'sl-hs-legit', issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, upA.clientSecret);
    upA.citizens.set('sl-hs-legit', { claims: { citizen_id: syntheticCitizenId(), name: '对称' } });
    tA.discovery = (doc) => ({ ...doc, id_token_signing_alg_values_supported: ['HS256'] });
    tA.idToken = async (jwt) => hs256(decodeJwt(jwt) as Json, upA.clientSecret);
    try {
      const r = await signIn(upA, 'sl-hs-legit', 'sl-hs-legit');
      expect(signedIn(r.step)).toBe(false);
    } finally {
      tA.discovery = undefined;
      tA.idToken = undefined;
    }
  });

  // --- back-channel logout ------------------------------------------------------------------------

  const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };
  let jti = 0;
  const post = (name: string, token: string) =>
    fetch(`${h.issuer}/federation/${name}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
  const base = () => ({ iss: upA.issuer, aud: upA.clientId, iat: Math.floor(Date.now() / 1000), jti: `sl-${Date.now()}-${jti++}`, events: EVENT });

  it('a logout token (signed by the upstream) with a NUL or 10 000 characters in sid, sub or jti answers 200 or 400, never 500', async () => {
    const odd = ['a\u0000b', 'x'.repeat(10_000)];
    const statuses: string[] = [];
    for (const v of odd) {
      statuses.push(`sid ${v.length}: ${(await post('sl-a', await upA.sign({ ...base(), sid: v }))).status}`);
      statuses.push(`sub ${v.length}: ${(await post('sl-a', await upA.sign({ ...base(), sub: v }))).status}`);
      statuses.push(`jti ${v.length}: ${(await post('sl-a', await upA.sign({ ...base(), sub: 'someone', jti: v }))).status}`);
    }
    expect(statuses.filter((s) => s.endsWith('500'))).toEqual([]);
  });

  it('a logout token MACed HS256 with the client secret, or with the client_id, is refused (asymmetric keys only)', async () => {
    for (const key of [upA.clientSecret, upA.clientId]) {
      const token = hs256({ ...base(), sub: 'sl-kid-ok' }, key, { alg: 'HS256', typ: 'logout+jwt' });
      expect((await post('sl-a', token)).status).toBe(400);
    }
  });

  it("the upstream's own logout token for a federated session with an unusual (but valid) sid ends exactly that session", async () => {
    upA.citizens.set('sl-bcl', { claims: { citizen_id: syntheticCitizenId(), name: '登出' } });
    const sid = `~!${'z'.repeat(200)}%'"<>`;
    const r = await withIdToken('sl-bcl', { citizen_id: syntheticCitizenId(), name: '登出' }, resign((c) => ({ ...c, sid })));
    expect(signedIn(r.step)).toBe(true);
    const alive = async () => (await r.browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }))).url.searchParams.has('code');
    expect(await alive()).toBe(true);
    expect((await post('sl-a', await upA.sign({ ...base(), sid: `${sid}x` }))).status).toBe(200);
    expect(await alive()).toBe(true);
    expect((await post('sl-a', await upA.sign({ ...base(), sid }))).status).toBe(200);
    expect(await alive()).toBe(false);
  });
});
