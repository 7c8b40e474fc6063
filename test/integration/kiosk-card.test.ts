/**
 * The kiosk's ID-card path, end to end over HTTP: a kiosk (a confidential client authenticating with
 * private_key_jwt, simulated with openid-client and jose) reads the card chip, matches the face, and
 * posts a card assertion signed with its registered key through `urn:yihao:grant-type:id-card`.
 * The relying party sees loa:3, amr sc+face, channel kiosk, and the same `sub` as on the web. Every
 * refusal is a clear OAuth error that changes nothing. Kiosk sessions set no cookies, end on idle and
 * on card removal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { scriptedSignIn, ScriptedBrowser } from '../support/scripted-browser.js';
import { oauthError, REDIRECT, authorizationUrl } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { ID_CARD_GRANT, LOA3, simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

// Long enough that a loaded CI machine's request latency stays well inside the margins below.
const IDLE_SECONDS = 5;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];


describe.each(backends)('kiosk ID-card sign-in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({
      backend: name,
      overrides: (c) => ({ ...c, kiosk: { idleSeconds: IDLE_SECONDS, cardAssertionMaxAgeSeconds: 60 } }),
    });
    kiosk = await simulatedKiosk(h);
  });
  afterAll(async () => h?.close());

  /** What in the stores belongs to the account: nothing may change on a refusal. */
  const footprint = async (sub: string) => {
    const account = (await h.yihao.accounts.findBySub(sub))!;
    return { assurance: account.assurance, index: (await h.yihao.services.accountIndex.list(sub)).length, audit: (await h.yihao.services.audit.forAccount(sub)).length };
  };

  it.skipIf(!enabled)('signs the citizen in at loa:3 with amr sc+face and channel kiosk, an ID token, no cookie, and raises identity proofing to the chip', async () => {
    const citizen = await h.citizen();
    // Every response the kiosk gets, to see that none sets a cookie.
    const setCookies: string[] = [];
    kiosk.rp[oidc.customFetch] = async (url, init) => {
      const res = await fetch(url, init as RequestInit);
      setCookies.push(...res.headers.getSetCookie());
      return res;
    };
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA3, amr: ['sc', 'face'], channel: 'kiosk', name: citizen.name });
    expect(claims.sid).toEqual(expect.any(String));
    expect(claims.auth_time).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(tokens.expires_in).toBeLessThanOrEqual(IDLE_SECONDS);
    expect(tokens.refresh_token).toBeTruthy();
    // The citizen ID travels in the assertion only: never back in a token or the response.
    expect(JSON.stringify(tokens)).not.toContain(citizen.citizenId);

    const info = await oidc.fetchUserInfo(kiosk.rp, tokens.access_token, citizen.sub);
    expect(info).toMatchObject({ sub: citizen.sub, channel: 'kiosk' });
    const facts = { active: true, sub: citizen.sub, acr: LOA3, amr: ['sc', 'face'], channel: 'kiosk', auth_time: claims.auth_time };
    expect(await oidc.tokenIntrospection(kiosk.rp, tokens.access_token)).toMatchObject(facts);
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.assurance).toBe('id_chip');
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'login.succeeded')).toMatchObject({ channel: 'kiosk', clientId: kiosk.client.client_id, details: expect.objectContaining({ method: 'id_card', acr: LOA3 }) });
    expect(JSON.stringify(events)).not.toContain(citizen.citizenId);

    const refreshed = await oidc.refreshTokenGrant(kiosk.rp, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ acr: LOA3, amr: ['sc', 'face'], channel: 'kiosk', auth_time: claims.auth_time });
    expect(await oidc.tokenIntrospection(kiosk.rp, refreshed.access_token)).toMatchObject(facts);
    expect(setCookies).toEqual([]);
    delete kiosk.rp[oidc.customFetch];
  });

  it.skipIf(!enabled)('gives one client the same sub for the same person on the web and at the kiosk (pairwise)', async () => {
    const citizen = await h.citizen();
    const both = await simulatedKiosk(h, {
      name: '政务服务',
      grantTypes: ['authorization_code', ID_CARD_GRANT as never, 'refresh_token'],
      redirectUris: [REDIRECT],
      allowedChannels: ['web', 'kiosk'],
      subjectType: 'pairwise',
      firstParty: true,
    });
    const atKiosk = (await both.cardLogin({ citizenId: citizen.citizenId })).claims()!;
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(both.rp, verifier, { scope: 'openid' }), { identifier: citizen.citizenId, password: citizen.password });
    const onWeb = (await oidc.authorizationCodeGrant(both.rp, callback, { pkceCodeVerifier: verifier })).claims()!;
    expect(onWeb).toMatchObject({ channel: 'web', acr: 'urn:yihao:loa:1' });
    expect(atKiosk).toMatchObject({ channel: 'kiosk', acr: LOA3 });
    expect(atKiosk.sub).toBe(onWeb.sub);
    expect(atKiosk.sub).not.toBe(citizen.sub);
  });

  it.skipIf(!enabled)('refuses a forged signature, a replayed nonce, a stale timestamp, a failed face match, a wrong issuer or typ, each with invalid_grant and nothing changed', async () => {
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    const { privateKey: stranger } = await generateKeyPair('ES256');
    const refusals: [string, () => Promise<unknown>][] = [
      ['the card assertion signature is not valid for this kiosk', () => kiosk.cardLogin({ citizenId: citizen.citizenId, key: stranger })],
      ['the card assertion is stale', () => kiosk.cardLogin({ citizenId: citizen.citizenId, iat: Math.floor(Date.now() / 1000) - 120 })],
      ['the card assertion is issued in the future', () => kiosk.cardLogin({ citizenId: citizen.citizenId, iat: Math.floor(Date.now() / 1000) + 600 })],
      ['the card assertion was not issued by this kiosk', () => kiosk.cardLogin({ citizenId: citizen.citizenId, iss: 'another-kiosk' })],
      ['the card assertion must have typ "card-assertion+jwt"', () => kiosk.cardLogin({ citizenId: citizen.citizenId, typ: 'JWT' })],
    ];
    for (const [description, attempt] of refusals) expect(await oauthError(attempt())).toEqual({ error: 'invalid_grant', error_description: description });
    // A symmetric signature proves nothing about the kiosk's key.
    const hmac = await new SignJWT({ citizen_id: citizen.citizenId, face_match: { result: 'pass' } })
      .setProtectedHeader({ alg: 'HS256', typ: 'card-assertion+jwt' })
      .setIssuer(kiosk.client.client_id)
      .setAudience(h.issuer)
      .setIssuedAt()
      .setJti('a-nonce-of-sixteen-chars')
      .sign(new TextEncoder().encode('a shared secret of at least 32 bytes!'));
    expect(await oauthError(kiosk.cardLogin(hmac))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion must be signed with the kiosk key' });

    expect(await oauthError(kiosk.cardLogin('not-a-jwt'))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion is not a JWT' });
    expect(await oauthError(oidc.genericGrantRequest(kiosk.rp, ID_CARD_GRANT, { scope: 'openid' }))).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'assertion'" });
    const noFace = await new SignJWT({ citizen_id: citizen.citizenId })
      .setProtectedHeader({ alg: 'ES256', typ: 'card-assertion+jwt' })
      .setIssuer(kiosk.client.client_id)
      .setAudience(h.issuer)
      .setIssuedAt()
      .setJti('another-nonce-16-chars')
      .sign(kiosk.privateKey);
    expect(await oauthError(kiosk.cardLogin(noFace))).toEqual({ error: 'invalid_grant', error_description: "the card assertion's face_match is missing or malformed" });
    expect(await oauthError(kiosk.cardLogin({ citizenId: citizen.citizenId, face: 'fail' }))).toEqual({ error: 'invalid_grant', error_description: 'the face did not match the card' });
    const unknown = syntheticCitizenId();
    const noAccount = await oauthError(kiosk.cardLogin({ citizenId: unknown }));
    expect(noAccount).toEqual({ error: 'invalid_grant', error_description: 'there is no active account for this card' });
    expect(await footprint(citizen.sub)).toEqual(before);

    // The same assertion twice: the second is refused, and the first session is untouched.
    const once = await kiosk.assertion({ citizenId: citizen.citizenId });
    const first = await kiosk.cardLogin(once);
    const afterFirst = await footprint(citizen.sub);
    expect(await oauthError(kiosk.cardLogin(once))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion was already used' });
    expect(await footprint(citizen.sub)).toEqual(afterFirst);
    expect((await oidc.tokenIntrospection(kiosk.rp, first.access_token)).active).toBe(true);

    // The refused card reads are on record against the kiosk, for its operators.
    const refused = await h.yihao.stores.db('audit_events').where({ action: 'login.failed', actor_id: kiosk.client.client_id }).select('details');
    const reasons = refused.map((r: { details: string }) => (JSON.parse(r.details) as { reason: string }).reason);
    expect(reasons).toEqual(expect.arrayContaining(['the card assertion was already used', 'the card assertion is stale', 'the card assertion signature is not valid for this kiosk', 'face_mismatch']));
    expect(JSON.stringify(refused)).not.toContain(citizen.citizenId);
  });

  it.skipIf(!enabled)('refuses a card assertion whose alg is unknown, not a string, or not a signature algorithm with invalid_grant, on record against the kiosk, never a 500', async () => {
    const reader = await simulatedKiosk(h);
    const citizen = await h.citizen();
    const before = await footprint(citizen.sub);
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { iss: reader.client.client_id, aud: h.issuer, iat: Math.floor(Date.now() / 1000), jti: 'an-unsigned-nonce-16', citizen_id: citizen.citizenId, face_match: { result: 'pass' } };
    const unsigned = (header: Record<string, unknown>) => `${b64({ ...header, typ: 'card-assertion+jwt' })}.${b64(claims)}.AAAA`;
    const algs: unknown[] = ['foo', ['ES256'], 'RSA-OAEP', 42, 'none', 'HS256'];
    for (const alg of algs) {
      expect([alg, await oauthError(reader.cardLogin(unsigned({ alg })))]).toEqual([alg, { error: 'invalid_grant', error_description: 'the card assertion must be signed with the kiosk key' }]);
    }
    expect(await oauthError(reader.cardLogin(unsigned({ alg: 'ES256', kid: { a: 1 } })))).toMatchObject({ error: 'invalid_grant' });
    expect(await footprint(citizen.sub)).toEqual(before);
    const refused = await h.yihao.stores.db('audit_events').where({ action: 'login.failed', actor_id: reader.client.client_id }).select('details');
    const details = refused.map((r: { details: unknown }) => (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as { method: string; reason: string });
    expect(details).toHaveLength(algs.length + 1);
    expect(details.filter((d) => d.reason === 'the card assertion must be signed with the kiosk key')).toHaveLength(algs.length);
    expect(JSON.stringify(refused)).not.toContain(citizen.citizenId);
  });

  it.skipIf(!enabled)('refuses a card whose number is not a valid citizen ID number, on record against the kiosk without the number', async () => {
    const reader = await simulatedKiosk(h);
    const valid = syntheticCitizenId();
    // The right length and digits, the wrong check character.
    const badChecksum = `${valid.slice(0, 17)}${valid.endsWith('0') ? '1' : '0'}`;
    for (const number of ['123', badChecksum]) {
      expect(await oauthError(reader.cardLogin({ citizenId: number }))).toEqual({ error: 'invalid_grant', error_description: 'the card number is not a valid citizen ID number' });
    }
    const refused = await h.yihao.stores.db('audit_events').where({ action: 'login.failed', actor_id: reader.client.client_id }).select('details');
    const details = refused.map((r: { details: unknown }) => (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as { method: string; reason: string });
    expect(details).toEqual([
      { method: 'id_card', reason: 'invalid_citizen_id' },
      { method: 'id_card', reason: 'invalid_citizen_id' },
    ]);
    expect(JSON.stringify(refused)).not.toContain(badChecksum);
  });

  it.skipIf(!enabled)('refuses an unknown kiosk and a kiosk that signs with someone else\u2019s key with invalid_client', async () => {
    const citizen = await h.citizen();
    const impostor = await oidc.discovery(new URL(h.issuer), 'yh_no_such_kiosk', undefined, oidc.PrivateKeyJwt(kiosk.privateKey), { execute: [oidc.allowInsecureRequests] });
    const assertion = await kiosk.assertion({ citizenId: citizen.citizenId });
    expect(await oauthError(oidc.genericGrantRequest(impostor, ID_CARD_GRANT, { assertion }))).toMatchObject({ error: 'invalid_client' });

    const { privateKey: stranger } = await generateKeyPair('ES256');
    const stolenId = await oidc.discovery(new URL(h.issuer), kiosk.client.client_id, undefined, oidc.PrivateKeyJwt(stranger), { execute: [oidc.allowInsecureRequests] });
    expect(await oauthError(oidc.genericGrantRequest(stolenId, ID_CARD_GRANT, { assertion }))).toMatchObject({ error: 'invalid_client' });
    // The assertion was never spent: the real kiosk can still use it.
    expect((await kiosk.cardLogin(assertion)).claims()).toMatchObject({ sub: citizen.sub });
  });

  it.skipIf(!enabled)('refuses the grant to a client that authenticates with a secret or does not accept the kiosk channel', async () => {
    const citizen = await h.citizen();
    const secretClient = await h.client({ grantTypes: [ID_CARD_GRANT as never], redirectUris: [], scope: 'openid' });
    const rp = await oidc.discovery(new URL(h.issuer), secretClient.client_id, secretClient.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const assertion = await kiosk.assertion({ citizenId: citizen.citizenId });
    expect(await oauthError(oidc.genericGrantRequest(rp, ID_CARD_GRANT, { assertion }))).toMatchObject({ error: 'unauthorized_client' });

    const webOnly = await simulatedKiosk(h, { allowedChannels: ['web'] });
    expect(await oauthError(webOnly.cardLogin({ citizenId: citizen.citizenId }))).toEqual({
      error: 'unauthorized_client',
      error_description: 'this client does not accept sign-ins through the kiosk channel',
    });
  });

  it.skipIf(!enabled)('refuses a kiosk whose tokens must be DPoP-bound a card login without a DPoP proof, spending nothing; with a proof its tokens are bound to that key', async () => {
    const citizen = await h.citizen();
    const bound = await simulatedKiosk(h, { dpopRequired: true });
    const before = await footprint(citizen.sub);
    const assertion = await bound.assertion({ citizenId: citizen.citizenId });
    // RFC 9449 §5.2: as oidc-provider's own grants answer such a client.
    expect(await oauthError(bound.cardLogin(assertion))).toEqual({ error: 'invalid_grant', error_description: 'DPoP proof JWT not provided' });
    expect(await footprint(citizen.sub)).toEqual(before);

    // The same card read with a proof: the refusal spent neither the assertion nor anything else.
    const key = await oidc.randomDPoPKeyPair('ES256');
    const tokens = await oidc.genericGrantRequest(bound.rp, ID_CARD_GRANT, { assertion, scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(bound.rp, key) });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(await oidc.tokenIntrospection(bound.rp, tokens.access_token)).toMatchObject({ active: true, sub: citizen.sub, cnf: { jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) } });

    // The card is removed: the kiosk ends the session with its bound token and a proof of the key.
    const end = new URL('/kiosk/session/end', h.url);
    const withoutProof = await fetch(end, { method: 'POST', headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(withoutProof.status).toBe(401);
    expect(await withoutProof.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    // RFC 9449 §7.1: a bound token goes under the DPoP scheme; as Bearer it is refused, even with a good proof.
    const proof = async () =>
      new SignJWT({ htm: 'POST', htu: end.href, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash('sha256').update(tokens.access_token).digest('base64url') })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) })
        .sign(key.privateKey);
    expect((await fetch(end, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}`, dpop: await proof() } })).status).toBe(401);
    const ended = await oidc.fetchProtectedResource(bound.rp, tokens.access_token, end, 'POST', null, undefined, { DPoP: oidc.getDPoPHandle(bound.rp, key) });
    expect(ended.status).toBe(204);
    expect((await oidc.tokenIntrospection(bound.rp, tokens.access_token)).active).toBe(false);
  });

  it.skipIf(!enabled)('binds a kiosk\u2019s tokens to the DPoP key it sends a proof of, and refuses a bad proof with invalid_dpop_proof, spending nothing', async () => {
    const citizen = await h.citizen();
    const sender = await simulatedKiosk(h);
    const before = await footprint(citizen.sub);
    const assertion = await sender.assertion({ citizenId: citizen.citizenId });
    sender.rp[oidc.customFetch] = (url, init) => fetch(url, { ...(init as RequestInit), headers: { ...init.headers, dpop: 'not-a-proof' } });
    expect(await oauthError(sender.cardLogin(assertion))).toMatchObject({ error: 'invalid_dpop_proof' });
    expect(await footprint(citizen.sub)).toEqual(before);

    sender.rp[oidc.customFetch] = (url, init) => fetch(url, init as RequestInit);
    const key = await oidc.randomDPoPKeyPair('ES256');
    const tokens = await oidc.genericGrantRequest(sender.rp, ID_CARD_GRANT, { assertion, scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(sender.rp, key) });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(await oidc.tokenIntrospection(sender.rp, tokens.access_token)).toMatchObject({ active: true, sub: citizen.sub, cnf: { jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) } });
  });

  it.skipIf(!enabled)('ends a kiosk session on idle: a refresh in time extends it, one after the idle time fails', async () => {
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    await new Promise((r) => setTimeout(r, 2500));
    const beforeRefresh = Date.now();
    const refreshed = await oidc.refreshTokenGrant(kiosk.rp, tokens.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ sub: citizen.sub, acr: LOA3, amr: ['sc', 'face'], channel: 'kiosk' });
    const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    // Past the idle time of the card read, 3 s after the last use: still alive.
    await sleepUntil(beforeRefresh + 3000);
    expect((await oidc.tokenIntrospection(kiosk.rp, refreshed.access_token)).active).toBe(true);
    // Past the idle time of the last use (the refresh): ended.
    await sleepUntil(beforeRefresh + (IDLE_SECONDS + 1) * 1000);
    expect((await oidc.tokenIntrospection(kiosk.rp, refreshed.access_token)).active).toBe(false);
    expect(await oauthError(oidc.refreshTokenGrant(kiosk.rp, refreshed.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('ends a kiosk session on card removal: the kiosk presents its token and every token of the session fails', async () => {
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const end = (token: string) => fetch(`${h.url}/kiosk/session/end`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

    const nonsense = await end('not-a-token');
    expect(nonsense.status).toBe(401);
    expect(nonsense.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await fetch(`${h.url}/kiosk/session/end`, { method: 'POST' })).status).toBe(401);
    // An unbound token under the DPoP scheme: the caller claims a key the token is not bound to.
    expect((await fetch(`${h.url}/kiosk/session/end`, { method: 'POST', headers: { authorization: `DPoP ${tokens.access_token}` } })).status).toBe(401);

    expect((await end(tokens.access_token)).status).toBe(204);
    expect((await oidc.tokenIntrospection(kiosk.rp, tokens.access_token)).active).toBe(false);
    expect(await oauthError(oidc.refreshTokenGrant(kiosk.rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await end(tokens.access_token)).status).toBe(401);
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    expect(events.find((e) => e.action === 'session.ended')).toMatchObject({ channel: 'kiosk', details: expect.objectContaining({ reason: 'card_removed' }) });
  });

  it.skipIf(!enabled)('advertises the ID-card grant and loa:3 in discovery', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[]; acr_values_supported: string[] };
    expect(meta.grant_types_supported).toContain(ID_CARD_GRANT);
    expect(meta.acr_values_supported).toContain(LOA3);
  });
});

describe('a kiosk that publishes its keys at a jwks_uri', () => {
  let h: Harness;
  const server = createServer();
  afterAll(async () => {
    server.close();
    await h?.close();
  });

  it('verifies the card assertion with the keys fetched from the kiosk (an allowed internal network)', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] });
    server.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] } }) });
    const citizen = await h.citizen();
    const kiosk = await simulatedKiosk(h, { jwks: undefined, jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks` });
    const rp = await oidc.discovery(new URL(h.issuer), kiosk.client.client_id, undefined, oidc.PrivateKeyJwt({ key: privateKey, kid: 'k1' }), { execute: [oidc.allowInsecureRequests] });
    const assertion = await kiosk.assertion({ citizenId: citizen.citizenId, key: privateKey, kid: 'k1' });
    const tokens = await oidc.genericGrantRequest(rp, ID_CARD_GRANT, { assertion, scope: 'openid' });
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: LOA3, channel: 'kiosk' });
  });
});

describe.skipIf(!(pgAvailable && redisAvailable))('kiosk card assertions across instances (postgres+redis)', () => {
  let a: Harness;
  let b: Harness;
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('lets exactly one of two instances accept the same assertion posted to both at once', async () => {
    a = await startHarness({ backend: 'postgres+redis' });
    b = await startHarness({ share: a });
    const kiosk = await simulatedKiosk(a);
    const citizen = await a.citizen();
    const assertion = await kiosk.assertion({ citizenId: citizen.citizenId });
    const onB = await oidc.discovery(new URL(a.issuer), kiosk.client.client_id, undefined, oidc.PrivateKeyJwt(kiosk.privateKey), { execute: [oidc.allowInsecureRequests] });
    // Both instances share the issuer; B is reached on its own port.
    const tokenB = `${b.url}/token`;
    const results = await Promise.allSettled([
      kiosk.cardLogin(assertion),
      oidc.genericGrantRequest(onB, ID_CARD_GRANT, { assertion }, { [oidc.customFetch]: (url: string, init: RequestInit) => fetch(url.replace(`${a.issuer}/token`, tokenB), init) } as never),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ error: 'invalid_grant', error_description: 'the card assertion was already used' });
  });
});
