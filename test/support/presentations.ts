/**
 * The parties around Yihao's OID4VP verifier in tests: a kiosk and counter staff that start
 * presentation requests, and a citizen whose independent wallet holds the identity credential,
 * got through the counter's offer (OID4VCI), and presents it (OID4VP). Nothing of Yihao's code on
 * the wallet's side.
 */
import { randomBytes } from 'node:crypto';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { issueIdentityCredential } from '../../src/credentials/identity-credential.js';
import type * as oidc from 'openid-client';
import { LOA2 } from './admin-operators.js';
import { citizenWithPhone, counterClientOf, offerCodeSentTo, staffSignIn } from './counter-staff.js';
import { startHarness, type Backend, type Harness } from './harness.js';
import { JWT_BEARER, registerMobileApp } from './mobile-app.js';
import { REDIRECT, relyingParty } from './relying-party.js';
import { simulatedKiosk, type SimulatedKiosk } from './simulated-kiosk.js';
import { PresentingWallet, Wallet, type WalletKey } from './wallet.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const CONFIGURATION = 'yihao_identity_sd_jwt';
export const VCT = 'urn:yihao:vct:identity:1';
const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type Held = { credential: string; key: WalletKey };
export interface Started {
  request_id: string;
  result_token: string;
  request_uri: string;
  request_link: string;
  qr_code: string;
  expires_at: number;
}

export interface VerifierSetup {
  h: Harness;
  kiosk: SimulatedKiosk;
  counter: oidc.Configuration;
  /** The department that owns the counter system. */
  departmentId: string;
  staffToken: string;
  /** The counter staff member's `sub`, and the counter system's client id. */
  staffSub: string;
  counterClientId: string;
  citizen: Awaited<ReturnType<Harness['citizen']>> & { phone: string };
  wallet: Wallet;
  held: Held;
  presenter: PresentingWallet;
}

/** The kiosk's client assertion for the presentation request endpoint (RFC 7523). */
export async function kioskAssertion(h: Harness, kiosk: SimulatedKiosk, opts: { jti?: string } = {}): Promise<string> {
  const kid = JSON.parse(Buffer.from((await kiosk.assertion({ citizenId: '0' })).split('.')[0]!, 'base64url').toString()).kid as string;
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(kiosk.client.client_id)
    .setSubject(kiosk.client.client_id)
    .setAudience(h.issuer)
    .setIssuedAt()
    .setExpirationTime('1m')
    .setJti(opts.jti ?? randomBytes(16).toString('base64url'))
    .sign(kiosk.privateKey);
}

export async function startAsKiosk(h: Harness, kiosk: SimulatedKiosk, body: Record<string, unknown>, assertion?: string): Promise<Response> {
  return fetch(`${h.issuer}/presentations/requests`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, client_id: kiosk.client.client_id, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion ?? (await kioskAssertion(h, kiosk)) }),
  });
}

export async function startAsStaff(h: Harness, token: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${h.issuer}/presentations/requests`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
}

export async function readResult(h: Harness, id: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.issuer}/presentations/requests/${id}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * The wallet's part: scans the link, resolves and verifies the request, shows the claims the request
 * asks for (or `frame`), with a key-binding JWT for the request's client id and nonce unless told otherwise.
 */
export async function present(presenter: PresentingWallet, link: string, held: Held, opts: { frame?: Record<string, boolean>; nonce?: string; aud?: string; mangle?: (p: string) => string } = {}): Promise<Response> {
  const resolved = await presenter.resolve(link);
  const asked = PresentingWallet.asked(resolved);
  const payload = resolved.authorizationRequestPayload as { client_id: string; nonce: string };
  const sdjwt = new SDJwtVcInstance({ hasher: digest, kbSigner: await ES256.getSigner(held.key.privateJwk), kbSignAlg: 'ES256' });
  const frame = opts.frame ?? Object.fromEntries(asked.claims.map((c) => [c, true]));
  let presentation = await sdjwt.present(held.credential, frame, { kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: opts.aud ?? payload.client_id, nonce: opts.nonce ?? payload.nonce } } });
  if (opts.mangle) presentation = opts.mangle(presentation);
  return presenter.submit(resolved, { [asked.id]: [presentation] });
}

/** Everything a verifier test needs: a kiosk, counter staff signed in, and a citizen whose wallet holds the identity credential. */
export async function verifierSetup(backend: Backend): Promise<VerifierSetup> {
  const h = await startHarness({ backend });
  const { client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] });
  const counterClient = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
  const counter: oidc.Configuration = await relyingParty(h, counterClient);
  const departmentId = await counterClientOf(h, counterClient, '杭州市政务服务中心');
  const staff = await h.citizen({ name: '李柜员' });
  await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
  const staffToken = (await staffSignIn(h, counter, staff)).access_token;
  const kiosk = await simulatedKiosk(h);
  const citizen = await citizenWithPhone(h, '孙七');

  // The citizen's wallet gets the credential through the counter's offer (OID4VCI, pre-authorized code).
  const offer = (await (
    await fetch(`${h.issuer}/credentials/offers/counter`, { method: 'POST', headers: { authorization: `Bearer ${staffToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ citizen_id: citizen.citizenId, document_check: 'in_person' }) })
  ).json()) as { credential_offer: string };
  const wallet = await Wallet.create(appId);
  const redeemed = await wallet.redeemOffer(offer.credential_offer, await offerCodeSentTo(h, citizen.phone));
  const key = await wallet.newKey();
  const issued = await wallet.client.retrieveCredentials({
    issuerMetadata: redeemed.metadata,
    accessToken: redeemed.accessToken,
    credentialConfigurationId: CONFIGURATION,
    proofs: { jwt: [await wallet.proof(redeemed.metadata, CONFIGURATION, key)] },
    dpop: redeemed.dpop!,
  });
  const held = { credential: (issued.credentialResponse.credentials as { credential: string }[])[0]!.credential, key };

  // The government app ships Yihao's verifier as pre-registered: its client id and request-signing keys.
  const verifier = (await (await fetch(`${h.issuer}/presentations/verifier`)).json()) as { client_id: string; jwks: { keys: JWK[] } };
  return { h, kiosk, counter, departmentId, staffToken, staffSub: staff.sub, counterClientId: counterClient.client_id, citizen, wallet, held, presenter: new PresentingWallet({ clientId: verifier.client_id, jwks: verifier.jwks }) };
}


/**
 * An identity credential as the credential endpoint makes it (its record with the holder key's
 * thumbprint and status entry, signed with the active issuer key), for validity dates the OID4VCI
 * flow cannot give (an expired credential) or an account made for one test.
 */
export async function issueDirect(h: Harness, sub: string, wallet: Wallet, validity: { issuedAt: number; expiresAt: number } = { issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 }): Promise<{ held: Held; id: string }> {
  const account = (await h.yihao.accounts.findBySub(sub))!;
  const key = await wallet.newKey();
  const record = await h.yihao.credentials.store.record({ accountId: account.id, type: VCT, clientId: 'yh_app', holderJkt: await calculateJwkThumbprint(key.publicJwk), ...validity });
  const credential = await issueIdentityCredential({
    subject: { account, acr: LOA2 },
    holderJwk: key.publicJwk,
    issuer: h.issuer,
    ...validity,
    status: { uri: `${h.issuer}/credentials/status/${record.statusListId}`, idx: record.statusIndex },
    signingKey: await h.yihao.credentials.signer.active(),
  });
  return { held: { credential, key }, id: record.id };
}
