/**
 * Attacks on sign-in by verifiable credential presentation (OID4VP, SD-JWT VC with key binding) and
 * on issuance through OID4VCI (pre-authorized code offers, tx_code, c_nonce, key proofs): replays,
 * key bindings that lie, tampered, repeated or foreign disclosures, credentials no longer good,
 * races. Each test states the secure behaviour. A repeated disclosure and one its credential never
 * referenced were accepted before `presentation-check.ts` held RFC 9901 §7.1 itself (found by a
 * review, with the rest of this file).
 */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { issueCertificateCredential } from '../../src/credentials/certificate-credential.js';
import { citizenWithPhone, counterOffer, offerCodeSentTo } from '../support/counter-staff.js';
import { issueDirect, present, readResult, startAsKiosk, verifierSetup, type Held, type Started, type VerifierSetup } from '../support/presentations.js';
import { oauthError } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { PresentingWallet, Wallet, walletKey } from '../support/wallet.js';

const enabled = pgAvailable && redisAvailable;
const PRESENTATION_GRANT = 'urn:yihao:grant-type:presentation';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const CONFIGURATION = 'yihao_identity_sd_jwt';
const LOA2 = 'urn:yihao:loa:2';
const LOA3 = 'urn:yihao:loa:3';

type Disclosure = { raw: string; name: string; value: unknown };

const issuerJwtOf = (credential: string) => credential.split('~')[0]!;
function disclosuresOf(credential: string): Disclosure[] {
  return credential
    .split('~')
    .slice(1)
    .filter(Boolean)
    .map((raw) => {
      const [, name, value] = JSON.parse(Buffer.from(raw, 'base64url').toString()) as [string, string, unknown];
      return { raw, name, value };
    });
}

/** A key-binding JWT over `presented` (which ends with '~'), signed by `key`. */
async function kbJwt(presented: string, key: JWK, p: { aud: string; nonce: string; iat?: number }, header: Record<string, unknown> = {}): Promise<string> {
  const sd_hash = createHash('sha256').update(presented, 'ascii').digest('base64url');
  return new SignJWT({ iat: p.iat ?? Math.floor(Date.now() / 1000), aud: p.aud, nonce: p.nonce, sd_hash })
    .setProtectedHeader({ alg: 'ES256', typ: 'kb+jwt', ...header })
    .sign(await importJWK(key, 'ES256'));
}

