/**
 * Attacks on the kiosk ID-card channel: card reads replayed or posted by another kiosk, rotated and
 * suspended kiosks, disabled accounts, the next citizen at the same kiosk, card data built to break
 * the server, and a kiosk session's loa:3 carried elsewhere. Each test states the secure behaviour.
 * A first-party kiosk's card session enrolled a device key at the mobile API, which outlived the
 * card's removal and approved QR sign-ins as the citizen, before that API took only the government
 * app's non-kiosk tokens (found by a review, with the rest of this file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { oauthError } from '../support/relying-party.js';
import { ID_CARD_GRANT, LOA3, kioskOf, simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { continueQr, MobileApp, startQrSignIn } from '../support/mobile-app.js';

const IDLE_SECONDS = 30;

describe('attacks on the kiosk ID-card channel', () => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, kiosk: { idleSeconds: IDLE_SECONDS, cardAssertionMaxAgeSeconds: 60 } }) });
    kiosk = await simulatedKiosk(h);
  });
  afterAll(async () => h?.close());

  const userinfoStatus = async (token: string) => (await fetch(`${h.url}/me`, { headers: { authorization: `Bearer ${token}` } })).status;
  const endSession = (token: string, path = '/kiosk/session/end') => fetch(`${h.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  const failedReasons = async (clientId: string) =>
    (await h.yihao.stores.db('audit_events').where({ action: 'login.failed', actor_id: clientId }).select('details')).map(
      (r: { details: unknown }) => ((typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as { reason: string }).reason,
    );

  it('refuses kiosk A’s signed card read posted by kiosk B (another department’s kiosk), and the same read twice at A, even after A’s session ended', async () => {
    const citizen = await h.citizen();
    const other = await simulatedKiosk(h, { name: '另一部门终端' });
    const read = await kiosk.assertion({ citizenId: citizen.citizenId });
    expect(await oauthError(other.cardLogin(read))).toMatchObject({ error: 'invalid_grant' });
    const first = await kiosk.cardLogin(read);
    expect(first.claims()).toMatchObject({ sub: citizen.sub, acr: LOA3 });
    expect((await endSession(first.access_token)).status).toBe(204);
    expect(await oauthError(kiosk.cardLogin(read))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion was already used' });
    // The card read's nonce, re-signed by kiosk B with its own key: B's own read (its own nonce space) is fine;
    // but A's nonce cannot be re-used at A with a fresh signature either.
    const sameNonce = await kiosk.assertion({ citizenId: citizen.citizenId, jti: (JSON.parse(Buffer.from(read.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti });
    expect(await oauthError(kiosk.cardLogin(sameNonce))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion was already used' });
  });

  it('refuses a card read aimed at another provider (aud), or whose iat is not an integer', async () => {
    const citizen = await h.citizen();
    const wrongAud = await new SignJWT({ citizen_id: citizen.citizenId, face_match: { result: 'pass' } })
      .setProtectedHeader({ alg: 'ES256', typ: 'card-assertion+jwt' })
      .setIssuer(kiosk.client.client_id)
      .setAudience('https://other-idp.example.gov.cn')
      .setIssuedAt()
      .setJti(randomBytes(16).toString('base64url'))
      .sign(kiosk.privateKey);
    expect(await oauthError(kiosk.cardLogin(wrongAud))).toMatchObject({ error: 'invalid_grant' });
    const stringIat = await new SignJWT({ citizen_id: citizen.citizenId, face_match: { result: 'pass' }, iat: String(Math.floor(Date.now() / 1000)) as never })
      .setProtectedHeader({ alg: 'ES256', typ: 'card-assertion+jwt' })
      .setIssuer(kiosk.client.client_id)
      .setAudience(h.issuer)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(kiosk.privateKey);
    expect(await oauthError(kiosk.cardLogin(stringIat))).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses the old key after the kiosk’s key is rotated: neither its client assertion nor a card read signed with it', async () => {
    const citizen = await h.citizen();
    const rotating = await simulatedKiosk(h, { name: '轮换终端' });
    const clients = new h.yihao.services.Adapter('Client');
    const meta = (await clients.find(rotating.client.client_id)) as Record<string, unknown>;
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    await clients.upsert(rotating.client.client_id, { ...meta, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'new-key', alg: 'ES256', use: 'sig' }] } } as never);
    // A laptop with the copied old key: refused as a client.
    expect(await oauthError(rotating.cardLogin({ citizenId: citizen.citizenId }))).toMatchObject({ error: 'invalid_client' });
    // The real kiosk with its new key, posting a read signed with the old key: refused as a card read.
    const renewed = await kioskOf(h, rotating.client, { privateKey, kid: 'new-key' });
    const oldRead = await rotating.assertion({ citizenId: citizen.citizenId });
    expect(await oauthError(renewed.cardLogin(oldRead))).toEqual({ error: 'invalid_grant', error_description: 'the card assertion signature is not valid for this kiosk' });
    expect((await renewed.cardLogin({ citizenId: citizen.citizenId })).claims()).toMatchObject({ sub: citizen.sub });
  });

  it('gives a suspended (unpublished) kiosk nothing: no card login, and its earlier session’s tokens and refresh token are dead', async () => {
    const citizen = await h.citizen();
    const doomed = await simulatedKiosk(h, { name: '停用终端' });
    const tokens = await doomed.cardLogin({ citizenId: citizen.citizenId });
    await new h.yihao.services.Adapter('Client').destroy(doomed.client.client_id);
    expect(await oauthError(doomed.cardLogin({ citizenId: citizen.citizenId }))).toMatchObject({ error: 'invalid_client' });
    expect(await userinfoStatus(tokens.access_token)).toBe(401);
    expect((await endSession(tokens.access_token, '/kiosk/session/end-everywhere')).status).toBe(401);
  });

  it('answers a disabled account’s card exactly as a card with no account (no enumeration), on record alike', async () => {
    const reader = await simulatedKiosk(h, { name: '枚举终端' });
    const disabled = await h.citizen();
    await h.yihao.accounts.setStatus((await h.yihao.accounts.findBySub(disabled.sub))!.id, 'disabled');
    const a = await oauthError(reader.cardLogin({ citizenId: disabled.citizenId }));
    const b = await oauthError(reader.cardLogin({ citizenId: syntheticCitizenId() }));
    expect(a).toEqual(b);
    expect(a).toEqual({ error: 'invalid_grant', error_description: 'there is no active account for this card' });
    expect(await failedReasons(reader.client.client_id)).toEqual(['no_active_account', 'no_active_account']);
    // Nothing recorded about the disabled citizen (the refusal names no account).
    const events = await h.yihao.services.audit.forAccount(disabled.sub);
    expect(events.filter((e) => e.action === 'login.failed' || e.action === 'login.succeeded')).toEqual([]);
  });

  it('stops a kiosk session’s refresh once the account is disabled or the citizen signed out everywhere elsewhere', async () => {
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    await h.yihao.signOut.everywhere(citizen.sub);
    expect(await oauthError(oidc.refreshTokenGrant(kiosk.rp, tokens.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect(await userinfoStatus(tokens.access_token)).toBe(401);

    const other = await h.citizen();
    const second = await kiosk.cardLogin({ citizenId: other.citizenId });
    await h.yihao.accounts.setStatus((await h.yihao.accounts.findBySub(other.sub))!.id, 'disabled');
    expect(await oauthError(oidc.refreshTokenGrant(kiosk.rp, second.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect(await userinfoStatus(second.access_token)).toBe(401);
  });

  it('leaves the next citizen nothing of the previous one: after card removal, A’s tokens are dead and B’s session is B’s alone', async () => {
    const a = await h.citizen();
    const b = await h.citizen();
    const first = await kiosk.cardLogin({ citizenId: a.citizenId });
    expect((await endSession(first.access_token)).status).toBe(204);
    const second = await kiosk.cardLogin({ citizenId: b.citizenId });
    expect(second.claims()).toMatchObject({ sub: b.sub });
    expect(second.claims()!.sid).not.toBe(first.claims()!.sid);
    expect(await userinfoStatus(first.access_token)).toBe(401);
    expect(await oauthError(oidc.refreshTokenGrant(kiosk.rp, first.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(kiosk.rp, first.access_token)).active).toBe(false);
    // A's dead token cannot sign A (or anyone) out everywhere either.
    expect((await endSession(first.access_token, '/kiosk/session/end-everywhere')).status).toBe(401);
    expect((await oidc.fetchUserInfo(kiosk.rp, second.access_token, b.sub)).sub).toBe(b.sub);
    // B's removal ends B's session only.
    expect((await endSession(second.access_token)).status).toBe(204);
    expect(await userinfoStatus(second.access_token)).toBe(401);
  });

  it('does not let a kiosk session (even a first-party kiosk’s, DPoP-bound) enrol a device key for the citizen: a public kiosk is not the citizen’s device', async () => {
    const citizen = await h.citizen();
    const dept = await simulatedKiosk(h, { name: '本部门自助终端', firstParty: true });
    const app = await MobileApp.create(h, dept.client);
    const dpopKeys = (app as unknown as { dpopKeys: oidc.CryptoKeyPair }).dpopKeys;
    const tokens = await oidc.genericGrantRequest(dept.rp, ID_CARD_GRANT, { assertion: await dept.assertion({ citizenId: citizen.citizenId }), scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(dept.rp, dpopKeys) });
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    app.accessToken = tokens.access_token;
    const enrolled = await app.enrolDeviceKey({ name: 'kiosk-implant' });
    // The card is removed: whatever the session did should not outlive it.
    expect((await fetch(`${h.url}/kiosk/session/end`, { method: 'POST', headers: { authorization: `DPoP ${tokens.access_token}`, dpop: await app.dpopProof('POST', `${h.issuer}/kiosk/session/end`, tokens.access_token) } })).status).toBe(204);
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const live = await h.yihao.stores.db('device_keys').where({ account_id: account.id }).whereNull('revoked_at').select('id');
    expect.soft(live, 'a device key enrolled from the kiosk session outlives the card removal').toEqual([]);
    expect(enrolled.status).not.toBe(201);
  });

  it('refuses a non-first-party kiosk’s DPoP-bound card token at the mobile device-key API', async () => {
    const citizen = await h.citizen();
    const plain = await simulatedKiosk(h, { name: '普通终端' });
    const app = await MobileApp.create(h, plain.client);
    const dpopKeys = (app as unknown as { dpopKeys: oidc.CryptoKeyPair }).dpopKeys;
    const tokens = await oidc.genericGrantRequest(plain.rp, ID_CARD_GRANT, { assertion: await plain.assertion({ citizenId: citizen.citizenId }), scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(plain.rp, dpopKeys) });
    app.accessToken = tokens.access_token;
    expect((await app.enrolDeviceKey()).status).toBe(401);
  });

  it('does not let a kiosk card session turn into a QR approval that signs a browser elsewhere in as the citizen (loa from a card carried into a browser)', async () => {
    const citizen = await h.citizen();
    const dept = await simulatedKiosk(h, { name: '本部门自助终端二', firstParty: true });
    const app = await MobileApp.create(h, dept.client);
    const dpopKeys = (app as unknown as { dpopKeys: oidc.CryptoKeyPair }).dpopKeys;
    const tokens = await oidc.genericGrantRequest(dept.rp, ID_CARD_GRANT, { assertion: await dept.assertion({ citizenId: citizen.citizenId }), scope: 'openid profile' }, { DPoP: oidc.getDPoPHandle(dept.rp, dpopKeys) });
    app.accessToken = tokens.access_token;
    await app.enrolDeviceKey({ name: 'kiosk-implant' });
    // Someone else's browser, at another government web app, chooses "sign in with the mobile app".
    const web = await h.client({ name: '公积金查询', firstParty: true });
    const webRp = await oidc.discovery(new URL(h.issuer), web.client_id, web.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const qr = await startQrSignIn(h, webRp);
    const scanned = await app.scan(qr.code);
    const approved = scanned.status === 200 ? await app.decide(scanned.json.id as string, 'approve') : scanned;
    const end = await continueQr(qr.browser, qr.qr, qr.origin);
    // Where the browser ends: at the web app with a code for the citizen is the hole.
    const claims = end.kind === 'rp' ? await qr.redeem(end.url) : undefined;
    expect.soft(claims, `browser signed in as the card holder: ${JSON.stringify(claims)}`).toBeUndefined();
    expect(approved.status).not.toBe(200);
  });

  it('refuses card data with control characters or oversized fields with a 4xx (never a 500), naming no number', async () => {
    const reader = await simulatedKiosk(h, { name: '畸形数据终端' });
    const citizen = await h.citizen();
    for (const number of [`${citizen.citizenId}\u0000`, `\u0000${citizen.citizenId}`, `${citizen.citizenId.slice(0, 9)}\u202e${citizen.citizenId.slice(9)}`, '1'.repeat(65), `${citizen.citizenId}\u001b[2J`]) {
      expect(await oauthError(reader.cardLogin({ citizenId: number }))).toMatchObject({ error: 'invalid_grant' });
    }
    // An oversized jti, and a jti of control characters.
    expect(await oauthError(reader.cardLogin({ citizenId: citizen.citizenId, jti: 'j'.repeat(5000) }))).toMatchObject({ error: 'invalid_grant' });
    // An oversized assertion (a huge extra claim): refused, not a crash.
    const huge = await new SignJWT({ citizen_id: citizen.citizenId, face_match: { result: 'pass' }, padding: 'x'.repeat(300_000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'card-assertion+jwt' })
      .setIssuer(reader.client.client_id)
      .setAudience(h.issuer)
      .setIssuedAt()
      .setJti(randomBytes(16).toString('base64url'))
      .sign(reader.privateKey);
    const res = await oidc.genericGrantRequest(reader.rp, ID_CARD_GRANT, { assertion: huge, scope: 'openid' }).then(
      () => 200,
      (e: { status?: number; cause?: { status?: number } }) => e.status ?? e.cause?.status ?? 400,
    );
    expect(res).toBeGreaterThanOrEqual(400);
    expect(res).toBeLessThan(500);
    const rows = await h.yihao.stores.db('audit_events').where({ actor_id: reader.client.client_id }).select('details');
    expect(JSON.stringify(rows)).not.toContain(citizen.citizenId);
    // The account was not touched by the malformed reads.
    expect((await h.yihao.accounts.findBySub(citizen.sub))!.assurance).not.toBe('id_chip');
  });

  it('keeps the kiosk’s loa:3 at the kiosk: no browser single sign-on, and the kiosk’s ID token is no ticket into another app', async () => {
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const web = await h.client({ name: '网上办事', redirectUris: ['http://127.0.0.1:9/cb'], scope: 'openid profile' });
    const rp = await oidc.discovery(new URL(h.issuer), web.client_id, web.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: 'http://127.0.0.1:9/cb',
      scope: 'openid',
      prompt: 'none',
      id_token_hint: tokens.id_token!,
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const res = await fetch(url, { redirect: 'manual' });
    const location = res.headers.get('location') ?? '';
    expect(location).not.toContain('code=');
    // The kiosk's access token is not a token of another app at userinfo-adjacent APIs: the mobile API refuses it.
    const mobile = await fetch(`${h.url}/mobile/device-keys`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(mobile.status).toBeGreaterThanOrEqual(400);
  });
});
