/**
 * Issuance of verifiable credentials (OID4VCI pre-authorized code flow), attacked as a
 * stranger and as a malicious wallet. Each test states an attack and what a secure issuer must do.
 * The wallet is hand-rolled here (fetch + jose) so that the requests can be bent freely.
 * Found by a review: an offer's access token, used again with fresh nonces and new keys, minted a
 * credential each time for its whole lifetime ("one offer yields one issuance" failed before).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { logCapture } from '../support/log-capture.js';
import { JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { walletKey } from '../support/wallet.js';
import { now, offerWallet, PRE_AUTHORIZED } from '../support/offer-wallet.js';

const CONFIGURATION = 'yihao_identity_sd_jwt';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];


describe.each(backends)('verifiable credential issuance under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  const logs = logCapture('trace');

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, logger: logs.logger });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
  }, 60_000);
  afterAll(async () => h?.close());

  const { makeOffer, redeem, nonce, proof, credential, issuedCount, redeemedOffer } = offerWallet(() => h, () => appId);

  it.runIf(enabled)('one offer yields one issuance: its token, used again with a fresh nonce, gets no second batch of credentials', async () => {
    const o = await redeemedOffer();
    const first = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
    expect(first.status).toBe(200);
    // The same token again, with a fresh nonce and a new key: a second credential from the same offer.
    const again = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
    expect(again.status).not.toBe(200);
    expect(await issuedCount(o.citizen.sub)).toBe(1);
  }, 60_000);

  it.runIf(enabled)('a key proof replayed (the same JWT, its nonce used) gets nothing, and two requests racing with one nonce get one issuance', async () => {
    const o = await redeemedOffer();
    const key = await walletKey();
    const p = await proof(key, await nonce());
    const body = { credential_configuration_id: CONFIGURATION, proofs: { jwt: [p] } };
    const [a, b] = await Promise.all([credential(o.token, o.dpopKey, body), credential(o.token, o.dpopKey, body)]);
    expect([a.status, b.status].sort()).toEqual([200, 400]);
    const replayed = await credential(o.token, o.dpopKey, body);
    expect(replayed.status).toBe(400);
    expect(replayed.body.error).toBe('invalid_nonce');
    expect(await issuedCount(o.citizen.sub)).toBe(1);
  }, 60_000);

  it.runIf(enabled)('refuses key proofs for another audience, another app, a key the wallet does not hold, a forged nonce, a stale iat, without using the nonce up', async () => {
    const o = await redeemedOffer();
    const key = await walletKey();
    const other = await walletKey();
    const n = await nonce();
    const forged = n.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    const cases: [string, string][] = [
      ['wrong aud', await proof(key, n, { aud: 'https://evil.example' })],
      ['no aud', await proof(key, n, { aud: undefined })],
      ['another app as iss', await proof(key, n, { iss: 'some-other-client' })],
      ['signed by a key not in its header', await proof(key, n, {}, {}, other)],
      ['forged nonce', await proof(key, forged)],
      ['no nonce', await proof(key, n, { nonce: undefined })],
      ['stale iat', await proof(key, n, { iat: now() - 3600 })],
      ['wrong typ', await proof(key, n, {}, { typ: 'JWT' })],
      ['private key in header', await proof(key, n, {}, { jwk: key.privateJwk })],
    ];
    for (const [label, jwt] of cases) {
      const r = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [jwt] } });
      expect({ label, status: r.status }).toEqual({ label, status: 400 });
      expect(['invalid_proof', 'invalid_nonce', 'invalid_credential_request']).toContain(r.body.error);
    }
    expect(await issuedCount(o.citizen.sub)).toBe(0);
    // None of them used the nonce up: the honest proof still gets its credential.
    const ok = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(key, n)] } });
    expect(ok.status).toBe(200);
  }, 60_000);

  it.runIf(enabled)('a batch over the limit, a duplicated key, mixed nonces and malformed bodies are refused with 4xx, never a 500, and record nothing', async () => {
    const o = await redeemedOffer();
    const n = await nonce();
    const keys = await Promise.all(Array.from({ length: 11 }, () => walletKey()));
    const eleven = await Promise.all(keys.map((k) => proof(k, n)));
    const dupKey = await walletKey();
    const bodies: [string, unknown][] = [
      ['11 proofs', { credential_configuration_id: CONFIGURATION, proofs: { jwt: eleven } }],
      ['1000 proofs', { credential_configuration_id: CONFIGURATION, proofs: { jwt: Array.from({ length: 1000 }, () => eleven[0]) } }],
      ['same key twice', { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(dupKey, n), await proof(dupKey, n)] } }],
      ['two nonces', { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(keys[0]!, n), await proof(keys[1]!, await nonce())] } }],
      ['proof not a string', { credential_configuration_id: CONFIGURATION, proofs: { jwt: [42] } }],
      ['proofs not an object', { credential_configuration_id: CONFIGURATION, proofs: 'x' }],
      ['empty proofs', { credential_configuration_id: CONFIGURATION, proofs: { jwt: [] } }],
      ['legacy proof, garbage', { credential_configuration_id: CONFIGURATION, proof: { proof_type: 'jwt', jwt: 'a.b.c' } }],
      ['both id kinds', { credential_configuration_id: CONFIGURATION, credential_identifier: 'x', proofs: { jwt: [eleven[0]] } }],
      ['unknown configuration', { credential_configuration_id: 'cert_../../x', proofs: { jwt: [eleven[0]] } }],
      ['configuration not a string', { credential_configuration_id: { a: 1 }, proofs: { jwt: [eleven[0]] } }],
      ['nonce not a string', { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(keys[2]!, { x: 1 } as never)] } }],
      ['array body', [1, 2]],
    ];
    for (const [label, body] of bodies) {
      const r = await credential(o.token, o.dpopKey, body);
      expect({ label, status: r.status >= 400 && r.status < 500 ? '4xx' : r.status }).toEqual({ label, status: '4xx' });
    }
    expect(await issuedCount(o.citizen.sub)).toBe(0);
  }, 90_000);

  it.runIf(enabled)('an identity offer’s token gets no department certificate and no other citizen’s credential', async () => {
    const o = await redeemedOffer();
    const r = await credential(o.token, o.dpopKey, { credential_configuration_id: 'cert_driving_licence', proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    // The token names its account; the credential is the offer's citizen's whatever the wallet sends.
    const ok = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce(), { sub: 'someone-else' })] } });
    expect(ok.status).toBe(200);
    const sdjwt = ((ok.body.credentials as { credential: string }[])[0]!.credential).split('~')[0]!;
    const payload = JSON.parse(Buffer.from(sdjwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.sub === undefined || payload.sub !== 'someone-else').toBe(true);
  }, 60_000);

  it.runIf(enabled)('the offer’s access token is bound to the redeeming wallet’s DPoP key: a thief with the token alone, or as Bearer, gets nothing', async () => {
    const o = await redeemedOffer();
    const thiefKey = await walletKey();
    const stolen = await credential(o.token, thiefKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(thiefKey, await nonce())] } });
    expect(stolen.status).toBe(401);
    const bearer = await fetch(`${h.issuer}/credentials/credential`, { method: 'POST', headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(thiefKey, await nonce())] } }) });
    expect(bearer.status).toBe(401);
    expect(await issuedCount(o.citizen.sub)).toBe(0);
  }, 60_000);

  it.runIf(enabled)('transaction-code guesses sent all at once still die after five: the right code afterwards gets no token', async () => {
    const o = await makeOffer();
    const wrongs = Array.from({ length: 12 }, (_, i) => String((Number(o.txCode) + 1 + i) % 1_000_000).padStart(6, '0'));
    const results = await Promise.all(wrongs.map(async (w) => redeem(o.code, w, await walletKey())));
    expect(results.every((r) => r.status === 400 && r.body.error === 'invalid_grant')).toBe(true);
    const right = await redeem(o.code, o.txCode, await walletKey());
    expect(right.status).toBe(400);
    expect(right.body.error).toBe('invalid_grant');
  }, 60_000);

  it.runIf(enabled)('a stranger who knows only the offer id (not the code’s secret) cannot use up the citizen’s five tries', async () => {
    const o = await makeOffer();
    const [offerId] = o.code.split('.');
    for (let i = 0; i < 7; i++) {
      const r = await redeem(`${offerId}.${'A'.repeat(43)}`, String(i).padStart(6, '0'), await walletKey());
      expect(r.status).toBe(400);
    }
    const right = await redeem(o.code, o.txCode, await walletKey());
    expect(right.status).toBe(200);
  }, 60_000);

  it.runIf(enabled)('a right code racing with wrong guesses gives at most one token, and the offer is then dead', async () => {
    const o = await makeOffer();
    const attempts = [o.txCode, o.txCode, '000000', o.txCode, '999999', o.txCode];
    const results = await Promise.all(attempts.map(async (t) => redeem(o.code, t, await walletKey())));
    expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
    expect(results.every((r) => r.status === 200 || r.status === 400)).toBe(true);
    const later = await redeem(o.code, o.txCode, await walletKey());
    expect(later.status).toBe(400);
  }, 60_000);

  it.runIf(enabled)('neither the transaction code, the code’s secret nor the citizen ID reach the log, the offer URI or the offer document', async () => {
    const o = await redeemedOffer();
    await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
    const secret = o.code.split('.')[1]!;
    const text = logs.text();
    expect(text).not.toContain(o.citizen.citizenId);
    expect(text).not.toContain(secret);
    expect(text).not.toMatch(new RegExp(`tx_code[^\\n]{0,40}${o.txCode}`));
    expect(o.offerUri).not.toContain(o.citizen.citizenId);
    expect(o.offerUri).not.toContain(o.txCode);
    expect(o.offerUri).not.toContain(o.citizen.sub);
    const audit = JSON.stringify(await h.yihao.stores.db('audit_events').where({ account_id: o.citizen.sub }).select('details'));
    expect(audit).not.toContain(secret);
    expect(audit).not.toContain(o.citizen.citizenId);
  }, 60_000);
});
