/**
 * Yihao as an OID4VCI credential issuer (docs/credentials.md): an independent wallet (test/support/
 * wallet.ts: @openid4vc/openid4vci and @sd-jwt only) gets the citizen's identity credential through
 * the authorization-code flow at loa:2, with a DPoP-bound token and a key proof; presents a subset
 * of its claims with a key-binding JWT; and a verifier built from @sd-jwt/sd-jwt-vc checks it against
 * the keys and status list Yihao publishes. The refusals an attacker would try come with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Openid4vciRetrieveCredentialsError, type IssuerMetadataResult } from '@openid4vc/openid4vci';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { present } from '@sd-jwt/present';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { getListFromStatusListJWT } from '@sd-jwt/jwt-status-list';
import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { browserSignIn, LOA2 } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { APP_REDIRECT, registerMobileApp } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { jwkSigner, Wallet, walletKey, type WalletKey } from '../support/wallet.js';

const CONFIGURATION = 'yihao_identity_sd_jwt';
const SCOPE = 'identity_credential';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** A verifier that knows only the issuer's URL: it reads the issuer's keys from /.well-known/jwt-vc-issuer. */
async function verifierFor(issuer: string): Promise<SDJwtVcInstance> {
  const res = await fetch(`${issuer}/.well-known/jwt-vc-issuer`);
  const meta = (await res.json()) as { issuer: string; jwks: { keys: JWK[] } };
  expect(meta.issuer).toBe(issuer);
  const keys = await Promise.all(meta.jwks.keys.map((k) => ES256.getVerifier(k)));
  const byIssuerKey = async (data: string, sig: string) => {
    for (const verify of keys) if (await verify(data, sig)) return true;
    return false;
  };
  return new SDJwtVcInstance({
    hasher: digest,
    verifier: byIssuerKey,
    statusVerifier: byIssuerKey,
    kbVerifier: async (data, sig, payload) => (await ES256.getVerifier((payload as { cnf: { jwk: JWK } }).cnf.jwk))(data, sig),
  });
}