describe('attacks on sign-in by presentation and on OID4VCI issuance (PostgreSQL + Redis)', () => {
  let s: VerifierSetup;
  let appId: string;
  beforeAll(async () => {
    if (!enabled) return;
    s = await verifierSetup('postgres+redis');
    appId = s.wallet.clientId;
  }, 90_000);
  afterAll(async () => s?.h.close());

  const kioskRequest = async (claims: string[] = ['acr'], type = 'identity', kiosk = s.kiosk): Promise<Started> => {
    const res = await startAsKiosk(s.h, kiosk, { type, claims });
    expect(res.status).toBe(201);
    return (await res.json()) as Started;
  };
  const kioskSignIn = (req: Started, kiosk = s.kiosk) => oidc.genericGrantRequest(kiosk.rp, PRESENTATION_GRANT, { presentation_request: req.request_id, scope: 'openid profile' });

  /** Resolves a request as the wallet does, and posts a hand-built presentation to it. */
  const resolvedOf = new Map<string, Awaited<ReturnType<PresentingWallet['resolve']>>>();
  async function submitRaw(req: Started, build: (r: { aud: string; nonce: string }) => Promise<string>): Promise<Response> {
    // A request already answered serves its request object no more: the attacker kept the first one.
    const resolved = resolvedOf.get(req.request_id) ?? (await s.presenter.resolve(req.request_link));
    resolvedOf.set(req.request_id, resolved);
    const asked = PresentingWallet.asked(resolved);
    const payload = resolved.authorizationRequestPayload as { client_id: string; nonce: string };
    return s.presenter.submit(resolved, { [asked.id]: [await build({ aud: payload.client_id, nonce: payload.nonce })] });
  }
  const reasonOf = async (req: Started) => (await readResult(s.h, req.request_id, req.result_token)).body;

  // ----- replay of someone's presentation -----

  it.runIf(enabled)('a copied presentation replayed at another request (another session, later) verifies nothing and signs no one in', async () => {
    let captured = '';
    const x = await kioskRequest();
    const first = await submitRaw(x, async (r) => {
      const presented = `${issuerJwtOf(s.held.credential)}~${disclosuresOf(s.held.credential).find((d) => d.name === 'acr')!.raw}~`;
      captured = presented + (await kbJwt(presented, s.held.key.privateJwk, r));
      return captured;
    });
    expect(first.status).toBe(200);
    expect((await kioskSignIn(x)).claims()).toMatchObject({ amr: ['vc'] });

    // The stranger got a copy (a log, a proxy) and answers a request of their own with it.
    const y = await kioskRequest();
    expect((await submitRaw(y, async () => captured)).status).toBe(400);
    expect(await reasonOf(y)).toMatchObject({ status: 'refused', reason: 'wrong_nonce' });
    expect(await oauthError(kioskSignIn(y))).toMatchObject({ error: 'invalid_grant' });
    // And at the original request once more: it was answered once.
    expect((await submitRaw(x, async () => captured)).status).not.toBe(200);
    expect(await oauthError(kioskSignIn(x))).toMatchObject({ error: 'invalid_grant' });
  });

  it.runIf(enabled)('refuses a presentation with no key-binding JWT, one with alg none, and a stale one', async () => {
    const presented = `${issuerJwtOf(s.held.credential)}~${disclosuresOf(s.held.credential).find((d) => d.name === 'acr')!.raw}~`;
    const none = await kioskRequest();
    expect((await submitRaw(none, async () => presented)).status).toBe(400);
    expect(await oauthError(kioskSignIn(none))).toMatchObject({ error: 'invalid_grant' });

    const algNone = await kioskRequest();
    expect(
      (
        await submitRaw(algNone, async (r) => {
          const sd_hash = createHash('sha256').update(presented, 'ascii').digest('base64url');
          const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
          return `${presented}${enc({ alg: 'none', typ: 'kb+jwt' })}.${enc({ iat: Math.floor(Date.now() / 1000), aud: r.aud, nonce: r.nonce, sd_hash })}.`;
        })
      ).status,
    ).toBe(400);
    expect(await oauthError(kioskSignIn(algNone))).toMatchObject({ error: 'invalid_grant' });

    const stale = await kioskRequest();
    expect((await submitRaw(stale, async (r) => presented + (await kbJwt(presented, s.held.key.privateJwk, { ...r, iat: Math.floor(Date.now() / 1000) - 900 })))).status).toBe(400);
    expect(await reasonOf(stale)).toMatchObject({ status: 'refused', reason: 'stale_key_binding' });
    expect(await oauthError(kioskSignIn(stale))).toMatchObject({ error: 'invalid_grant' });
  });

  it.runIf(enabled)("refuses a key binding signed by the stranger's own key, even with that key in its header", async () => {
    const stranger = await walletKey();
    const req = await kioskRequest();
    const res = await submitRaw(req, async (r) => {
      const presented = `${issuerJwtOf(s.held.credential)}~`;
      return presented + (await kbJwt(presented, stranger.privateJwk, r, { jwk: stranger.publicJwk }));
    });
    expect(res.status).toBe(400);
    expect(await reasonOf(req)).toMatchObject({ status: 'refused', reason: 'holder_key_mismatch' });
    expect(await oauthError(kioskSignIn(req))).toMatchObject({ error: 'invalid_grant' });
  });

  // ----- tampered or duplicated disclosures -----

  it.runIf(enabled)('refuses a presentation that repeats a disclosure (RFC 9901: each digest at most once)', async () => {
    const req = await kioskRequest(['acr']);
    const acr = disclosuresOf(s.held.credential).find((d) => d.name === 'acr')!.raw;
    const res = await submitRaw(req, async (r) => {
      const presented = `${issuerJwtOf(s.held.credential)}~${acr}~${acr}~`;
      return presented + (await kbJwt(presented, s.held.key.privateJwk, r));
    });
    expect(res.status).toBe(400);
    expect(await oauthError(kioskSignIn(req))).toMatchObject({ error: 'invalid_grant' });
  });

  it.runIf(enabled)("a holder who adds another citizen's disclosures to their own credential shows the kiosk none of them, and signs in as themself only", async () => {
    const other = await s.h.citizen({ name: '周八' });
    const otherHeld = await issueDirect(s.h, other.sub, s.wallet);
    const foreign = disclosuresOf(otherHeld.held.credential).filter((d) => d.name === 'name' || d.name === 'citizen_id');
    expect(foreign.map((d) => d.value)).toContain(other.citizenId);
    const req = await kioskRequest(['name']);
    const res = await submitRaw(req, async (r) => {
      const presented = `${issuerJwtOf(s.held.credential)}~${foreign.map((d) => d.raw).join('~')}~`;
      return presented + (await kbJwt(presented, s.held.key.privateJwk, r));
    });
    const body = await reasonOf(req);
    expect(JSON.stringify(body)).not.toContain(other.citizenId);
    expect(JSON.stringify(body)).not.toContain('周八');
    if (res.status === 200) {
      // Even if accepted, the account is the credential's, never a disclosed claim's.
      const tokens = await kioskSignIn(req);
      const card = await s.kiosk.cardLogin({ citizenId: s.citizen.citizenId });
      expect(tokens.claims()!.sub).toBe(card.claims()!.sub);
    }
  });

  it.runIf(enabled)('refuses a presentation carrying a disclosure its credential does not reference (RFC 9901 §7.1), even beside its own', async () => {
    const other = await s.h.citizen({ name: '郑十一' });
    const otherHeld = await issueDirect(s.h, other.sub, s.wallet);
    const foreignAcr = disclosuresOf(otherHeld.held.credential).find((d) => d.name === 'acr')!.raw;
    const ownName = disclosuresOf(s.held.credential).find((d) => d.name === 'name')!.raw;
    const req = await kioskRequest(['name']);
    const res = await submitRaw(req, async (r) => {
      const presented = `${issuerJwtOf(s.held.credential)}~${ownName}~${foreignAcr}~`;
      return presented + (await kbJwt(presented, s.held.key.privateJwk, r));
    });
    expect(res.status).toBe(400);
    expect(await reasonOf(req)).toMatchObject({ status: 'refused', reason: 'tampered' });
  });

  // ----- a credential no longer good -----

  it.runIf(enabled)('signs no one in with a credential that expired within the clock skew, or one suspended after it was presented', async () => {
    const now = Date.now();
    const expired = await issueDirect(s.h, s.citizen.sub, s.wallet, { issuedAt: now - 86_400_000, expiresAt: now - 20_000 });
    const a = await kioskRequest();
    // Within the 60 s skew the verifier still calls it verified; sign-in must look at the record's expiry.
    await present(s.presenter, a.request_link, expired.held);
    expect(await oauthError(kioskSignIn(a))).toMatchObject({ error: 'invalid_grant' });

    const later = await issueDirect(s.h, s.citizen.sub, s.wallet);
    const b = await kioskRequest();
    expect((await present(s.presenter, b.request_link, later.held)).status).toBe(200);
    await s.h.yihao.stores.db.transaction((trx) => s.h.yihao.credentials.store.setStatus([later.id], ['valid'], 'suspended', Date.now(), trx));
    expect(await oauthError(kioskSignIn(b))).toMatchObject({ error: 'invalid_grant' });

    // Suspended before: the presentation itself is refused.
    const c = await kioskRequest();
    expect((await present(s.presenter, c.request_link, later.held)).status).toBe(400);
    // Identity credentials sit in 1-bit status lists: a suspension reads as "revoked" there (test's premise, not a hole).
    expect(await reasonOf(c)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^(suspended|revoked)$/) });
  });

  // ----- a credential that does not say who the holder is -----

  it.runIf(enabled)('a department certificate (not the identity credential) signs no one in, and answers no identity request', async () => {
    const type = {
      id: 'review_permit',
      departmentId: s.departmentId,
      vct: `${s.h.issuer}/credentials/types/review_permit`,
      names: { 'zh-CN': '审查许可', en: 'Review permit' },
      claims: { permit_class: { type: 'string' as const, required: true, max_length: 4 } },
      validityDays: 365,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
      version: 1,
      updatedAt: undefined,
      retiredAt: undefined,
      pendingVersion: undefined,
    };
    await s.h.yihao.credentials.certificates.store.insertType(type as never);
    const account = (await s.h.yihao.accounts.findBySub(s.citizen.sub))!;
    const key = await s.wallet.newKey();
    const now = Date.now();
    const record = await s.h.yihao.credentials.store.record({ accountId: account.id, type: type.vct, clientId: 'yh_app', holderJkt: await calculateJwkThumbprint(key.publicJwk), issuedAt: now, expiresAt: now + 86_400_000, bits: 2 } as never);
    const credential = await issueCertificateCredential({
      type: type as never,
      claims: { permit_class: 'A' },
      issuingDepartment: '杭州市审查局',
      holderJwk: key.publicJwk,
      issuer: s.h.issuer,
      issuedAt: now,
      validFrom: now,
      validUntil: now + 86_400_000,
      status: { uri: `${s.h.issuer}/credentials/status/${record.statusListId}`, idx: record.statusIndex },
      signingKey: await s.h.yihao.credentials.signer.active(),
    });
    const held: Held = { credential, key };

    const certReq = await kioskRequest(['permit_class'], 'review_permit');
    expect((await present(s.presenter, certReq.request_link, held)).status).toBe(200);
    expect(await oauthError(kioskSignIn(certReq))).toMatchObject({ error: 'invalid_grant' });

    const idReq = await kioskRequest(['acr']);
    expect((await present(s.presenter, idReq.request_link, held, { frame: { permit_class: true } })).status).toBe(400);
    expect(await oauthError(kioskSignIn(idReq))).toMatchObject({ error: 'invalid_grant' });
  });

  // ----- what the sign-in gives -----

  it.runIf(enabled)('a presentation of a credential issued at loa:3 signs in at loa:2 with amr vc only, and the account is the credential’s', async () => {
    const acr = disclosuresOf(s.held.credential).find((d) => d.name === 'acr')!.value;
    expect(acr).toBe(LOA3);
    const req = await kioskRequest(['acr']);
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const tokens = await kioskSignIn(req);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(LOA2);
    expect(claims.amr).toEqual(['vc']);
    expect(Math.abs((claims.auth_time as number) - Date.now() / 1000)).toBeLessThan(60);
    const card = await s.kiosk.cardLogin({ citizenId: s.citizen.citizenId });
    expect(claims.sub).toBe(card.claims()!.sub);
  });

  it.runIf(enabled)('one verified request signs in at most once when the kiosk (or a thief of its request id) races', async () => {
    const req = await kioskRequest();
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => kioskSignIn(req)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it.runIf(enabled)('a presentation sign-in gives no token that the credential endpoint takes (a credential does not beget a credential)', async () => {
    const req = await kioskRequest();
    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    const tokens = await kioskSignIn(req);
    const res = await fetch(`${s.h.issuer}/credentials/credential`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credential_configuration_id: CONFIGURATION, proofs: { jwt: ['x.y.z'] } }),
    });
    expect([401, 403]).toContain(res.status);
    // Nor may the kiosk ask for the credential's scope.
    expect(await oauthError(oidc.genericGrantRequest(s.kiosk.rp, PRESENTATION_GRANT, { presentation_request: (await kioskRequest()).request_id, scope: 'openid identity_credential' }))).toMatchObject({
      error: expect.stringMatching(/invalid_scope|invalid_grant/),
    });
  });

  // ----- issuance: pre-authorized code, tx_code, nonces, proofs -----

  async function freshOffer(): Promise<{ offerUri: string; txCode: string; phone: string }> {
    const citizen = await citizenWithPhone(s.h, '吴十');
    const res = await counterOffer(s.h, s.staffToken, citizen.citizenId);
    expect(res.status).toBe(200);
    const { credential_offer } = (await res.json()) as { credential_offer: string };
    return { offerUri: credential_offer, txCode: await offerCodeSentTo(s.h, citizen.phone), phone: citizen.phone };
  }

  async function tokenRequest(code: string, txCode: string | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
    const key = await walletKey();
    const dpop = await new SignJWT({ htm: 'POST', htu: `${s.h.issuer}/token`, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
      .sign(await importJWK(key.privateJwk, 'ES256'));
    const body = new URLSearchParams({ grant_type: PRE_AUTHORIZED, 'pre-authorized_code': code, client_id: appId, ...(txCode === undefined ? {} : { tx_code: txCode }) });
    const res = await fetch(`${s.h.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop }, body: body.toString() });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it.runIf(enabled)('a tx_code guessed in parallel bursts gets at most five tries in all, then the right code is refused too', async () => {
    const { offerUri, txCode } = await freshOffer();
    const offer = await (await Wallet.create(appId)).client.resolveCredentialOffer(offerUri);
    const code = offer.grants![PRE_AUTHORIZED]!['pre-authorized_code'] as string;
    const guesses = Array.from({ length: 20 }, (_, i) => String((Number(txCode) + 1 + i) % 1_000_000).padStart(6, '0'));
    const answers = await Promise.all(guesses.map((g) => tokenRequest(code, g)));
    expect(answers.every((a) => a.status === 400)).toBe(true);
    const judged = answers.filter((a) => String(a.body.error_description).includes('is wrong'));
    expect(judged.length).toBeLessThanOrEqual(5);
    expect((await tokenRequest(code, txCode)).status).toBe(400);
  });

  it.runIf(enabled)('a pre-authorized code with a guessed secret is refused, and spends none of the offer’s tries', async () => {
    const { offerUri, txCode } = await freshOffer();
    const offer = await (await Wallet.create(appId)).client.resolveCredentialOffer(offerUri);
    const code = offer.grants![PRE_AUTHORIZED]!['pre-authorized_code'] as string;
    const [id] = code.split('.');
    for (let i = 0; i < 6; i++) expect((await tokenRequest(`${id}.${'A'.repeat(43)}`, txCode)).status).toBe(400);
    expect((await tokenRequest(code, txCode)).status).toBe(200);
  });

  async function redeemed() {
    const { offerUri, txCode } = await freshOffer();
    const wallet = await Wallet.create(appId);
    const r = await wallet.redeemOffer(offerUri, txCode);
    return { wallet, ...r };
  }

  it.runIf(enabled)('the token a redeemed offer gives reads no profile at userinfo: it is for the credential issuer only', async () => {
    const r = await redeemed();
    const discovery = (await (await fetch(`${s.h.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string };
    const ath = createHash('sha256').update(r.accessToken).digest('base64url');
    const proof = await new SignJWT({ htm: 'GET', htu: discovery.userinfo_endpoint, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: r.wallet.dpopKey.publicJwk })
      .sign(await importJWK(r.wallet.dpopKey.privateJwk, 'ES256'));
    const res = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `DPoP ${r.accessToken}`, dpop: proof } });
    const text = await res.text();
    expect(res.status).not.toBe(200);
    expect(text).not.toContain('吴十');
    // Refused for what the token is, not for a malformed DPoP proof.
    expect(text + (res.headers.get('www-authenticate') ?? '')).not.toMatch(/invalid_dpop_proof/);
  });

  it.runIf(enabled)('one key proof sent on several credential requests at once issues one credential', async () => {
    const r = await redeemed();
    const key = await r.wallet.newKey();
    const proof = await r.wallet.proof(r.metadata, CONFIGURATION, key);
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => r.wallet.client.retrieveCredentials({ issuerMetadata: r.metadata, accessToken: r.accessToken, credentialConfigurationId: CONFIGURATION, proofs: { jwt: [proof] }, dpop: r.dpop! })),
    );
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    for (const x of results) if (x.status === 'rejected') expect(JSON.stringify(x.reason) + String(x.reason)).toMatch(/invalid_nonce/);
  });

  it.runIf(enabled)('a proof replayed on another citizen’s token (another offer) issues nothing', async () => {
    const a = await redeemed();
    const key = await a.wallet.newKey();
    const proof = await a.wallet.proof(a.metadata, CONFIGURATION, key);
    await a.wallet.client.retrieveCredentials({ issuerMetadata: a.metadata, accessToken: a.accessToken, credentialConfigurationId: CONFIGURATION, proofs: { jwt: [proof] }, dpop: a.dpop! });
    const b = await redeemed();
    const refused = await b.wallet.client.retrieveCredentials({ issuerMetadata: b.metadata, accessToken: b.accessToken, credentialConfigurationId: CONFIGURATION, proofs: { jwt: [proof] }, dpop: b.dpop! }).then(
      () => 'issued',
      (e: unknown) => JSON.stringify(e) + String(e),
    );
    expect(refused).toMatch(/invalid_nonce/);
  });

  it.runIf(enabled)('refuses a key proof for another issuer (aud), a proof with a private key in its header, and a batch of proofs under two nonces', async () => {
    const r = await redeemed();
    const key = await r.wallet.newKey();
    const nonce = async () => (await r.wallet.client.requestNonce({ issuerMetadata: r.metadata })).c_nonce;
    const sign = async (header: Record<string, unknown>, payload: Record<string, unknown>) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'openid4vci-proof+jwt', jwk: key.publicJwk, ...header }).sign(await importJWK(key.privateJwk, 'ES256'));
    const send = (jwts: string[]) =>
      r.wallet.client.retrieveCredentials({ issuerMetadata: r.metadata, accessToken: r.accessToken, credentialConfigurationId: CONFIGURATION, proofs: { jwt: jwts }, dpop: r.dpop! });
    const iat = Math.floor(Date.now() / 1000);
    const why = (p: Promise<unknown>) => p.then(() => 'issued', (e: unknown) => JSON.stringify(e) + String(e));
    expect(await why(send([await sign({}, { aud: 'https://issuer.example.net', iat, nonce: await nonce(), iss: appId })]))).toMatch(/invalid_proof/);
    expect(await why(send([await sign({ jwk: key.privateJwk }, { aud: s.h.issuer, iat, nonce: await nonce(), iss: appId })]))).toMatch(/invalid_proof/);
    const other = await r.wallet.newKey();
    const otherProof = await r.wallet.proof(r.metadata, CONFIGURATION, other);
    expect(await why(send([await sign({}, { aud: s.h.issuer, iat, nonce: await nonce(), iss: appId }), otherProof]))).toMatch(/invalid_proof/);
    // The honest request still works afterwards.
    const ok = await send([await r.wallet.proof(r.metadata, CONFIGURATION, key)]);
    const vc = decodeJwt((ok.credentialResponse.credentials as { credential: string }[])[0]!.credential.split('~')[0]!) as { cnf: { jwk: JWK } };
    expect(await calculateJwkThumbprint(vc.cnf.jwk)).toBe(await calculateJwkThumbprint(key.publicJwk));
  });
});
