/**
 * The pre-authorized code flow (docs/credentials.md): the citizen, signed in to the portal at
 * loa:2, asks for a credential offer; the page shows a QR code and, apart from it, a transaction
 * code. An independent wallet (test/support/wallet.ts: @openid4vc/openid4vci and @sd-jwt only)
 * scans the offer, redeems its pre-authorized code with the transaction code, and gets the
 * identity credential bound to its key. The attacker's tries come with it: a wrong transaction
 * code (and the offer dead after five), a replayed code, an app that is not first party.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { walkSignIn } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { formField, ScriptedBrowser, unescapeHtml } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet, walletKey } from '../support/wallet.js';
import * as oidc from 'openid-client';
import { citizenWithPhone, counterClientOf, offerCodeSentTo, staffSignIn } from '../support/counter-staff.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const CONFIGURATION = 'yihao_identity_sd_jwt';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Citizen = Awaited<ReturnType<Harness['citizen']>>;


/** The token endpoint's OAuth error for a refused redemption. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as { errorResponse?: { error?: string }; response?: Response; message?: string };
    if (err.errorResponse?.error) return err.errorResponse.error;
    const body = (await err.response?.clone().json().catch(() => undefined)) as { error?: string } | undefined;
    return body?.error ?? String(err.message);
  }
  throw new Error('the redemption was not refused');
}

describe.each(backends)('credential offers and the pre-authorized code flow ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
  });
  afterAll(async () => h?.close());

  /** The citizen's browser signed in to the portal's wallet page at loa:2 (TOTP enrolled on the way). */
  async function walletPage(citizen: Citizen): Promise<{ browser: ScriptedBrowser; html: string }> {
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${h.issuer}/account/wallet`), citizen, () => false);
    expect(first.url.pathname).toBe('/account/wallet');
    // Signed in with a password only: the page asks for two factors first.
    expect(first.html).toContain('action="/account/wallet/sign-in"');
    expect(first.html).not.toContain('action="/account/wallet/offer"');
    const res = await browser.request(`${h.issuer}/account/wallet/sign-in`, { form: { csrf: formField(first.html!, 'csrf')! } });
    expect(res.status).toBe(303);
    const second = await walkSignIn(browser, new URL(res.headers.get('location')!, h.issuer), citizen, () => false);
    expect(second.url.pathname).toBe('/account/wallet');
    expect(second.html).toContain('action="/account/wallet/offer"');
    return { browser, html: second.html! };
  }

  /** Posts "add my identity credential to a wallet" and reads the offer URI (the QR code's) and the transaction code. */
  async function makeOffer(s: { browser: ScriptedBrowser; html: string }): Promise<{ offerUri: string; txCode: string }> {
    const res = await s.browser.request(`${h.issuer}/account/wallet/offer`, { form: { csrf: formField(s.html, 'csrf')! } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(html)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(html)![1]!;
    expect(html).toContain('src="data:image/png;base64,');
    expect(offerUri).toMatch(/^openid-credential-offer:\/\/\?credential_offer_uri=/);
    // The transaction code travels apart from the QR code: never in the offer or its URL.
    expect(offerUri).not.toContain(txCode);
    return { offerUri, txCode };
  }

  it.runIf(enabled)('a wallet redeems the portal’s offer with the transaction code and gets the identity credential bound to its key', async () => {
    const citizen = await h.citizen({ name: '王五' });
    const { offerUri, txCode } = await makeOffer(await walletPage(citizen));

    const wallet = await Wallet.create(appId);
    const offer = await wallet.client.resolveCredentialOffer(offerUri);
    expect(offer.credential_configuration_ids).toEqual([CONFIGURATION]);
    const grant = offer.grants?.[PRE_AUTHORIZED];
    expect(grant?.tx_code).toMatchObject({ input_mode: 'numeric', length: 6 });
    expect(JSON.stringify(offer)).not.toContain(txCode);

    const redeemed = await wallet.redeemOffer(offerUri, txCode);
    expect(redeemed.tokenResponse.token_type).toBe('DPoP');
    expect(redeemed.tokenResponse.refresh_token).toBeUndefined();
    expect(redeemed.tokenResponse.id_token).toBeUndefined();

    const key = await wallet.newKey();
    const res = await wallet.client.retrieveCredentials({
      issuerMetadata: redeemed.metadata,
      accessToken: redeemed.accessToken,
      credentialConfigurationId: CONFIGURATION,
      proofs: { jwt: [await wallet.proof(redeemed.metadata, CONFIGURATION, key)] },
      dpop: redeemed.dpop!,
    });
    const credential = (res.credentialResponse.credentials as { credential: string }[])[0]!.credential;

    // An independent verifier: the issuer's published keys, the credential bound to the wallet's key.
    const jwks = (await (await fetch(`${h.issuer}/.well-known/jwt-vc-issuer`)).json()) as { jwks: { keys: JWK[] } };
    const verifiers = await Promise.all(jwks.jwks.keys.map((k) => ES256.getVerifier(k)));
    const sdjwt = new SDJwtVcInstance({
      hasher: digest,
      verifier: async (data, sig) => (await Promise.all(verifiers.map((v) => v(data, sig)))).some(Boolean),
      statusVerifier: async (data, sig) => (await Promise.all(verifiers.map((v) => v(data, sig)))).some(Boolean),
    });
    const verified = await sdjwt.verify(credential);
    const payload = verified.payload as Record<string, unknown> & { cnf: { jwk: JWK } };
    expect(payload.cnf.jwk).toMatchObject({ x: key.publicJwk.x, y: key.publicJwk.y });
    expect(payload.name).toBe('王五');
    expect(payload.citizen_id).toBe(citizen.citizenId);
    // The level is the one the portal session that made the offer signed in at.
    expect(payload.acr).toBe(LOA2);
    const audited = await h.yihao.stores.db('audit_events').where({ account_id: citizen.sub }).whereIn('action', ['vc.offer_created', 'vc.offer_redeemed', 'vc.issued']).select('action');
    expect(audited.map((a: { action: string }) => a.action).sort()).toEqual(['vc.issued', 'vc.offer_created', 'vc.offer_redeemed']);
  });

  it.runIf(enabled)('makes no offer for a portal sign-in below loa:2, nor for a form without its CSRF token', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${h.issuer}/account/wallet`), citizen, () => false);
    // The form posted by hand, past the page that did not offer it: sent to sign in with two factors instead.
    const weak = await browser.request(`${h.issuer}/account/wallet/offer`, { form: { csrf: formField(first.html!, 'csrf')! } });
    expect(weak.status).toBe(303);
    expect(new URL(weak.headers.get('location')!, h.issuer).searchParams.get('acr_values')).toBe(LOA2);
    const s = await walletPage(citizen);
    const forged = await s.browser.request(`${h.issuer}/account/wallet/offer`, { form: { csrf: 'x'.repeat(43) } });
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain('data-tx-code');
    expect(await h.yihao.stores.db('audit_events').where({ action: 'vc.offer_created', account_id: citizen.sub }).count({ n: '*' }).first()).toEqual({ n: 0 });
  });

  it.runIf(enabled)('announces the grant, and that it is not for anonymous wallets, in the authorization server metadata', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.grant_types_supported).toContain(PRE_AUTHORIZED);
    expect(meta['pre-authorized_grant_anonymous_access_supported']).toBe(false);
  });

  it.runIf(enabled)('refuses a pre-authorized code used a second time', async () => {
    const { offerUri, txCode } = await makeOffer(await walletPage(await h.citizen()));
    const wallet = await Wallet.create(appId);
    // The thief read the offer (and saw the code typed in) before the citizen's wallet redeemed it.
    const offer = await wallet.client.resolveCredentialOffer(offerUri);
    await wallet.redeemOffer(offer, txCode);
    const thief = await Wallet.create(appId);
    expect(await refusal(thief.redeemOffer(offer, txCode))).toBe('invalid_grant');
    expect(await refusal(wallet.redeemOffer(offer, txCode))).toBe('invalid_grant');
  });

  it.runIf(enabled)('redeems a code at most once when several wallets race with it', async () => {
    const { offerUri, txCode } = await makeOffer(await walletPage(await h.citizen()));
    const offer = await (await Wallet.create(appId)).client.resolveCredentialOffer(offerUri);
    const code = offer.grants![PRE_AUTHORIZED]!['pre-authorized_code'] as string;
    // Token requests built beforehand and sent at once, each with its own DPoP key.
    const requests = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const key = await walletKey();
        const dpop = await new SignJWT({ htm: 'POST', htu: `${h.issuer}/token`, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })
          .sign(await importJWK(key.privateJwk, 'ES256'));
        return { dpop, body: new URLSearchParams({ grant_type: PRE_AUTHORIZED, 'pre-authorized_code': code, tx_code: txCode, client_id: appId }).toString() };
      }),
    );
    const statuses = await Promise.all(
      requests.map(async (r) => (await fetch(`${h.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: r.dpop }, body: r.body })).status),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(4);
  });

  it.runIf(enabled)('refuses a wrong transaction code, and after five wrong ones refuses the right one too', async () => {
    const { offerUri, txCode } = await makeOffer(await walletPage(await h.citizen()));
    const wrong = String((Number(txCode) + 1) % 1_000_000).padStart(6, '0');
    const wallet = await Wallet.create(appId);
    expect(await refusal(wallet.redeemOffer(offerUri, wrong))).toBe('invalid_grant');
    expect(await refusal(wallet.redeemOffer(offerUri, undefined))).toMatch(/invalid_grant|invalid_request|tx_code/);
    for (let i = 0; i < 4; i++) expect(await refusal(wallet.redeemOffer(offerUri, wrong))).toBe('invalid_grant');
    expect(await refusal(wallet.redeemOffer(offerUri, txCode))).toBe('invalid_grant');
    const refusals = (await h.yihao.stores.db('audit_events').where({ action: 'vc.offer_refused', client_id: appId }).select('details')) as { details: unknown }[];
    const reasons = refusals.map((r) => (typeof r.details === 'string' ? JSON.parse(r.details) : r.details) as { reason: string }).map((d) => d.reason);
    expect(reasons.filter((r) => r === 'attempts_exhausted').length).toBeGreaterThanOrEqual(1);
    // The codes themselves are in no audit record.
    expect(JSON.stringify(refusals)).not.toContain(txCode);
  });

  it.runIf(enabled)('refuses an app that is not first party or takes no web sign-ins, and the offer survives for the right one', async () => {
    const { offerUri, txCode } = await makeOffer(await walletPage(await h.citizen()));
    const { client_id: otherApp } = await registerMobileApp(h, { firstParty: false, grantTypes: ['authorization_code', PRE_AUTHORIZED] });
    expect(await refusal((await Wallet.create(otherApp)).redeemOffer(offerUri, txCode))).toBe('unauthorized_client');
    // An app that accepts no sign-ins from the web (where this offer's login happened) cannot spend it either.
    const { client_id: mobileOnly } = await registerMobileApp(h, { allowedChannels: ['mobile'], grantTypes: ['authorization_code', PRE_AUTHORIZED] });
    for (let i = 0; i < 6; i++) expect(await refusal((await Wallet.create(mobileOnly)).redeemOffer(offerUri, txCode))).toBe('unauthorized_client');
    const redeemed = await (await Wallet.create(appId)).redeemOffer(offerUri, txCode);
    expect(redeemed.accessToken).toBeTruthy();
  });

  it.runIf(enabled)('serves no offer document for an unknown offer, and none once it has been redeemed', async () => {
    const { offerUri, txCode } = await makeOffer(await walletPage(await h.citizen()));
    const reference = new URL(offerUri).searchParams.get('credential_offer_uri')!;
    expect((await fetch(reference)).status).toBe(200);
    await (await Wallet.create(appId)).redeemOffer(offerUri, txCode);
    expect((await fetch(reference)).status).toBe(404);
    expect((await fetch(`${h.issuer}/credentials/offers/${'A'.repeat(32)}`)).status).toBe(404);
  });
});

describe.each(backends)('an expired credential offer ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  const OFFER_SECONDS = 4;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, credentials: { ...c.credentials, offerSeconds: OFFER_SECONDS } }) });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('refuses the code with the right transaction code once the offer has expired, and serves its document no more', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    await walkSignIn(browser, new URL(`${h.issuer}/account/wallet`), citizen, () => false);
    const first = await browser.follow(`${h.issuer}/account/wallet`);
    const signIn = await browser.request(`${h.issuer}/account/wallet/sign-in`, { form: { csrf: formField(await first.res.text(), 'csrf')! } });
    const walk = await walkSignIn(browser, new URL(signIn.headers.get('location')!, h.issuer), citizen, () => false);
    const res = await browser.request(`${h.issuer}/account/wallet/offer`, { form: { csrf: formField(walk.html!, 'csrf')! } });
    const html = await res.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(html)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(html)![1]!;
    const wallet = await Wallet.create(appId);
    const offer = await wallet.client.resolveCredentialOffer(offerUri);
    // Well past the offer's lifetime, with a margin for a loaded machine's clock reads.
    await new Promise((r) => setTimeout(r, (OFFER_SECONDS + 2) * 1000));
    expect(await refusal(wallet.redeemOffer(offer, txCode))).toBe('invalid_grant');
    expect((await fetch(new URL(offerUri).searchParams.get('credential_offer_uri')!)).status).toBe(404);
  }, 30_000);
});

describe.each(backends)('a credential offer made at a counter ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let counter: oidc.Configuration;
  let departmentId: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
    const client = await h.client({ name: '政务服务中心柜台', grantTypes: ['authorization_code', TOKEN_EXCHANGE as never], redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    counter = await relyingParty(h, client);
    departmentId = await counterClientOf(h, client, '杭州市政务服务中心');
  });
  afterAll(async () => h?.close());

  const offerAt = (token: string, body: unknown) =>
    fetch(`${h.issuer}/credentials/offers/counter`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it.runIf(enabled)('counter staff make the offer; the citizen’s wallet redeems it with the code sent to the citizen’s phone, at the counter’s level', async () => {
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const staffToken = (await staffSignIn(h, counter, staff)).access_token;
    const citizen = await citizenWithPhone(h, '孙七');

    const res = await offerAt(staffToken, { citizen_id: citizen.citizenId, document_check: 'in_person' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const made = (await res.json()) as { credential_offer: string; qr_code: string; expires_at: number };
    expect(made.qr_code).toMatch(/^data:image\/png;base64,/);

    const wallet = await Wallet.create(appId);
    const redeemed = await wallet.redeemOffer(made.credential_offer, await offerCodeSentTo(h, citizen.phone));
    const key = await wallet.newKey();
    const issued = await wallet.client.retrieveCredentials({
      issuerMetadata: redeemed.metadata,
      accessToken: redeemed.accessToken,
      credentialConfigurationId: CONFIGURATION,
      proofs: { jwt: [await wallet.proof(redeemed.metadata, CONFIGURATION, key)] },
      dpop: redeemed.dpop!,
    });
    const credential = (issued.credentialResponse.credentials as { credential: string }[])[0]!.credential;
    const claims = (await new SDJwtVcInstance({ hasher: digest }).getClaims(credential)) as Record<string, unknown>;
    expect(claims.name).toBe('孙七');
    expect(claims.acr).toBe('urn:yihao:loa:3');
  });

  it.runIf(enabled)('refuses someone without the counter-staff role, and a bad citizen ID, creating no offer', async () => {
    const notStaff = await h.citizen({ name: '周八' });
    const token = (await staffSignIn(h, counter, notStaff)).access_token;
    const citizen = await h.citizen();
    const refused = await offerAt(token, { citizen_id: citizen.citizenId, document_check: 'in_person' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('insufficient_scope');

    const staff = await h.citizen({ name: '吴柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const staffToken = (await staffSignIn(h, counter, staff)).access_token;
    expect((await offerAt(staffToken, { citizen_id: 'not-an-id', document_check: 'in_person' })).status).toBe(400);
    expect((await offerAt(staffToken, { citizen_id: citizen.citizenId })).status).toBe(400);
    // A field the offer does not take is refused, not ignored (a counter system misspelling certificate_id would get the identity credential).
    expect((await offerAt(staffToken, { citizen_id: citizen.citizenId, document_check: 'in_person', certificateId: 'x' })).status).toBe(400);
    expect((await offerAt('x'.repeat(40), { citizen_id: citizen.citizenId, document_check: 'in_person' })).status).toBe(401);
  });
});