describe.each(backends)('identity credential issuance ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;
  let wallet: Wallet;
  let metadata: IssuerMetadataResult;
  let accessToken: string;
  let dpop: { signer: ReturnType<typeof jwkSigner>; nonce?: string } | undefined;
  let held: { credential: string; key: WalletKey };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    // The government app, whose registered minimum level (loa:2) the wallet's sign-in must reach.
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2 }));
    citizen = await h.citizen({ name: '李四' });
    wallet = await Wallet.create(appId);
    metadata = await wallet.client.resolveIssuerMetadata(h.issuer);

    // The authorization-code flow at Yihao, the wallet's own authorization server, at loa:2.
    const offer = Wallet.offer(h.issuer, CONFIGURATION);
    const tokens = await wallet.authorize(offer, metadata, SCOPE, APP_REDIRECT, browserSignIn(citizen, APP_REDIRECT));
    accessToken = tokens.accessTokenResponse.access_token;
    expect(tokens.accessTokenResponse.token_type).toBe('DPoP');
    dpop = tokens.dpop as typeof dpop;
  });
  afterAll(async () => h?.close());

  async function request(proofs: string[], opts: { token?: string; withDpop?: boolean } = {}) {
    return wallet.client.retrieveCredentials({
      issuerMetadata: metadata,
      accessToken: opts.token ?? accessToken,
      credentialConfigurationId: CONFIGURATION,
      proofs: { jwt: proofs },
      ...(opts.withDpop === false ? {} : { dpop: dpop! }),
    });
  }

  /** The OID4VCI error a refused credential request got. */
  async function refusal(p: Promise<unknown>): Promise<{ status: number; error: string | undefined }> {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof Openid4vciRetrieveCredentialsError)) throw e;
      const body = e.response.credentialErrorResponseResult?.data ?? (await e.response.response.clone().json().catch(() => undefined));
      return { status: e.response.response.status, error: (body as { error?: string } | undefined)?.error };
    }
    throw new Error('the credential request was not refused');
  }

  /** A credential request sent by hand (to `base`, an instance), with the wallet's token and a DPoP proof for the issuer's URL. */
  async function direct(base: string, body: unknown): Promise<{ status: number; error: string | undefined }> {
    const url = `${h.issuer}/credentials/credential`;
    const proof = await new SignJWT({ htm: 'POST', htu: url, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash('sha256').update(accessToken).digest('base64url') })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: wallet.dpopKey.publicJwk })
      .sign(await importJWK(wallet.dpopKey.privateJwk, 'ES256'));
    const res = await fetch(`${base}/credentials/credential`, { method: 'POST', headers: { authorization: `DPoP ${accessToken}`, dpop: proof, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, error: ((await res.json()) as { error?: string }).error };
  }

  it.runIf(enabled)('publishes issuer metadata that the wallet library accepts, with Yihao as the authorization server', async () => {
    expect(metadata.credentialIssuer.credential_issuer).toBe(h.issuer);
    expect(metadata.authorizationServers[0]!.issuer).toBe(h.issuer);
    const config = metadata.credentialIssuer.credential_configurations_supported[CONFIGURATION]!;
    expect(config).toMatchObject({ format: 'dc+sd-jwt', scope: SCOPE, proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['ES256'] } } });
    expect(metadata.credentialIssuer.nonce_endpoint).toBe(`${h.issuer}/credentials/nonce`);
  });

  it.runIf(enabled)('issues nothing while the recovery hold after a password reset by SMS runs, even on a loa:2 token (the password reset, the authenticator app on the same phone)', async () => {
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    await h.yihao.stores.db('accounts').where({ id: account!.id }).update({ recovered_at: Date.now() });
    try {
      const key = await wallet.newKey();
      expect(await refusal(request([await wallet.proof(metadata, CONFIGURATION, key)]))).toMatchObject({ error: 'credential_request_denied' });
      expect(await h.yihao.stores.db('issued_credentials').where({ account_id: account!.id })).toEqual([]);
    } finally {
      await h.yihao.stores.db('accounts').where({ id: account!.id }).update({ recovered_at: null });
    }
  });

  it.runIf(enabled)('issues the identity credential bound to the proof key, every claim selectively disclosable', async () => {
    const key = await wallet.newKey();
    const res = await request([await wallet.proof(metadata, CONFIGURATION, key)]);
    expect(res.credentialResponse.credentials).toHaveLength(1);
    const credential = (res.credentialResponse.credentials![0] as { credential: string }).credential;
    held = { credential, key };
    wallet.credentials.push(held);

    const sdjwt = new SDJwtVcInstance({ hasher: digest });
    const decoded = await sdjwt.decode(credential);
    const payload = decoded.jwt!.payload as Record<string, unknown>;
    expect(decoded.jwt!.header).toMatchObject({ typ: 'dc+sd-jwt', alg: 'ES256' });
    expect(payload.iss).toBe(h.issuer);
    expect((payload.cnf as { jwk: JWK }).jwk).toMatchObject({ kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y });
    expect(payload).toHaveProperty('status.status_list.uri');
    // Nothing about the citizen in the signed payload itself: only digests.
    for (const claim of ['name', 'birthdate', 'gender', 'citizen_id', 'citizen_id_masked', 'acr']) expect(payload).not.toHaveProperty(claim);
    const claims = (await sdjwt.getClaims(credential)) as Record<string, unknown>;
    expect(claims).toMatchObject({ name: '李四', citizen_id: citizen.citizenId, acr: LOA2 });
    expect(claims.citizen_id_masked).toBe(`${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`);
    // An account created by an operator is self-asserted: no proofing evidence to vouch for.
    expect(claims).not.toHaveProperty('verification');
    expect(((payload.exp as number) - (payload.iat as number)) / 86_400).toBe(365);
  });

  it.runIf(enabled)('presents only the masked ID and the level, with key binding, and a verifier accepts it against the published key and status list', async () => {
    const verifier = await verifierFor(h.issuer);
    const presentation = await wallet.present(held, { citizen_id_masked: true, acr: true }, { aud: 'https://counter.example.gov.cn', nonce: 'n-0S6_WzA2Mj' });
    const result = await verifier.verify(presentation, { keyBindingNonce: 'n-0S6_WzA2Mj' });
    expect(result.kb?.payload.aud).toBe('https://counter.example.gov.cn');
    const shown = result.payload as Record<string, unknown>;
    expect(shown.citizen_id_masked).toMatch(/^\d{6}\*{8}[\dX]{4}$/);
    expect(shown.acr).toBe(LOA2);
    for (const hidden of ['citizen_id', 'name', 'birthdate', 'gender']) expect(shown).not.toHaveProperty(hidden);

    // Another presentation of the full number, without the name: a verifier sees only that.
    const other = await present(held.credential, { citizen_id: true }, digest);
    const plain = await verifier.verify(other);
    expect((plain.payload as Record<string, unknown>).citizen_id).toBe(citizen.citizenId);
    expect(plain.payload).not.toHaveProperty('name');
  });

  it.runIf(enabled)('refuses a tampered disclosure and a presentation bound to another key or nonce', async () => {
    const verifier = await verifierFor(h.issuer);
    const presentation = await wallet.present(held, { citizen_id_masked: true }, { aud: 'https://counter.example.gov.cn', nonce: 'n1' });
    const [jwt, disclosure, ...rest] = presentation.split('~');
    const forged = Buffer.from(JSON.stringify([...JSON.parse(Buffer.from(disclosure!, 'base64url').toString()).slice(0, 2), '110105********9999'])).toString('base64url');
    await expect(verifier.verify([jwt, forged, ...rest].join('~'), { keyBindingNonce: 'n1' })).rejects.toThrow();
    await expect(verifier.verify(presentation, { keyBindingNonce: 'another nonce' })).rejects.toThrow();
    const thief = await wallet.newKey();
    const stolen = await wallet.present({ credential: held.credential, key: thief }, { citizen_id_masked: true }, { aud: 'https://counter.example.gov.cn', nonce: 'n2' });
    await expect(verifier.verify(stolen, { keyBindingNonce: 'n2' })).rejects.toThrow();
  });

  it.runIf(enabled)('refuses a nonce that was used before, even in a fresh proof', async () => {
    const key = await wallet.newKey();
    const nonce = (await wallet.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
    await request([await wallet.proof(metadata, CONFIGURATION, key, { nonce })]);
    expect(await refusal(request([await wallet.proof(metadata, CONFIGURATION, key, { nonce })]))).toEqual({ status: 400, error: 'invalid_nonce' });
  });

  it.runIf(enabled)('refuses on a second instance a nonce used on the first', async () => {
    const second = await startHarness({ share: h });
    try {
      const nonce = (await wallet.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
      const body = async () => ({ credential_configuration_id: CONFIGURATION, proofs: { jwt: [await wallet.proof(metadata, CONFIGURATION, await wallet.newKey(), { nonce })] } });
      expect((await direct(h.url, await body())).status).toBe(200);
      expect(await direct(second.url, await body())).toEqual({ status: 400, error: 'invalid_nonce' });
    } finally {
      await second.close();
    }
  });

  it.runIf(enabled)('refuses a nonce it never made', async () => {
    const key = await wallet.newKey();
    const real = (await wallet.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
    // Shaped like ours, but not keyed by us.
    const forged = `${real.slice(0, -43)}${'A'.repeat(43)}`;
    expect(await refusal(request([await wallet.proof(metadata, CONFIGURATION, key, { nonce: forged })]))).toEqual({ status: 400, error: 'invalid_nonce' });
    expect(await refusal(request([await wallet.proof(metadata, CONFIGURATION, key, { nonce: 'made-up-nonce' })]))).toEqual({ status: 400, error: 'invalid_nonce' });
  });

  it.runIf(enabled)("refuses a proof that names another wallet's key than the one it was signed with", async () => {
    // The credential would be bound (cnf) to a key the requester does not hold, or a thief's proof would pass for the victim's.
    const victim = (await walletKey()).publicJwk;
    const honest = await wallet.proof(metadata, CONFIGURATION, await wallet.newKey());
    const [header, payload, signature] = honest.split('.');
    const swapped = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header!, 'base64url').toString()), jwk: victim })).toString('base64url');
    expect(await refusal(request([`${swapped}.${payload}.${signature}`]))).toEqual({ status: 400, error: 'invalid_proof' });
  });

  it.runIf(enabled)('accepts a proof without iss, and refuses one that names another app', async () => {
    const anonymous = await request([await wallet.proof(metadata, CONFIGURATION, await wallet.newKey(), { clientId: null })]);
    expect(anonymous.credentialResponse.credentials).toHaveLength(1);
    const other = await wallet.proof(metadata, CONFIGURATION, await wallet.newKey(), { clientId: 'yh_someone_else' });
    expect(await refusal(request([other]))).toEqual({ status: 400, error: 'invalid_proof' });
  });

  it.runIf(enabled)('refuses a proof from long ago', async () => {
    const old = await wallet.proof(metadata, CONFIGURATION, await wallet.newKey(), { issuedAt: new Date(Date.now() - 3_600_000) });
    expect(await refusal(request([old]))).toEqual({ status: 400, error: 'invalid_proof' });
  });

  it.runIf(enabled)('refuses the DPoP-bound token without its proof, and a token from a sign-in below loa:2', async () => {
    const key = await wallet.newKey();
    expect((await refusal(request([await wallet.proof(metadata, CONFIGURATION, key)], { withDpop: false }))).status).toBe(401);

    // Another first-party app with no minimum level: its wallet signs the citizen in with a password only (loa:1).
    const { client_id: lowAppId } = await registerMobileApp(h, { name: '另一个 App' });
    const lowWallet = await Wallet.create(lowAppId);
    const offer = Wallet.offer(h.issuer, CONFIGURATION);
    const other = await h.citizen();
    const tokens = await lowWallet.authorize(offer, metadata, SCOPE, APP_REDIRECT, browserSignIn(other, APP_REDIRECT));
    const lowDpop = tokens.dpop as typeof dpop;
    const answer = await refusal(
      lowWallet.client.retrieveCredentials({
        issuerMetadata: metadata,
        accessToken: tokens.accessTokenResponse.access_token,
        credentialConfigurationId: CONFIGURATION,
        proofs: { jwt: [await lowWallet.proof(metadata, CONFIGURATION, await lowWallet.newKey())] },
        dpop: lowDpop!,
      }),
    );
    expect(answer).toEqual({ status: 401, error: 'insufficient_user_authentication' });
  });

  it.runIf(enabled)('refuses the credential resource to an app that is not first-party', async () => {
    const { client_id: thirdParty } = await h.client({ name: '某商业 App', redirectUris: [APP_REDIRECT], public: true, scope: 'openid' });
    const stranger = await Wallet.create(thirdParty);
    const attempt = stranger.client.initiateAuthorization({ credentialOffer: Wallet.offer(h.issuer, CONFIGURATION), issuerMetadata: metadata, clientId: thirdParty, redirectUri: APP_REDIRECT, scope: SCOPE });
    await expect(attempt).rejects.toThrow(/invalid_target/);
  });

  it.runIf(enabled)('answers malformed requests with a 4xx and an OAuth-style error, never a 500', async () => {
    const post = (path: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
      fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...init.headers }, body: init.body ?? '{}' });
    const bearer = { authorization: `Bearer ${accessToken}` };
    const cases: [string, Response][] = [
      ['no token', await post('/credentials/credential')],
      ['garbage token', await post('/credentials/credential', { headers: { authorization: 'Bearer not a token' } })],
      ['bound token as Bearer', await post('/credentials/credential', { headers: bearer })],
      ['form body', await post('/credentials/credential', { headers: { ...bearer, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' })],
      ['broken JSON', await post('/credentials/credential', { headers: bearer, body: '{"credential_configuration_id":' })],
      ['huge body', await post('/credentials/credential', { headers: bearer, body: JSON.stringify({ x: 'y'.repeat(h.config.limits.bodyMaxBytes) }) })],
    ];
    for (const [what, res] of cases) {
      expect(res.status, what).toBeGreaterThanOrEqual(400);
      expect(res.status, what).toBeLessThan(500);
      expect(((await res.json()) as { error?: string }).error, what).toMatch(/^[a-z_]+$/);
    }
    // With the token and a DPoP proof of its key, but a request for another credential, or one that is not a credential request.
    const withProof = (body: unknown) => direct(h.url, body);
    const proofJwt = await wallet.proof(metadata, CONFIGURATION, await wallet.newKey());
    expect(await withProof({ credential_configuration_id: 'driving_licence', proofs: { jwt: [proofJwt] } })).toMatchObject({ status: 400 });
    expect(await withProof([1, 2])).toEqual({ status: 400, error: 'invalid_credential_request' });
    expect(await withProof({ credential_configuration_id: CONFIGURATION })).toEqual({ status: 400, error: 'invalid_proof' });
    expect(await withProof({ credential_configuration_id: CONFIGURATION, proofs: { jwt: ['x.y.z'] } })).toMatchObject({ status: 400 });
    expect((await fetch(`${h.url}/credentials/status/nosuchlist000000`)).status).toBe(404);
    expect((await fetch(`${h.url}/credentials/status/${'x'.repeat(300)}`)).status).toBe(404);
  });

  it.runIf(enabled)('issues a batch, one credential per key, each with its own status entry', async () => {
    const keys = await Promise.all([wallet.newKey(), wallet.newKey(), wallet.newKey()]);
    const nonce = (await wallet.client.requestNonce({ issuerMetadata: metadata })).c_nonce;
    const res = await request(await Promise.all(keys.map((k) => wallet.proof(metadata, CONFIGURATION, k, { nonce }))));
    const creds = (res.credentialResponse.credentials as { credential: string }[]).map((c) => decodeJwt(c.credential.split('~')[0]!));
    expect(creds.map((c) => (c.cnf as { jwk: JWK }).jwk.x)).toEqual(keys.map((k) => k.publicJwk.x));
    expect(new Set(creds.map((c) => (c.status as { status_list: { idx: number } }).status_list.idx)).size).toBe(3);
  });

  it.runIf(enabled)('revokes a credential through the revocation service: its status list shows it, and the verifier refuses it', async () => {
    const payload = decodeJwt(held.credential.split('~')[0]!) as { status: { status_list: { uri: string; idx: number } } };
    const list = await fetch(payload.status.status_list.uri, { headers: { accept: 'application/statuslist+jwt' } });
    expect(list.status).toBe(200);
    expect(list.headers.get('content-type')).toContain('application/statuslist+jwt');
    expect(list.headers.get('cache-control')).toBe(`public, max-age=${h.config.credentials.statusListTtlSeconds}`);
    expect(getListFromStatusListJWT(await list.text()).getStatus(payload.status.status_list.idx)).toBe(0);

    const account = await h.yihao.accounts.findBySub(citizen.sub);
    const issued = await h.yihao.credentials.store.listByAccount(account!.id);
    const mine = issued.find((c) => c.statusListId && c.statusIndex === payload.status.status_list.idx)!;
    await h.yihao.credentials.revocation.revoke(mine.id, { type: 'system', id: 'cli' }, 'test');

    const after = await (await fetch(payload.status.status_list.uri)).text();
    expect(getListFromStatusListJWT(after).getStatus(payload.status.status_list.idx)).toBe(1);
    const verifier = await verifierFor(h.issuer);
    const presentation = await wallet.present(held, { acr: true }, { aud: 'https://counter.example.gov.cn', nonce: 'n3' });
    await expect(verifier.verify(presentation, { keyBindingNonce: 'n3' })).rejects.toThrow(/Status is not valid/);
    const event = await h.yihao.stores.db('audit_events').where({ action: 'vc.revoked' }).orderBy('id', 'desc').first();
    expect(event).toMatchObject({ account_id: citizen.sub });
    expect(String(event.details)).not.toContain(citizen.citizenId);
  });
});

