/**
 * Every JWT Yihao accepts from outside, attacked as a class. Kiosk card assertions, the
 * government app's device-key assertions (JWT bearer grant) and device signatures, DPoP proofs at
 * Yihao's own APIs, and private_key_jwt client assertions at oidc-provider's token endpoint: alg
 * "none", alg confusion (HS256 keyed with the public key), a header naming the attacker's own key,
 * hostile kids, unknown `crit` extensions, bad times, payloads that are not JSON objects, tokens of
 * one kind posted where another is expected, replays and 100 KB tokens. A secure server answers each
 * with a clean 4xx (never a 500), and accepts no forgery.
 * Found by a review: a client assertion whose `exp` lay years ahead authenticated the client (and
 * 1e20 answered 500 from the Redis store); it failed before both fixes (src/oidc/fapi2.ts,
 * storage/adapter-types.ts `keptSeconds`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { oauthError } from '../support/relying-party.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { APP_REDIRECT, JWT_BEARER, MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { startUpstreamOp } from '../support/upstream-op.js';
import { browserSignIn, LOA2 } from '../support/admin-operators.js';
import { Wallet } from '../support/wallet.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** An unsigned JWT (alg none / None), as an attacker would hand-craft it. */
const unsigned = (header: Record<string, unknown>, payload: unknown) => `${b64(header)}.${b64(payload)}.`;
/** HS256 keyed with some bytes the attacker knows (the public key's JWK JSON, or its x coordinate). */
const hs256 = (header: Record<string, unknown>, payload: Record<string, unknown>, secret: Uint8Array) =>
  new SignJWT(payload).setProtectedHeader({ ...header, alg: 'HS256' }).sign(secret);
const now = () => Math.floor(Date.now() / 1000);
const jti = () => randomBytes(16).toString('base64url');

