/**
 * A department certificate to the app's wallet from the portal (docs/credentials.md, "In the
 * portal"): the citizen, signed in at loa:2, presses "add to the Yihao app" on one certificate and
 * gets a QR code (a credential offer) and a transaction code. An independent wallet
 * (test/support/wallet.ts: @openid4vc and @sd-jwt only) redeems it and gets exactly that certificate
 * as an SD-JWT VC bound to its key, never the newest of its type, and the offline checker accepts a
 * presentation of it from a bundle. The attacker's tries: another citizen's certificate, a revoked
 * one, an offer whose certificate was revoked or suspended after it was made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Openid4vciRetrieveCredentialsError } from '@openid4vc/openid4vci';
import { digest } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import type { JWK } from 'jose';
import type { Department } from '../../src/admin/index.js';
import { bundleTrust } from '../../src/credentials/offline-bundle.js';
import { checkPresentation, PresentationRefused } from '../../src/credentials/presentation-check.js';
import { walkSignIn } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { JWT_BEARER, registerMobileApp } from '../support/mobile-app.js';
import { formField, ScriptedBrowser, unescapeHtml } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet } from '../support/wallet.js';

const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const LOA2 = 'urn:yihao:loa:2';
const CONFIGURATION = 'cert_driving_licence';
const COUNTER = 'https://counter.example.gov.cn/hall-3';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

/** The OAuth error of a refused token or credential request. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Openid4vciRetrieveCredentialsError) return ((await e.response.response.clone().json()) as { error: string }).error;
    const err = e as { errorResponse?: { error?: string }; response?: Response; message?: string };
    if (err.errorResponse?.error) return err.errorResponse.error;
    const body = (await err.response?.clone().json().catch(() => undefined)) as { error?: string } | undefined;
    return body?.error ?? String(err.message);
  }
  throw new Error('the request was not refused');
}

describe.each(backends)('a certificate to the wallet by a credential offer ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;
  let police: Department;
  let citizen: Citizen;
  let other: Citizen;
  /** The citizen's driving licences: an older and a newer one, both valid, and one to be revoked. */
  const licence: Record<'older' | 'newer' | 'doomed', string> = {} as never;
  let portal: { browser: ScriptedBrowser; html: string };

  async function pushLicence(owner: Citizen, licenceNumber: string, createdAt: number): Promise<string> {
    const account = (await h.yihao.accounts.findBySub(owner.sub))!;
    const store = h.yihao.credentials.certificates.store;
    const { certificate } = await h.yihao.stores.db.transaction((trx) =>
      store.insert(
        { typeId: 'driving_licence', departmentId: police.id, accountId: account.id, claims: { licence_number: licenceNumber, licence_class: 'C1' }, validFrom: Date.now() - 86_400_000, validUntil: Date.now() + 365 * 86_400_000, pushedBy: 'police-system', createdAt, idempotencyKey: undefined },
        trx,
      ),
    );
    return certificate.id;
  }

  /** The citizen's browser on the certificates page, signed in at loa:2 (stepped up by pressing "add"). */
  async function certificatesPage(who: Citizen, first: string): Promise<{ browser: ScriptedBrowser; html: string }> {
    const browser = new ScriptedBrowser();
    const start = await walkSignIn(browser, new URL(`${h.issuer}/account/certificates`), who, () => false);
    expect(start.url.pathname).toBe('/account/certificates');
    expect(start.html).toContain('action="/account/certificates/offer"');
    // Signed in with a password only: pressing "add" steps up to two factors and comes back.
    const weak = await browser.request(`${h.issuer}/account/certificates/offer`, { form: { csrf: formField(start.html!, 'csrf')!, certificate: first } });
    expect(weak.status).toBe(303);
    const stepUp = new URL(weak.headers.get('location')!, h.issuer);
    expect(stepUp.searchParams.get('acr_values')).toBe(LOA2);
    const back = await walkSignIn(browser, stepUp, who, () => false);
    expect(back.url.pathname).toBe('/account/certificates');
    return { browser, html: back.html! };
  }

  /** Presses "add to the Yihao app" on one certificate and reads the QR code's offer URI and the transaction code. */
  async function offerOf(s: { browser: ScriptedBrowser; html: string }, certificateId: string) {
    const res = await s.browser.request(`${h.issuer}/account/certificates/offer`, { form: { csrf: formField(s.html, 'csrf')!, certificate: certificateId } });
    if (res.status !== 200) return { status: res.status };
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(html)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(html)![1]!;
    expect(offerUri).not.toContain(txCode);
    expect(offerUri).not.toContain(certificateId);
    return { status: 200, offerUri, txCode };
  }

  /** The wallet scans, redeems with the transaction code, and asks for the certificate with one key. */
  async function receive(offerUri: string, txCode: string) {
    const wallet = await Wallet.create(appId);
    const redeemed = await wallet.redeemOffer(offerUri, txCode);
    expect(redeemed.offer.credential_configuration_ids).toEqual([CONFIGURATION]);
    const ask = async () => {
      const key = await wallet.newKey();
      const res = await wallet.client.retrieveCredentials({
        issuerMetadata: redeemed.metadata,
        accessToken: redeemed.accessToken,
        credentialConfigurationId: CONFIGURATION,
        proofs: { jwt: [await wallet.proof(redeemed.metadata, CONFIGURATION, key)] },
        dpop: redeemed.dpop!,
      });
      return { wallet, key, credential: (res.credentialResponse.credentials as { credential: string }[])[0]!.credential };
    };
    return { wallet, ask };
  }

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
    police = await h.yihao.admin.services.bootstrap.createDepartment({ name: '浙江省公安厅', level: 'national' });
    await h.yihao.credentials.certificates.store.insertType({
      id: 'driving_licence',
      departmentId: police.id,
      vct: `${h.issuer}/credentials/types/driving_licence`,
      names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' },
      claims: { licence_number: { type: 'string', required: true }, licence_class: { type: 'string', required: true } },
      validityDays: 2190,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
    [citizen, other] = await Promise.all([h.citizen({ name: '王五' }), h.citizen({ name: '赵六' })]);
    licence.older = await pushLicence(citizen, 'OLD-0001', Date.now() - 3000);
    licence.doomed = await pushLicence(citizen, 'DOOM-0003', Date.now() - 2000);
    licence.newer = await pushLicence(citizen, 'NEW-0002', Date.now() - 1000);
    portal = await certificatesPage(citizen, licence.older);
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('the wallet gets the certificate the offer names (the older of two valid ones), bound to its key, and the offline checker accepts it', async () => {
    const made = await offerOf(portal, licence.older);
    expect(made.status).toBe(200);
    const { ask } = await receive(made.offerUri!, made.txCode!);
    const held = await ask();

    const sdjwt = new SDJwtVcInstance({ hasher: digest });
    const payload = (await sdjwt.decode(held.credential)).jwt!.payload as Record<string, unknown> & { cnf: { jwk: JWK } };
    expect(payload.vct).toBe(`${h.issuer}/credentials/types/driving_licence`);
    expect(payload.cnf.jwk).toMatchObject({ x: held.key.publicJwk.x, y: held.key.publicJwk.y });
    expect(await sdjwt.getClaims(held.credential)).toMatchObject({ licence_number: 'OLD-0001', licence_class: 'C1', issuing_department: '浙江省公安厅' });

    // A counter without a network: the bundle alone, and a presentation of the class only.
    const { trust, statusLists } = bundleTrust(await h.yihao.credentials.bundle());
    const presentation = await held.wallet.present(held, { licence_class: true }, { aud: COUNTER, nonce: 'cert-offer-1' });
    const verified = await checkPresentation(presentation, { nonce: 'cert-offer-1', audience: COUNTER, claims: ['licence_class'] }, trust, statusLists);
    expect(verified.claims).toEqual({ licence_class: 'C1' });
    expect(verified.vct).toBe(payload.vct);

    const audited = (await h.yihao.stores.db('audit_events').where({ account_id: citizen.sub }).whereIn('action', ['vc.offer_created', 'vc.offer_redeemed', 'vc.certificate_issued']).select('action', 'details')) as { action: string; details: string }[];
    expect(audited.map((a) => a.action).sort()).toEqual(['vc.certificate_issued', 'vc.offer_created', 'vc.offer_redeemed']);
    for (const a of audited) expect(JSON.parse(a.details)).toMatchObject({ certificate_id: licence.older });
  });

  it.runIf(enabled)("offers nothing for another citizen's certificate, nor for one not valid", async () => {
    const strangers = await certificatesPage(other, await pushLicence(other, 'OTHER-0009', Date.now()));
    expect((await offerOf(strangers, licence.older)).status).toBe(404);
    expect((await offerOf(portal, 'A'.repeat(22))).status).toBe(404);
    const suspended = await pushLicence(citizen, 'SUSP-0004', Date.now());
    await h.yihao.stores.db.transaction((trx) => h.yihao.credentials.certificates.store.setSuspended(suspended, true, trx));
    expect((await offerOf(portal, suspended)).status).toBe(404);
  });

  it.runIf(enabled)('refuses the offer of a certificate revoked after it was made, at the token endpoint', async () => {
    const made = await offerOf(portal, licence.doomed);
    expect(made.status).toBe(200);
    const certificate = (await h.yihao.credentials.certificates.store.find(licence.doomed))!;
    await h.yihao.credentials.certificates.issuance.revoke(certificate, { sub: 'operator-sub' }, citizen.sub, 'test');
    const wallet = await Wallet.create(appId);
    expect(await refusal(wallet.redeemOffer(made.offerUri!, made.txCode!))).toBe('invalid_grant');
    // Revoked: the page offers it no more.
    expect((await offerOf(portal, licence.doomed)).status).toBe(404);
  });

  it.runIf(enabled)("an offer's token gets that certificate only: suspended after redemption, the wallet gets nothing, not the newest instead", async () => {
    const made = await offerOf(portal, licence.older);
    const { ask } = await receive(made.offerUri!, made.txCode!);
    expect((await ask()).credential).toBeTruthy();
    const store = h.yihao.credentials.certificates.store;
    await h.yihao.stores.db.transaction((trx) => store.setSuspended(licence.older, true, trx));
    try {
      expect(await refusal(ask())).toBe('credential_request_denied');
    } finally {
      await h.yihao.stores.db.transaction((trx) => store.setSuspended(licence.older, false, trx));
    }
    // The newer licence was valid all along: the token never reached it.
    const issued = (await h.yihao.stores.db('certificate_credentials').where({ certificate_id: licence.newer }).count({ n: '*' }).first()) as { n: number | string };
    expect(Number(issued.n)).toBe(0);
  });

  it.runIf(enabled)('the offline checker refuses a copy whose certificate is suspended, saying so', async () => {
    const made = await offerOf(portal, licence.newer);
    const { ask } = await receive(made.offerUri!, made.txCode!);
    const held = await ask();
    const certificate = (await h.yihao.credentials.certificates.store.find(licence.newer))!;
    await h.yihao.credentials.certificates.issuance.suspend(certificate, true, { sub: 'operator-sub' }, citizen.sub);
    const { trust, statusLists } = bundleTrust(await h.yihao.credentials.bundle());
    const presentation = await held.wallet.present(held, { licence_class: true }, { aud: COUNTER, nonce: 'cert-offer-2' });
    const refused = await checkPresentation(presentation, { nonce: 'cert-offer-2', audience: COUNTER }, trust, statusLists).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PresentationRefused);
    expect((refused as PresentationRefused).reason).toBe('suspended');
  });
});
