/**
 * Yihao as an OpenID4VP verifier for counters and kiosks (docs/credentials.md, "Verifying online").
 * A kiosk (by its client assertion) or a counter staff member (by their token) starts a request; an
 * independent wallet (test/support/wallet.ts: @openid4vc/openid4vci, @openid4vc/openid4vp and
 * @sd-jwt only) that got its credential through the counter's offer resolves the `openid4vp://` link,
 * verifies the request object's signature against the pre-registered verifier key, and presents a
 * subset; the starter reads exactly the disclosed claims. The attacker's presentations are refused
 * each for its own reason, a replayed response is refused, and another starter reads nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, importJWK, SignJWT } from 'jose';
import { issueCertificateCredential } from '../../src/credentials/certificate-credential.js';
import { staffSignIn } from '../support/counter-staff.js';
import type { Backend } from '../support/harness.js';
import { issueDirect, kioskAssertion, present, readResult, startAsKiosk, startAsStaff, verifierSetup, VCT, type Started, type VerifierSetup } from '../support/presentations.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { PresentingWallet, walletKey } from '../support/wallet.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('the OID4VP verifier for counters and kiosks ($name)', ({ name, enabled }) => {
  let s: VerifierSetup;

  beforeAll(async () => {
    if (enabled) s = await verifierSetup(name);
  }, 60_000);
  afterAll(async () => s?.h.close());

  const started = async (res: Response): Promise<Started> => {
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return (await res.json()) as Started;
  };
  const kioskRequest = async (claims = ['citizen_id_masked', 'name']) => started(await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims }));
  const refusedFor = async (res: Response, req: Started) => {
    expect(res.status).toBe(400);
    const result = await readResult(s.h, req.request_id, req.result_token);
    return result.body.reason;
  };

  it.runIf(enabled)('a kiosk asks, the wallet verifies the signed request and presents a subset, and the kiosk reads exactly the disclosed claims', async () => {
    const req = await kioskRequest();
    expect(req.request_link).toMatch(/^openid4vp:\/\/\?/);
    const link = new URL(req.request_link);
    expect(link.searchParams.get('request_uri')).toBe(req.request_uri);
    expect(req.qr_code).toMatch(/^data:image\/png;base64,/);
    expect(await readResult(s.h, req.request_id, req.result_token)).toMatchObject({ status: 200, body: { status: 'pending' } });

    // The library resolves the request: its signature verified with the pre-registered verifier key.
    const resolved = await s.presenter.resolve(req.request_link);
    expect(resolved.client.prefix).toBe('pre-registered');
    expect(resolved.authorizationRequestPayload).toMatchObject({ response_mode: 'direct_post', response_type: 'vp_token' });
    expect(PresentingWallet.asked(resolved)).toEqual({ id: 'identity', vct: [VCT], claims: ['citizen_id_masked', 'name'] });
    // A wallet that trusts another key for that verifier refuses the request.
    const other = await walletKey();
    const suspicious = new PresentingWallet({ clientId: s.presenter.trusted.clientId, jwks: { keys: s.presenter.trusted.jwks.keys.map((k) => ({ ...other.publicJwk, kid: k.kid })) } });
    await expect(suspicious.resolve(req.request_link)).rejects.toThrow();

    const res = await present(s.presenter, req.request_link, s.held);
    expect(res.status).toBe(200);
    const { status, body } = await readResult(s.h, req.request_id, req.result_token);
    expect(status).toBe(200);
    const masked = `${s.citizen.citizenId.slice(0, 6)}********${s.citizen.citizenId.slice(14)}`;
    expect(body).toMatchObject({ status: 'verified', vct: VCT, claims: { name: '孙七', citizen_id_masked: masked } });
    expect(Object.keys(body.claims as object).sort()).toEqual(['citizen_id_masked', 'name']);
    expect(JSON.stringify(body)).not.toContain(s.citizen.citizenId);

    // Answered once: the request object is gone and a replayed response is refused, leaving the result as it was.
    expect((await fetch(req.request_uri)).status).toBe(404);
    const replay = await present(s.presenter, req.request_link, s.held).catch(() => undefined);
    expect(replay?.status ?? 400).toBe(400);
    const form = new URLSearchParams({ vp_token: JSON.stringify({ identity: ['x~y~'] }), state: req.request_id });
    const direct = await fetch(`${s.h.issuer}/presentations/requests/${req.request_id}/response`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    expect(direct.status).toBe(400);
    expect((await readResult(s.h, req.request_id, req.result_token)).body).toMatchObject({ status: 'verified' });
  });

  it.runIf(enabled)('only the starter reads a result: another starter’s token, or none, reads nothing', async () => {
    const mine = await kioskRequest();
    const theirs = await started(await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['name'] }));
    expect((await present(s.presenter, mine.request_link, s.held)).status).toBe(200);
    expect(await readResult(s.h, mine.request_id, theirs.result_token)).toMatchObject({ status: 404 });
    const none = await fetch(`${s.h.issuer}/presentations/requests/${mine.request_id}`);
    expect(none.status).toBe(401);
    expect(JSON.stringify(await none.json())).not.toContain('孙七');
  });

  it.runIf(enabled)('audits every answered request: who asked, at which counter or kiosk, whose credential, which claims (never their values), and why a refusal', async () => {
    const audit = s.h.yihao.services.audit;
    const byRequest = async (action: string, id: string) => (await audit.query({ action, limit: 200 })).events.filter((e) => (e.details as { request_id?: string }).request_id === id);
    const asked = await started(await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['name', 'citizen_id_masked'] }));
    expect((await present(s.presenter, asked.request_link, s.held)).status).toBe(200);
    const [verified, ...more] = await byRequest('vc.presentation_verified', asked.request_id);
    expect(more).toEqual([]);
    expect(verified).toMatchObject({
      actorType: 'operator',
      actorId: s.staffSub,
      clientId: s.counterClientId,
      accountId: s.citizen.sub,
      channel: 'counter',
      details: { request_id: asked.request_id, type: 'identity', claims: ['name', 'citizen_id_masked'] },
    });
    // The citizen sees it among their own account's events.
    expect((await audit.forAccount(s.citizen.sub, 50)).map((e) => e.action)).toContain('vc.presentation_verified');

    const tampered = await kioskRequest(['name']);
    const mangle = (p: string) => p.replace(/~[^~]+~/, `~${Buffer.from(JSON.stringify(['salt', 'name', '冒充者'])).toString('base64url')}~`);
    expect((await present(s.presenter, tampered.request_link, s.held, { mangle })).status).toBe(400);
    const [refused] = await byRequest('vc.presentation_refused', tampered.request_id);
    expect(refused).toMatchObject({ actorType: 'client', actorId: s.kiosk.client.client_id, clientId: s.kiosk.client.client_id, channel: 'kiosk', details: { request_id: tampered.request_id, type: 'identity', claims: ['name'], reason: 'tampered' } });
    expect(refused!.accountId).toBeFalsy();

    const text = JSON.stringify((await audit.query({ limit: 1000 })).events);
    for (const secret of [s.citizen.citizenId, `${s.citizen.citizenId.slice(0, 6)}********${s.citizen.citizenId.slice(14)}`, '孙七']) expect(text).not.toContain(secret);
  });

  it.runIf(enabled)('refuses a tampered disclosure, a wrong nonce, a wrong audience and another wallet’s key, each for its reason', async () => {
    const tamper = (p: string) => {
      const [jwt, disclosure, ...rest] = p.split('~');
      const [salt, claim] = JSON.parse(Buffer.from(disclosure!, 'base64url').toString()) as [string, string, unknown];
      return [jwt, Buffer.from(JSON.stringify([salt, claim, '冒充者'])).toString('base64url'), ...rest].join('~');
    };
    const one = await kioskRequest(['name']);
    expect(await refusedFor(await present(s.presenter, one.request_link, s.held, { mangle: tamper }), one)).toBe('tampered');
    const two = await kioskRequest(['name']);
    expect(await refusedFor(await present(s.presenter, two.request_link, s.held, { nonce: 'another-nonce' }), two)).toBe('wrong_nonce');
    const three = await kioskRequest(['name']);
    expect(await refusedFor(await present(s.presenter, three.request_link, s.held, { aud: 'https://elsewhere.example' }), three)).toBe('wrong_audience');
    const four = await kioskRequest(['name']);
    const thief = await walletKey();
    expect(await refusedFor(await present(s.presenter, four.request_link, { credential: s.held.credential, key: thief }), four)).toBe('holder_key_mismatch');
    // A presentation that leaves out a claim the request needs.
    const five = await kioskRequest(['name', 'birthdate']);
    expect(await refusedFor(await present(s.presenter, five.request_link, s.held, { frame: { name: true } }), five)).toBe('missing_claim');
  });

  it.runIf(enabled)('refuses an expired credential, and a revoked one once the status list says so', async () => {
    const issue = (issuedAt: number, expiresAt: number) => issueDirect(s.h, s.citizen.sub, s.wallet, { issuedAt, expiresAt });
    const expired = await issue(Date.now() - 2 * 86_400_000, Date.now() - 86_400_000);
    const one = await kioskRequest(['name']);
    expect(await refusedFor(await present(s.presenter, one.request_link, expired.held), one)).toBe('expired');

    const victim = await issue(Date.now(), Date.now() + 86_400_000);
    const before = await kioskRequest(['name']);
    expect((await present(s.presenter, before.request_link, victim.held)).status).toBe(200);
    await s.h.yihao.credentials.revocation.revoke(victim.id, { type: 'system', id: 'cli' }, 'phone reported stolen');
    const after = await kioskRequest(['name']);
    expect(await refusedFor(await present(s.presenter, after.request_link, victim.held), after)).toBe('revoked');
    // The wallet's other credential on that list is still good.
    const still = await kioskRequest(['name']);
    expect((await present(s.presenter, still.request_link, s.held)).status).toBe(200);
  });

  it.runIf(enabled)('verifies a department certificate against its type, and refuses a suspended one', async () => {
    const type = {
      id: 'driving_licence',
      departmentId: s.departmentId,
      vct: `${s.h.issuer}/credentials/types/driving_licence`,
      names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
      claims: { licence_class: { type: 'string' as const, required: true, max_length: 4 }, first_issued: { type: 'date' as const, required: true } },
      validityDays: 2190,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
      version: 1,
      updatedAt: undefined,
      retiredAt: undefined,
      pendingVersion: undefined,
    };
    await s.h.yihao.credentials.certificates.store.insertType(type);
    const account = (await s.h.yihao.accounts.findBySub(s.citizen.sub))!;
    const key = await s.wallet.newKey();
    const now = Date.now();
    const record = await s.h.yihao.credentials.store.record({ accountId: account.id, type: type.vct, clientId: 'yh_app', holderJkt: await calculateJwkThumbprint(key.publicJwk), issuedAt: now, expiresAt: now + 86_400_000, bits: 2 });
    const credential = await issueCertificateCredential({
      type,
      claims: { licence_class: 'C1', first_issued: '2015-03-02' },
      issuingDepartment: '杭州市公安局交通警察支队',
      holderJwk: key.publicJwk,
      issuer: s.h.issuer,
      issuedAt: now,
      validFrom: now,
      validUntil: now + 86_400_000,
      status: { uri: `${s.h.issuer}/credentials/status/${record.statusListId}`, idx: record.statusIndex },
      signingKey: await s.h.yihao.credentials.signer.active(),
    });
    const held = { credential, key };
    const req = await started(await startAsStaff(s.h, s.staffToken, { type: 'driving_licence', claims: ['licence_class'] }));
    expect((await present(s.presenter, req.request_link, held)).status).toBe(200);
    expect((await readResult(s.h, req.request_id, req.result_token)).body).toMatchObject({ status: 'verified', vct: type.vct, claims: { licence_class: 'C1' } });
    // The identity credential is not what this request asked for.
    const wrongType = await started(await startAsStaff(s.h, s.staffToken, { type: 'driving_licence', claims: ['licence_class'] }));
    expect(await refusedFor(await present(s.presenter, wrongType.request_link, s.held, { frame: { name: true } }), wrongType)).toBe('unknown_type');

    await s.h.yihao.stores.db.transaction((trx) => s.h.yihao.credentials.store.setStatus([record.id], ['valid'], 'suspended', Date.now(), trx));
    const suspended = await started(await startAsStaff(s.h, s.staffToken, { type: 'driving_licence', claims: ['licence_class'] }));
    expect(await refusedFor(await present(s.presenter, suspended.request_link, held), suspended)).toBe('suspended');
  });

  it.runIf(enabled)('keeps a wallet’s refusal as "declined", and answers bad input with a 4xx, never a 500', async () => {
    const req = await kioskRequest(['name']);
    const response = `${s.h.issuer}/presentations/requests/${req.request_id}/response`;
    const form = (body: string, type = 'application/x-www-form-urlencoded') => fetch(response, { method: 'POST', headers: { 'content-type': type }, body });
    expect((await form('{}', 'application/json')).status).toBe(415);
    expect((await form(new URLSearchParams({ error: 'access_denied', state: req.request_id }).toString())).status).toBe(400);
    expect((await readResult(s.h, req.request_id, req.result_token)).body).toMatchObject({ status: 'refused', reason: 'declined' });

    const garbage = await kioskRequest(['name']);
    const answer = await fetch(`${s.h.issuer}/presentations/requests/${garbage.request_id}/response`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'vp_token=%7Bnot-json' });
    expect(answer.status).toBe(400);
    expect((await readResult(s.h, garbage.request_id, garbage.result_token)).body).toMatchObject({ status: 'refused', reason: 'bad_response' });

    for (const [path, init] of [
      ['/presentations/requests/nope/object', {}],
      ['/presentations/requests/nope', { headers: { authorization: `Bearer ${'A'.repeat(43)}` } }],
      ['/presentations/requests/nope/response', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'vp_token=x' }],
      ['/presentations/requests', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }],
      ['/presentations/requests', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }],
      ['/presentations/page', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'request_id=x' }],
    ] as const) {
      const res = await fetch(`${s.h.issuer}${path}`, init as RequestInit);
      expect([path, res.status >= 400 && res.status < 500]).toEqual([path, true]);
    }
  });

  it.runIf(enabled)('refuses a kiosk client assertion whose alg is unknown, not a string, or not a signature algorithm with 401 invalid_client, never a 500', async () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: s.kiosk.client.client_id, sub: s.kiosk.client.client_id, aud: s.h.issuer, exp: now + 60, iat: now, jti: randomBytes(16).toString('base64url') };
    const headers: Record<string, unknown>[] = [{ alg: 'foo' }, { alg: ['ES256'] }, { alg: 'RSA-OAEP' }, { alg: 42 }, { alg: 'none' }, { alg: 'HS256' }, { alg: 'ES256', kid: { a: 1 } }];
    for (const header of headers) {
      const res = await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims: ['acr'] }, `${b64(header)}.${b64(claims)}.AAAA`);
      expect([header, res.status, await res.json()]).toEqual([header, 401, { error: 'invalid_client', error_description: 'the client assertion is not signed with the kiosk key' }]);
    }
  });

  it.runIf(enabled)('lets only a kiosk by its key or counter staff by their token start a request, for known claims', async () => {
    const body = { type: 'identity', claims: ['name'] };
    const anonymous = await fetch(`${s.h.issuer}/presentations/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(anonymous.status).toBe(401);
    const assertion = await kioskAssertion(s.h, s.kiosk);
    expect((await startAsKiosk(s.h, s.kiosk, body, assertion)).status).toBe(201);
    expect((await startAsKiosk(s.h, s.kiosk, body, assertion)).status).toBe(401);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(s.kiosk.client.client_id)
      .setSubject(s.kiosk.client.client_id)
      .setAudience(s.h.issuer)
      .setIssuedAt()
      .setExpirationTime('1m')
      .setJti(randomBytes(16).toString('base64url'))
      .sign(await importJWK((await walletKey()).privateJwk, 'ES256'));
    expect((await startAsKiosk(s.h, s.kiosk, body, forged)).status).toBe(401);
    expect((await startAsStaff(s.h, 'x'.repeat(43), body)).status).toBe(401);
    // Someone signed in to the counter system without the counter-staff role.
    const notStaff = await s.h.citizen({ name: '周八' });
    expect((await startAsStaff(s.h, (await staffSignIn(s.h, s.counter, notStaff)).access_token, body)).status).toBe(403);
    expect((await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['not_a_claim'] })).status).toBe(400);
    expect((await startAsStaff(s.h, s.staffToken, { type: 'no_such_type', claims: ['name'] })).status).toBe(400);
  });
});
