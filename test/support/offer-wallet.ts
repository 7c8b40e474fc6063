/**
 * A wallet rolled by hand (fetch + jose) for the pre-authorized code flow, so that a test can bend
 * every request: the citizen's portal wallet page makes an offer, the wallet redeems it with a
 * DPoP-bound token and asks for credentials with key proofs of its own making. test/support/wallet.ts
 * is the independent wallet built from the protocol libraries; this one is for attacks.
 */
import { createHash, randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { expect } from 'vitest';
import { walkSignIn } from './admin-operators.js';
import type { Harness } from './harness.js';
import { formField, ScriptedBrowser, unescapeHtml } from './scripted-browser.js';
import { walletKey, type WalletKey } from './wallet.js';

export const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;
type Answer = { status: number; body: Record<string, unknown> };

export const now = () => Math.floor(Date.now() / 1000);

/** A compact JWS of `payload`, signed ES256 with `key`. */
export const sign = async (key: WalletKey, header: Record<string, unknown>, payload: Record<string, unknown>) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'ES256', ...header } as never).sign(await importJWK(key.privateJwk, 'ES256'));

/**
 * The wallet of app `appId` (a mobile app allowed the pre-authorized code grant) against the harness
 * `harness` returns (both read at each call: a test file starts them in its beforeAll).
 */
export function offerWallet(harness: () => Harness, appId: () => string) {
  /** The citizen's browser on the portal's wallet page at loa:2. */
  async function walletPage(citizen: Citizen): Promise<{ browser: ScriptedBrowser; html: string }> {
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${harness().issuer}/account/wallet`), citizen, () => false);
    const res = await browser.request(`${harness().issuer}/account/wallet/sign-in`, { form: { csrf: formField(first.html!, 'csrf')! } });
    expect(res.status).toBe(303);
    const second = await walkSignIn(browser, new URL(res.headers.get('location')!, harness().issuer), citizen, () => false);
    expect(second.html).toContain('action="/account/wallet/offer"');
    return { browser, html: second.html! };
  }

  /** An offer: its pre-authorized code (read from the offer document) and the transaction code. */
  async function makeOffer(citizen?: Citizen): Promise<{ citizen: Citizen; offerUri: string; code: string; txCode: string }> {
    const who = citizen ?? (await harness().citizen());
    const s = await walletPage(who);
    const res = await s.browser.request(`${harness().issuer}/account/wallet/offer`, { form: { csrf: formField(s.html, 'csrf')! } });
    expect(res.status).toBe(200);
    const html = await res.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(html)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(html)![1]!;
    const doc = (await (await fetch(new URL(offerUri).searchParams.get('credential_offer_uri')!)).json()) as { grants: Record<string, { 'pre-authorized_code': string }> };
    return { citizen: who, offerUri, code: doc.grants[PRE_AUTHORIZED]!['pre-authorized_code'], txCode };
  }

  /** A token request for the pre-authorized code grant, with a DPoP proof of `dpopKey`. */
  async function redeem(code: string, txCode: string | undefined, dpopKey: WalletKey, clientId = appId()): Promise<Answer> {
    const dpop = await sign(dpopKey, { typ: 'dpop+jwt', jwk: dpopKey.publicJwk }, { htm: 'POST', htu: `${harness().issuer}/token`, iat: now(), jti: randomUUID() });
    const form: Record<string, string> = { grant_type: PRE_AUTHORIZED, 'pre-authorized_code': code, client_id: clientId };
    if (txCode !== undefined) form.tx_code = txCode;
    const res = await fetch(`${harness().issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop }, body: new URLSearchParams(form).toString() });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** A c_nonce, from `target` (another instance of the same issuer) or the harness. */
  async function nonce(target: Harness = harness()): Promise<string> {
    const res = await fetch(`${target.url}/credentials/nonce`, { method: 'POST' });
    return ((await res.json()) as { c_nonce: string }).c_nonce;
  }

  /** A key proof (OID4VCI §F.1); `over` replaces or removes (undefined) payload members, `headerOver` header members. */
  async function proof(key: WalletKey, n: string, over: Record<string, unknown> = {}, headerOver: Record<string, unknown> = {}, signWith: WalletKey = key): Promise<string> {
    const payload: Record<string, unknown> = { aud: harness().issuer, iat: now(), nonce: n, iss: appId(), ...over };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return sign(signWith, { typ: 'openid4vci-proof+jwt', jwk: key.publicJwk, ...headerOver }, payload);
  }

  /** A credential request with the DPoP-bound token, to `target` (another instance) or the harness. */
  async function credential(token: string, dpopKey: WalletKey, body: unknown, target: Harness = harness()): Promise<Answer> {
    const url = `${harness().issuer}/credentials/credential`;
    const dpop = await sign(dpopKey, { typ: 'dpop+jwt', jwk: dpopKey.publicJwk }, { htm: 'POST', htu: url, iat: now(), jti: randomUUID(), ath: createHash('sha256').update(token).digest('base64url') });
    const res = await fetch(url.replace(harness().issuer, target.url), { method: 'POST', headers: { authorization: `DPoP ${token}`, dpop, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  }

  /** How many credentials the citizen has been issued. */
  const issuedCount = async (sub: string) => {
    const account = await harness().yihao.accounts.findBySub(sub);
    return (await harness().yihao.credentials.store.listByAccount(account!.id)).length;
  };

  /** A redeemed offer: its access token and the wallet's DPoP key. */
  async function redeemedOffer() {
    const offer = await makeOffer();
    const dpopKey = await walletKey();
    const r = await redeem(offer.code, offer.txCode, dpopKey);
    expect(r.status).toBe(200);
    return { ...offer, token: r.body.access_token as string, dpopKey };
  }

  return { walletPage, makeOffer, redeem, nonce, proof, credential, issuedCount, redeemedOffer };
}