describe.each(backends)('JWT inputs under attack ($name)', { timeout: 120_000 }, ({ name, enabled }) => {
  let h: Harness;
  let kiosk: SimulatedKiosk;
  let kioskJwk: JWK;
  let app: { client_id: string };

  beforeAll(async () => {
    if (!enabled) return;
    // Loopback allowed outbound: the upstream below (for its logout tokens' JWKS) listens there.
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    kiosk = await simulatedKiosk(h);
    kioskJwk = ((await new h.yihao.services.Adapter('Client').find(kiosk.client.client_id)) as unknown as { jwks: { keys: JWK[] } }).jwks.keys[0]!;
    app = await registerMobileApp(h);
  });
  afterAll(async () => h?.close());

  const cardClaims = (citizenId: string, extra: Record<string, unknown> = {}) => ({
    iss: kiosk.client.client_id,
    aud: h.issuer,
    iat: now(),
    jti: jti(),
    citizen_id: citizenId,
    face_match: { result: 'pass', score: 0.97 },
    ...extra,
  });
  const kioskHeader = () => ({ alg: 'ES256', typ: 'card-assertion+jwt', kid: kioskJwk.kid });
  const signCard = (payload: Record<string, unknown>, header: Record<string, unknown> = kioskHeader(), key: CryptoKey = kiosk.privateKey) =>
    new SignJWT(payload).setProtectedHeader(header as never).sign(key);

  it.skipIf(!enabled)('card assertion: refuses alg none/None, HS256 keyed with the kiosk’s public key, a jwk/jku/x5u header naming the attacker’s key, and a kid of another kiosk or with path/SQL/NUL characters (400 invalid_grant)', async () => {
    const citizen = await h.citizen();
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = await exportJWK(attacker.publicKey);
    const publicOnly = { kty: kioskJwk.kty, crv: kioskJwk.crv, x: kioskJwk.x, y: kioskJwk.y };
    const forgeries = [
      unsigned({ alg: 'none', typ: 'card-assertion+jwt' }, cardClaims(citizen.citizenId)),
      unsigned({ alg: 'None', typ: 'card-assertion+jwt', kid: kioskJwk.kid }, cardClaims(citizen.citizenId)),
      await hs256({ typ: 'card-assertion+jwt', kid: kioskJwk.kid }, cardClaims(citizen.citizenId), Buffer.from(JSON.stringify(kioskJwk))),
      await hs256({ typ: 'card-assertion+jwt', kid: kioskJwk.kid }, cardClaims(citizen.citizenId), Buffer.from(JSON.stringify(publicOnly))),
      await hs256({ typ: 'card-assertion+jwt' }, cardClaims(citizen.citizenId), Buffer.from(kioskJwk.x!, 'base64url')),
      await signCard(cardClaims(citizen.citizenId), { alg: 'ES256', typ: 'card-assertion+jwt', jwk: attackerJwk }, attacker.privateKey),
      await signCard(cardClaims(citizen.citizenId), { alg: 'ES256', typ: 'card-assertion+jwt', kid: kioskJwk.kid, jwk: attackerJwk }, attacker.privateKey),
      await signCard(cardClaims(citizen.citizenId), { alg: 'ES256', typ: 'card-assertion+jwt', jku: 'https://attacker.example/jwks', x5u: 'https://attacker.example/cert' }, attacker.privateKey),
    ];
    for (const forged of forgeries) {
      expect(await oauthError(kiosk.cardLogin(forged)), forged.slice(0, 80)).toMatchObject({ error: 'invalid_grant' });
    }
    // The same claims signed by the kiosk's own key sign the citizen in: the refusals above are about the forgery.
    expect((await kiosk.cardLogin(await signCard(cardClaims(citizen.citizenId)))).claims()).toMatchObject({ sub: citizen.sub });
    {
    const citizen = await h.citizen();
    const other = await simulatedKiosk(h, { name: '另一台终端' });
    const otherRead = await other.assertion({ citizenId: citizen.citizenId, iss: kiosk.client.client_id });
    // Kiosk B's key (its own kid) signing a read that says it is kiosk A, posted by A.
    expect(await oauthError(kiosk.cardLogin(otherRead))).toMatchObject({ error: 'invalid_grant' });
    for (const kid of ["' OR '1'='1", '../../../etc/passwd', 'a\u0000b', 'x'.repeat(5000), '%00', '{"$ne":null}']) {
      const read = await signCard(cardClaims(citizen.citizenId), { alg: 'ES256', typ: 'card-assertion+jwt', kid });
      expect(await oauthError(kiosk.cardLogin(read)), JSON.stringify(kid).slice(0, 40)).toMatchObject({ error: 'invalid_grant' });
    }
    // A kid that is not a string.
    const numeric = await signCard(cardClaims(citizen.citizenId), { alg: 'ES256', typ: 'card-assertion+jwt', kid: 7 });
    expect(await oauthError(kiosk.cardLogin(numeric))).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it.skipIf(!enabled)('card assertion signed with the real key: an unknown crit extension, a payload that is a JSON array or not JSON, iat an hour off, or a token of another kind (its client assertion, another typ) are refused', async () => {
    const citizen = await h.citizen();
    const critical = await new SignJWT(cardClaims(citizen.citizenId))
      .setProtectedHeader({ ...kioskHeader(), crit: ['urn:attacker:must-understand'], 'urn:attacker:must-understand': true } as never)
      .sign(kiosk.privateKey, { crit: { 'urn:attacker:must-understand': true } });
    expect(await oauthError(kiosk.cardLogin(critical))).toMatchObject({ error: 'invalid_grant' });
    const sign = (bytes: string) => new CompactSign(new TextEncoder().encode(bytes)).setProtectedHeader(kioskHeader()).sign(kiosk.privateKey);
    for (const body of [JSON.stringify([cardClaims(citizen.citizenId)]), 'not json at all', '"a string"', 'null', '']) {
      expect(await oauthError(kiosk.cardLogin(await sign(body))), body.slice(0, 30)).toMatchObject({ error: 'invalid_grant' });
    }
    for (const iat of [now() - 3600, now() + 3600, 0, 1e15]) {
      expect(await oauthError(kiosk.cardLogin(await signCard(cardClaims(citizen.citizenId, { iat })))), String(iat)).toMatchObject({ error: 'invalid_grant' });
    }
    {
    const citizen = await h.citizen();
    // The kiosk's own private_key_jwt client assertion: same key, same iss, same aud.
    const clientAssertion = await new SignJWT({ jti: jti() })
      .setProtectedHeader({ alg: 'ES256', kid: kioskJwk.kid })
      .setIssuer(kiosk.client.client_id)
      .setSubject(kiosk.client.client_id)
      .setAudience(h.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(kiosk.privateKey);
    expect(await oauthError(kiosk.cardLogin(clientAssertion))).toMatchObject({ error: 'invalid_grant' });
    for (const typ of ['dpop+jwt', 'device-key-assertion+jwt', 'JWT', 'card-assertion+JWT']) {
      const read = await signCard(cardClaims(citizen.citizenId), { ...kioskHeader(), typ });
      expect(await oauthError(kiosk.cardLogin(read)), typ).toMatchObject({ error: 'invalid_grant' });
    }
    }
  });

  it.skipIf(!enabled)('card grant and device-key grant: a 100 KB assertion gets a 4xx, never a 500', async () => {
    const citizen = await h.citizen();
    const huge = await signCard(cardClaims(citizen.citizenId, { padding: 'A'.repeat(100_000) }));
    const err = await kiosk.cardLogin(huge).then(
      () => ({ status: 200 }),
      (e: { status?: number; error?: string; response?: Response }) => ({ status: e.status ?? e.response?.status, error: e.error }),
    );
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(err.status).toBeLessThan(500);
    // The device-key grant, raw: a public client posting a 100 KB assertion.
    const phone = await MobileApp.create(h, app);
    const assertion = `${b64({ alg: 'ES256', typ: 'device-key-assertion+jwt', kid: 'k'.repeat(60) })}.${b64({ pad: 'A'.repeat(100_000) })}.${'A'.repeat(86)}`;
    const dpop = await phone.dpopProof('POST', `${h.issuer}/token`, '');
    const res = await fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop },
      body: new URLSearchParams({ grant_type: JWT_BEARER, client_id: app.client_id, assertion, scope: 'openid' }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it.skipIf(!enabled)('device-key grant: refuses alg none, HS256 keyed with the registered device JWK, a jwk header with the attacker’s key under the victim’s kid, hostile kids, and a replayed assertion', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const kid = phone.deviceKeyId!;
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const claims = async () => ({
      iss: app.client_id,
      sub: kid,
      aud: h.issuer,
      iat: now(),
      exp: now() + 60,
      nonce: await phone.challenge(),
      jti: jti(),
      cnf: { jkt: await phone.dpopThumbprint() },
    });
    const forgeries = [
      unsigned({ alg: 'none', typ: 'device-key-assertion+jwt', kid }, await claims()),
      unsigned({ alg: 'None', typ: 'device-key-assertion+jwt', kid }, await claims()),
      await hs256({ typ: 'device-key-assertion+jwt', kid }, await claims(), Buffer.from(JSON.stringify(phone.deviceJwk))),
      await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ: 'device-key-assertion+jwt', kid, jwk: await exportJWK(attacker.publicKey) }).sign(attacker.privateKey),
      ...(await Promise.all(["' OR '1'='1", '../device-keys/x', 'a\u0000b', '*', '%'].map((k) => phone.assertion('x'.repeat(20), { kid: k })))),
    ];
    for (const forged of forgeries) {
      expect(await oauthError(phone.loginWithDeviceKey(forged)), forged.slice(0, 80)).toMatchObject({ error: 'invalid_grant' });
    }
    // The genuine app still signs in afterwards: nothing above spent its key's budget.
    expect((await phone.loginWithDeviceKey()).access_token).toBeTruthy();
  });

  it.skipIf(!enabled)('device-key grant: the key’s own device signature, a DPoP proof, an assertion for another audience, with an unknown crit, or with nbf in the future are no login', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const kid = phone.deviceKeyId!;
    const key = phone.deviceKeys.privateKey;
    const jkt = await phone.dpopThumbprint();
    const base = async (extra: Record<string, unknown> = {}) => ({ iss: app.client_id, sub: kid, aud: h.issuer, iat: now(), exp: now() + 60, nonce: await phone.challenge(), jti: jti(), cnf: { jkt }, ...extra });
    const signed = async (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', typ: 'device-key-assertion+jwt', kid }, opts?: { crit: Record<string, boolean> }) =>
      new SignJWT(payload).setProtectedHeader(header as never).sign(key, opts);
    const attempts: [string, string][] = [
      // An API call's device signature (same key, same kid), with the challenge and claims of an assertion inside.
      ['device-signature typ', await signed(await base({ htm: 'POST', htu: `${h.issuer}/mobile/approvals/x` }), { alg: 'ES256', typ: 'device-signature+jwt', kid })],
      ['dpop typ', await signed(await base({ htm: 'POST', htu: `${h.issuer}/token` }), { alg: 'ES256', typ: 'dpop+jwt', kid })],
      ['no typ', await signed(await base(), { alg: 'ES256', kid })],
      ['aud token endpoint of another server', await signed(await base({ aud: 'https://other-idp.example.gov.cn' }))],
      ['aud userinfo', await signed(await base({ aud: `${h.issuer}/me` }))],
      ['iss another client', await signed(await base({ iss: 'someone-else' }))],
      ['crit', await signed(await base(), { alg: 'ES256', typ: 'device-key-assertion+jwt', kid, crit: ['urn:x'], 'urn:x': 1 }, { crit: { 'urn:x': true } })],
      ['nbf future', await signed(await base({ nbf: now() + 3600 }))],
      ['iat far past, exp far future', await signed(await base({ iat: now() - 86_400, exp: now() + 10 * 365 * 86_400 }))],
      ['iat far future', await signed(await base({ iat: now() + 86_400, exp: now() + 2 * 86_400 }))],
      ['exp missing', await signed(Object.fromEntries(Object.entries(await base()).filter(([k]) => k !== 'exp')))],
    ];
    for (const [what, jwt] of attempts) {
      expect(await oauthError(phone.loginWithDeviceKey(jwt)), what).toMatchObject({ error: 'invalid_grant' });
    }
    expect((await phone.loginWithDeviceKey(await signed(await base()))).access_token, 'the genuine assertion').toBeTruthy();
    // Payload a JSON array, or not JSON, signed with the device key.
    for (const body of ['[1,2]', 'nope']) {
      const jws = await new CompactSign(new TextEncoder().encode(body)).setProtectedHeader({ alg: 'ES256', typ: 'device-key-assertion+jwt', kid }).sign(key);
      expect(await oauthError(phone.loginWithDeviceKey(jws)), body).toMatchObject({ error: 'invalid_grant' });
    }
    {
    const { phone } = await phoneWithDeviceKey(h, app);
    const assertion = await phone.assertion(await phone.challenge());
    expect((await phone.loginWithDeviceKey(assertion)).access_token).toBeTruthy();
    expect(await oauthError(phone.loginWithDeviceKey(assertion))).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it.skipIf(!enabled)('mobile API: DPoP proofs with alg none, an HS256 oct jwk, a private jwk, iat an hour off, or a replayed jti are refused 401 (never 500)', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    await phone.loginWithDeviceKey();
    const url = `${h.issuer}/mobile/approvals`;
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(phone.accessToken!))).toString('base64url');
    const claims = (extra: Record<string, unknown> = {}) => ({ htm: 'GET', htu: url, iat: now(), jti: jti(), ath, ...extra });
    const secret = randomBytes(32);
    const dpopKeys = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(dpopKeys.privateKey);
    const proofs: [string, string][] = [
      ['none', unsigned({ alg: 'none', typ: 'dpop+jwt', jwk: await exportJWK(dpopKeys.publicKey) }, claims())],
      ['HS256 oct jwk', await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: secret.toString('base64url') } as never }).sign(secret)],
      ['private jwk', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk }).sign(dpopKeys.privateKey)],
      ['no jwk, kid', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', kid: 'x' }).sign(dpopKeys.privateKey)],
      ['array payload', await new CompactSign(new TextEncoder().encode('[1]')).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(dpopKeys.publicKey) }).sign(dpopKeys.privateKey)],
    ];
    for (const [what, dpop] of proofs) {
      const res = await fetch(`${h.url}/mobile/approvals`, { headers: { authorization: `DPoP ${phone.accessToken}`, dpop, 'device-signature': await phone.deviceSignature('GET', url, '') } });
      expect(res.status, what).toBe(401);
    }
    // The app's own DPoP key, but an hour off.
    for (const iat of [now() - 3600, now() + 3600]) {
      const res = await phone.call('GET', '/mobile/approvals', undefined, { reuse: { dpop: await resignDpop(phone, url, iat), signature: await phone.deviceSignature('GET', url, '') } });
      expect(res.status, `iat ${iat}`).toBe(401);
    }
    // Replay of a good call's proofs.
    expect((await phone.approvals()).status).toBe(200);
    expect((await phone.call('GET', '/mobile/approvals', undefined, { reuse: phone.lastProofs! })).status).toBe(401);
  });

  it.skipIf(!enabled)('mobile API: a device signature with a jwk header naming the attacker’s key under the victim’s kid, alg none, or a device-key assertion in its place is refused', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    await phone.loginWithDeviceKey();
    const url = `${h.issuer}/mobile/approvals`;
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(phone.accessToken!))).toString('base64url');
    const bsh = Buffer.from(await crypto.subtle.digest('SHA-256', new Uint8Array())).toString('base64url');
    const claims = () => ({ htm: 'GET', htu: url, bsh, ath, iat: now(), jti: jti() });
    const signatures: [string, string][] = [
      ['jwk header', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'device-signature+jwt', kid: phone.deviceKeyId, jwk: await exportJWK(attacker.publicKey) }).sign(attacker.privateKey)],
      ['none', unsigned({ alg: 'none', typ: 'device-signature+jwt', kid: phone.deviceKeyId }, claims())],
      ['HS256 device jwk', await hs256({ typ: 'device-signature+jwt', kid: phone.deviceKeyId }, claims(), Buffer.from(JSON.stringify(phone.deviceJwk)))],
      ['assertion typ', await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'device-key-assertion+jwt', kid: phone.deviceKeyId }).sign(phone.deviceKeys.privateKey)],
    ];
    expect((await phone.approvals()).status, 'the genuine call').toBe(200);
    for (const [what, signature] of signatures) {
      const res = await phone.call('GET', '/mobile/approvals', undefined, { reuse: { dpop: await phone.dpopProof('GET', url), signature } });
      expect(res.status, what).toBe(401);
    }
  });

  /** A kiosk's client assertion (RFC 7523), valid unless `extra` or `header` say otherwise, and a token request carrying it. */
  const kioskAssertion = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = { alg: 'ES256', kid: kioskJwk.kid }) =>
    new SignJWT({ iss: kiosk.client.client_id, sub: kiosk.client.client_id, aud: h.issuer, iat: now(), exp: now() + 60, jti: jti(), ...extra })
      .setProtectedHeader(header as never)
      .sign(kiosk.privateKey);
  const kioskTokenRequest = (clientAssertion: string) =>
    fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:yihao:grant-type:id-card',
        assertion: 'not-a-card-read',
        client_id: kiosk.client.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: clientAssertion,
      }),
    });

  it.skipIf(!enabled)('private_key_jwt: a client assertion with alg none, HS256 keyed with the public JWK, or replayed (same jti) is refused invalid_client', async () => {
    const claims = { iss: kiosk.client.client_id, sub: kiosk.client.client_id, aud: h.issuer, iat: now(), exp: now() + 60, jti: jti() };
    const forged = [
      unsigned({ alg: 'none' }, claims),
      await hs256({ kid: kioskJwk.kid }, { ...claims, jti: jti() }, Buffer.from(JSON.stringify(kioskJwk))),
    ];
    for (const f of forged) {
      const res = await kioskTokenRequest(f);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
    }
    // Replay: the first use authenticates (the grant then refuses the card read), the second is refused as a client.
    const once = await kioskAssertion();
    const first = await kioskTokenRequest(once);
    expect(((await first.json()) as { error?: string }).error).toBe('invalid_grant');
    const second = await kioskTokenRequest(once);
    expect(second.status).toBe(401);
    expect(((await second.json()) as { error: string }).error).toBe('invalid_client');
  });

  it.skipIf(!enabled)('private_key_jwt: a client assertion whose exp lies years (or 1e20 seconds) ahead is refused invalid_client, never answered with a 500', async () => {
    // Such an assertion is a standing credential: minted once, it works (once) at any time within decades,
    // and its replay record is kept as long. RFC 7523 §3 lets the server refuse it; 1e20 broke the Redis store.
    const answers: unknown[] = [];
    const exps = [now() + 10 * 365 * 86_400, 1e15, 1e20];
    for (const exp of exps) {
      const res = await kioskTokenRequest(await kioskAssertion({ exp }));
      const body = (await res.json()) as { error?: string };
      answers.push({ exp, status: res.status, error: body.error });
    }
    expect(answers).toEqual(exps.map((exp) => ({ exp, status: 401, error: 'invalid_client' })));
  });

  it.skipIf(!enabled)('upstream logout token: alg none, HS256 keyed with the client secret or the upstream JWKS, a jwk header of the attacker’s key, an iat/nbf ahead, a foreign aud and 100 KB get a clean 400 and end nothing', async () => {
    const up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'hostile-up' });
    try {
      await h.yihao.federation.upstreams.add({ name: 'hostile-up', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, up.clientSecret);
      const post = (token: string) =>
        fetch(`${h.url}/federation/hostile-up/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
      const claims = (extra: Record<string, unknown> = {}) => ({
        iss: up.issuer,
        aud: up.clientId,
        iat: now(),
        jti: jti(),
        sub: 'victim',
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        ...extra,
      });
      const upstreamJwks = await (await fetch(`${up.issuer}/jwks`)).text();
      const upKid = (JSON.parse(upstreamJwks) as { keys: JWK[] }).keys[0]!.kid!;
      const attacker = await generateKeyPair('RS256', { extractable: true });
      const forged: [string, string][] = [
        ['none', unsigned({ alg: 'none', typ: 'logout+jwt' }, claims())],
        ['None', unsigned({ alg: 'None', typ: 'logout+jwt', kid: upKid }, claims())],
        ['HS256 client secret', await hs256({ typ: 'logout+jwt' }, claims(), Buffer.from(up.clientSecret))],
        ['HS256 upstream jwks', await hs256({ typ: 'logout+jwt', kid: upKid }, claims(), Buffer.from(upstreamJwks))],
        ['jwk header', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: upKid, jwk: await exportJWK(attacker.publicKey) }).sign(attacker.privateKey)],
        ['jku header', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', jku: 'https://attacker.example/jwks' }).sign(attacker.privateKey)],
        ['hostile kid', await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: "../../' OR 1=1" }).sign(attacker.privateKey)],
        ['iat far future', await up.sign(claims({ iat: now() + 86_400 }))],
        ['nbf future', await up.sign(claims({ nbf: now() + 3600 }))],
        ['exp past', await up.sign(claims({ exp: now() - 3600 }))],
        ['aud array without us', await up.sign(claims({ aud: ['another-app', 'third'] }))],
        ['100 KB', await up.sign(claims({ padding: 'A'.repeat(100_000) }))],
      ];
      for (const [what, token] of forged) {
        const res = await post(token);
        expect(res.status, what).toBeGreaterThanOrEqual(400);
        expect(res.status, what).toBeLessThan(500);
      }
      // The upstream's genuine token is still taken afterwards: the refusals above are about the forgeries.
      const genuine = await post(await up.sign(claims()));
      expect(genuine.status, await genuine.clone().text()).toBe(200);
    } finally {
      await up.close();
    }
  });

  it.skipIf(!enabled)('oidc-provider’s own inputs: an unsigned request object, an alg none or HS256 id_token_hint, and a 100 KB id_token_hint are refused with a 4xx', async () => {
    const rpClient = await h.client({});
    const base = new URL(`${h.url}/auth`);
    const unsignedRequest = unsigned({ alg: 'none' }, { iss: rpClient.client_id, aud: h.issuer, client_id: rpClient.client_id, response_type: 'code', redirect_uri: 'http://127.0.0.1:9/cb', scope: 'openid', nonce: 'n' });
    base.search = new URLSearchParams({ client_id: rpClient.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/cb', request: unsignedRequest }).toString();
    const auth = await fetch(base, { redirect: 'manual' });
    const where = auth.headers.get('location') ?? '';
    // Refused: either an error page (4xx) or an error redirect; never a code, never a 500.
    expect(auth.status).toBeLessThan(500);
    expect(where).not.toMatch(/[?&]code=/);
    if (auth.status === 303 || auth.status === 302) expect(where).toMatch(/error=/);
    const hints = [
      unsigned({ alg: 'none' }, { iss: h.issuer, aud: rpClient.client_id, sub: 'x', iat: now(), exp: now() + 60 }),
      await hs256({}, { iss: h.issuer, aud: rpClient.client_id, sub: 'x', iat: now(), exp: now() + 60 }, Buffer.from(rpClient.client_secret ?? 'secret')),
      `${b64({ alg: 'ES256' })}.${b64({ pad: 'A'.repeat(100_000) })}.${'A'.repeat(86)}`,
    ];
    for (const hint of hints) {
      const res = await fetch(`${h.url}/session/end`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ id_token_hint: hint, client_id: rpClient.client_id }), redirect: 'manual' });
      expect(res.status, hint.slice(0, 30)).toBeGreaterThanOrEqual(400);
      expect(res.status, hint.slice(0, 30)).toBeLessThan(500);
    }
  });

  it.skipIf(!enabled)('OID4VCI key proofs: alg none, HS256 keyed with the wallet JWK, a DPoP proof in its place, a kid or x5c instead of jwk, a private jwk, an unknown crit, an array payload are invalid_proof (never a 500, never a credential)', async () => {
    const { client_id: walletApp } = await registerMobileApp(h, { minAcr: LOA2 });
    const citizen = await h.citizen();
    const wallet = await Wallet.create(walletApp);
    const metadata = await wallet.client.resolveIssuerMetadata(h.issuer);
    const tokens = await wallet.authorize(Wallet.offer(h.issuer, 'yihao_identity_sd_jwt'), metadata, 'identity_credential', APP_REDIRECT, browserSignIn(citizen, APP_REDIRECT));
    const accessToken = tokens.accessTokenResponse.access_token;
    // Sent by hand (the wallet library refuses to send an unsigned JWT), with the wallet's DPoP proof.
    const send = async (proof: string): Promise<{ status: number; error?: string; credentials?: number }> => {
      const url = `${h.issuer}/credentials/credential`;
      const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))).toString('base64url');
      const dpopProof = await new SignJWT({ htm: 'POST', htu: url, iat: now(), jti: jti(), ath })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: wallet.dpopKey.publicJwk })
        .sign(await importJWK(wallet.dpopKey.privateJwk, 'ES256'));
      const res = await fetch(`${h.url}/credentials/credential`, {
        method: 'POST',
        headers: { authorization: `DPoP ${accessToken}`, dpop: dpopProof, 'content-type': 'application/json' },
        body: JSON.stringify({ credential_configuration_id: 'yihao_identity_sd_jwt', proofs: { jwt: [proof] } }),
      });
      const body = (await res.json().catch(() => ({}))) as { error?: string; credentials?: unknown[] };
      return { status: res.status, ...(body.error ? { error: body.error } : {}), ...(body.credentials ? { credentials: body.credentials.length } : {}) };
    };
    const nonce = async () => (await wallet.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
    const claims = async () => ({ aud: h.issuer, iat: now(), nonce: await nonce(), iss: walletApp });
    const key = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(key.publicKey);
    const privateJwk = await exportJWK(key.privateKey);
    const typ = 'openid4vci-proof+jwt';
    const proofs: [string, string][] = [
      ['none', unsigned({ alg: 'none', typ, jwk }, await claims())],
      ['HS256 keyed with the jwk', await hs256({ typ, jwk }, await claims(), Buffer.from(JSON.stringify(jwk)))],
      ['HS256 oct jwk', await hs256({ typ, jwk: { kty: 'oct', k: Buffer.from('k'.repeat(32)).toString('base64url') } }, await claims(), Buffer.from('k'.repeat(32)))],
      ['dpop typ', await new SignJWT({ ...(await claims()), htm: 'POST', htu: `${h.issuer}/credentials/credential`, jti: jti() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(key.privateKey)],
      ['kid, no jwk', await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ, kid: 'did:example:123#key-1' }).sign(key.privateKey)],
      ['x5c beside jwk', await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ, jwk, x5c: ['MIIBIjAN'] }).sign(key.privateKey)],
      ['private jwk', await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ, jwk: privateJwk }).sign(key.privateKey)],
      ['crit', await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ, jwk, crit: ['urn:x'], 'urn:x': 1 } as never).sign(key.privateKey, { crit: { 'urn:x': true } })],
      ['array payload', await new CompactSign(new TextEncoder().encode(JSON.stringify([await claims()]))).setProtectedHeader({ alg: 'ES256', typ, jwk }).sign(key.privateKey)],
      ['aud elsewhere', await new SignJWT({ ...(await claims()), aud: 'https://other-issuer.example.gov.cn' }).setProtectedHeader({ alg: 'ES256', typ, jwk }).sign(key.privateKey)],
      ['iat far future', await new SignJWT({ ...(await claims()), iat: now() + 86_400 }).setProtectedHeader({ alg: 'ES256', typ, jwk }).sign(key.privateKey)],
    ];
    for (const [what, proof] of proofs) {
      const answer = await send(proof);
      expect(answer.status, what).toBeGreaterThanOrEqual(400);
      expect(answer.status, what).toBeLessThan(500);
      expect(answer.credentials, what).toBeUndefined();
    }
    // The same key, proving itself properly, gets its credential: the refusals above are about the forgeries.
    const good = await new SignJWT(await claims()).setProtectedHeader({ alg: 'ES256', typ, jwk }).sign(key.privateKey);
    expect(await send(good)).toMatchObject({ status: 200, credentials: 1 });
  });
});

/** A DPoP proof of the phone's own key with a chosen iat (the helper always signs "now"). */
async function resignDpop(phone: MobileApp, url: string, iat: number): Promise<string> {
  const dpopKeys = (phone as unknown as { dpopKeys: { privateKey: CryptoKey } }).dpopKeys;
  const dpopJwk = (phone as unknown as { dpopJwk: JWK }).dpopJwk;
  const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(phone.accessToken!))).toString('base64url');
  return new SignJWT({ htm: 'GET', htu: url, jti: randomBytes(12).toString('base64url'), ath })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk })
    .setIssuedAt(iat)
    .sign(dpopKeys.privateKey);
}

