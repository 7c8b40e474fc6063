/**
 * The credentials a citizen's wallets hold, from the citizen's side: the portal's wallet page lists
 * every credential issued to the account (its type, when, to which app and wallet key, its status)
 * and revokes one, after a fresh sign-in as for every lasting change; and removing a device key (or
 * a passkey) revokes the identity credentials offered from the logins it made or approved, as it
 * ends their tokens. Each revocation is proven where it matters: a kiosk's OID4VP verifier refuses
 * a presentation of the revoked credential. Driven over HTTP as a browser without JavaScript would;
 * the wallet is independent (test/support/wallet.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { walkSignIn } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { continueQr, JWT_BEARER, MobileApp, registerMobileApp } from '../support/mobile-app.js';
import { present, readResult, startAsKiosk, type Held, type Started } from '../support/presentations.js';
import { formField, go as walk, page, ScriptedBrowser, unescapeHtml } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { PresentingWallet, Wallet } from '../support/wallet.js';

const LOA2 = 'urn:yihao:loa:2';
const PRE_AUTHORIZED = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const CONFIGURATION = 'yihao_identity_sd_jwt';

let phoneCounter = 0;
const freshPhone = () => `139${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

describe.each(backends)('the credentials in a citizen\'s wallets, seen and revoked from the portal ($name)', ({ name, enabled }) => {
  let h: Harness;
  let origin: string;
  let appId: string;
  let kiosk: SimulatedKiosk;
  let presenter: PresentingWallet;
  const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost' });
    origin = new URL(h.issuer).origin;
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
    kiosk = await simulatedKiosk(h);
    const verifier = (await (await fetch(`${h.issuer}/presentations/verifier`)).json()) as { client_id: string; jwks: { keys: JWK[] } };
    presenter = new PresentingWallet({ clientId: verifier.client_id, jwks: verifier.jwks });
  }, 60_000);
  afterAll(async () => h?.close());

  /** Posts one of the portal's forms with the page's CSRF token; the answer, not followed. */
  const action = (browser: ScriptedBrowser, html: string | undefined, path: string, fields: Record<string, string> = {}) =>
    browser.request(`${h.issuer}${path}`, { form: { csrf: formField(html!, 'csrf')!, ...fields } });

  /** What a kiosk's verifier says of a presentation of `held`: `verified`, or the refusal's reason. */
  async function atKiosk(held: Held): Promise<string> {
    const res = await startAsKiosk(h, kiosk, { type: 'identity', claims: ['name'] });
    expect(res.status).toBe(201);
    const req = (await res.json()) as Started;
    await present(presenter, req.request_link, held);
    const { body } = await readResult(h, req.request_id, req.result_token);
    return body.status === 'verified' ? 'verified' : String(body.reason);
  }

  /** The citizen's browser on the wallet page, signed in at loa:2 with the password and an authenticator app. */
  async function signedInAtLoa2(citizen: Citizen, totpSecret?: string): Promise<{ browser: ScriptedBrowser; html: string; totpSecret: string }> {
    const browser = new ScriptedBrowser();
    const first = await walkSignIn(browser, new URL(`${h.issuer}/account/wallet?ui_locales=en`), { ...citizen, totpSecret }, () => false);
    let html = first.html!;
    let secret = first.totpSecret;
    if (!html.includes('action="/account/wallet/offer"')) {
      const res = await action(browser, html, '/account/wallet/sign-in');
      const second = await walkSignIn(browser, new URL(res.headers.get('location')!, h.issuer), { ...citizen, totpSecret: secret }, () => false);
      html = second.html!;
      secret = second.totpSecret;
    }
    expect(html).toContain('action="/account/wallet/offer"');
    return { browser, html, totpSecret: secret! };
  }

  /** Makes an offer from the wallet page; an independent wallet redeems it and gets one credential. */
  async function credentialFromOffer(browser: ScriptedBrowser, html: string): Promise<Held & { jkt: string }> {
    const res = await action(browser, html, '/account/wallet/offer');
    expect(res.status).toBe(200);
    const offerHtml = await res.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(offerHtml)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(offerHtml)![1]!;
    const wallet = await Wallet.create(appId);
    const redeemed = await wallet.redeemOffer(offerUri, txCode);
    const key = await wallet.newKey();
    const issued = await wallet.client.retrieveCredentials({
      issuerMetadata: redeemed.metadata,
      accessToken: redeemed.accessToken,
      credentialConfigurationId: CONFIGURATION,
      proofs: { jwt: [await wallet.proof(redeemed.metadata, CONFIGURATION, key)] },
      dpop: redeemed.dpop!,
    });
    const credential = (issued.credentialResponse.credentials as { credential: string }[])[0]!.credential;
    return { credential, key, jkt: await calculateJwkThumbprint(key.publicJwk) };
  }

  const issuedTo = async (citizen: Citizen) => h.yihao.credentials.store.listByAccount((await h.yihao.accounts.findBySub(citizen.sub))!.id);

  it.skipIf(!enabled)('revoking a device key revokes the identity credential offered from the portal sign-in it approved: a kiosk refuses it', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone, name: '周八' });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const app = await MobileApp.create(h, { client_id: appId });
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: appId, jwk: app.deviceJwk, amr: 'swk', name: '我的手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    app.deviceKeyId = made.key.id;
    await app.loginWithDeviceKey();

    // Into the portal by the phone's approval of a QR code (someone else's phone, bound while the
    // citizen was away, for all the citizen knows), then the SMS step the wallet asks for after it.
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, `${h.issuer}/account/wallet?ui_locales=en`));
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!;
    const qr = page(await go(browser, new URL(qrLink, origin)));
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(/\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!)) as { ref: string };
    const scanned = await app.scan(handoff.ref);
    expect((await app.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const wallet = page(await continueQr(browser, qr, origin));
    expect(wallet.url.pathname).toBe('/account/wallet');
    expect((await action(browser, wallet.html, '/account/wallet/send-code')).status).toBe(303);
    const code = (await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'bind_factor'))!;
    expect((await action(browser, wallet.html, '/account/wallet/prove-phone', { code })).headers.get('location')).toBe('/account/wallet?notice=phone_proven_for_wallet');

    const held = await credentialFromOffer(browser, wallet.html);
    expect(await atKiosk(held)).toBe('verified');

    // The key goes (from the portal, as the citizen who found it would): what its approval let in goes with it.
    const removed = await action(browser, wallet.html, '/account/devices/remove', { device: made.key.id });
    expect(removed.headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await atKiosk(held)).toBe('revoked');
    expect((await issuedTo(citizen)).map((c) => c.status)).toEqual(['revoked']);
    const events = await h.yihao.services.audit.forAccount(citizen.sub, 50);
    expect(events.find((e) => e.action === 'vc.revoked')).toMatchObject({ details: { reason: 'device_key_revoked' } });
  });

  it.skipIf(!enabled)('revoking a device key kills the offers made from the portal sign-in it approved: one redeemed afterwards gives nothing', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const app = await MobileApp.create(h, { client_id: appId });
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: appId, jwk: app.deviceJwk, amr: 'swk', name: '我的手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    app.deviceKeyId = made.key.id;
    await app.loginWithDeviceKey();
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, `${h.issuer}/account/wallet?ui_locales=en`));
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!;
    const qr = page(await go(browser, new URL(qrLink, origin)));
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(/\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!)) as { ref: string };
    expect((await app.decide((await app.scan(handoff.ref)).json.id as string, 'approve')).status).toBe(200);
    const wallet = page(await continueQr(browser, qr, origin));
    await action(browser, wallet.html, '/account/wallet/send-code');
    const code = (await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'bind_factor'))!;
    await action(browser, wallet.html, '/account/wallet/prove-phone', { code });
    const offered = await action(browser, wallet.html, '/account/wallet/offer');
    const offerHtml = await offered.text();
    const offerUri = unescapeHtml(/data-offer-uri="([^"]+)"/.exec(offerHtml)![1]!);
    const txCode = /data-tx-code>(\d+)</.exec(offerHtml)![1]!;
    const holder = await Wallet.create(appId);
    const offer = await holder.client.resolveCredentialOffer(offerUri);

    // The key goes before the offer is redeemed: the offer goes with it.
    expect((await action(browser, wallet.html, '/account/devices/remove', { device: made.key.id })).headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect((await fetch(decodeURIComponent(offerUri.split('credential_offer_uri=')[1]!))).status).toBe(404);
    await expect(holder.redeemOffer(offer, txCode)).rejects.toThrow();
    expect(await issuedTo(citizen)).toEqual([]);
  });

  it.skipIf(!enabled)('issues nothing that outlives a key removed while the credential request was in flight', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const app = await MobileApp.create(h, { client_id: appId });
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: appId, jwk: app.deviceJwk, amr: 'swk', name: '我的手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    app.deviceKeyId = made.key.id;
    await app.loginWithDeviceKey();
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, `${h.issuer}/account/wallet?ui_locales=en`));
    const qrLink = /href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!;
    const qr = page(await go(browser, new URL(qrLink, origin)));
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(/\/interaction\/([^/]+)\/qr/.exec(qrLink)![1]!)) as { ref: string };
    expect((await app.decide((await app.scan(handoff.ref)).json.id as string, 'approve')).status).toBe(200);
    const wallet = page(await continueQr(browser, qr, origin));
    await action(browser, wallet.html, '/account/wallet/send-code');
    const code = (await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'bind_factor'))!;
    await action(browser, wallet.html, '/account/wallet/prove-phone', { code });
    const offerHtml = await (await action(browser, wallet.html, '/account/wallet/offer')).text();
    const holder = await Wallet.create(appId);
    const redeemed = await holder.redeemOffer(unescapeHtml(/data-offer-uri="([^"]+)"/.exec(offerHtml)![1]!), /data-tx-code>(\d+)</.exec(offerHtml)![1]!);
    const key = await holder.newKey();
    const proof = await holder.proof(redeemed.metadata, CONFIGURATION, key);

    // The removal has revoked the key and not yet collected what it let in (its tokens, its links).
    await h.yihao.stores.db('device_keys').where({ id: made.key.id }).update({ revoked_at: Date.now() });
    await expect(
      holder.client.retrieveCredentials({ issuerMetadata: redeemed.metadata, accessToken: redeemed.accessToken, credentialConfigurationId: CONFIGURATION, proofs: { jwt: [proof] }, dpop: redeemed.dpop! }),
    ).rejects.toThrow();
    expect((await issuedTo(citizen)).map((c) => c.status)).toEqual(['revoked']);
  });

  it.skipIf(!enabled)('leaves a credential offered from a sign-in the removed key had no part in', async () => {
    const citizen = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const s = await signedInAtLoa2(citizen);
    const held = await credentialFromOffer(s.browser, s.html);
    const app = await MobileApp.create(h, { client_id: appId });
    const made = await h.yihao.channels.deviceKeys.enrol({ accountId: account.id, clientId: appId, jwk: app.deviceJwk, amr: 'swk', name: '旧手机' });
    if (!made.ok) throw new Error('device key enrolment failed');
    expect((await action(s.browser, s.html, '/account/devices/remove', { device: made.key.id })).headers.get('location')).toBe('/account/credentials?notice=credential_removed');
    expect(await atKiosk(held)).toBe('verified');
  });

  it.skipIf(!enabled)('lists the credentials issued to the account on the wallet page, and revokes one the citizen chooses after a fresh sign-in: a kiosk refuses it, the other stays good', async () => {
    const citizen = await h.citizen({ name: '吴九' });
    const s = await signedInAtLoa2(citizen);
    const first = await credentialFromOffer(s.browser, s.html);
    const second = await credentialFromOffer(s.browser, s.html);
    const [newest, oldest] = await issuedTo(citizen);
    expect(newest!.holderJkt).toBe(second.jkt);

    const listed = page(await go(s.browser, `${h.issuer}/account/wallet?ui_locales=en`));
    for (const c of [newest!, oldest!]) {
      const card = new RegExp(`<section class="card" data-issued-credential="${c.id}"[\\s\\S]*?</section>`).exec(listed.html)?.[0];
      expect(card, c.id).toBeDefined();
      expect(card).toContain('Identity credential');
      expect(card).toContain('data-status="valid"');
      // The wallet key, as the app can show it: the start of its thumbprint.
      expect(card).toContain(c.holderJkt.slice(0, 8));
      expect(card).toContain('action="/account/wallet/revoke"');
    }
    expect(listed.html).not.toContain(citizen.citizenId);

    // A quarter of an hour later the browser is no longer fresh: sent to sign in again, nothing revoked.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    try {
      vi.setSystemTime(Date.now() + 15 * 60_000);
      const stale = await action(s.browser, listed.html, '/account/wallet/revoke', { credential: oldest!.id });
      expect(stale.status).toBe(303);
      const to = new URL(stale.headers.get('location')!, h.issuer);
      expect(to.pathname).toBe('/auth');
      expect(to.searchParams.get('prompt')).toBe('login');
      expect((await issuedTo(citizen)).map((c) => c.status)).toEqual(['valid', 'valid']);
    } finally {
      vi.useRealTimers();
    }

    const revoked = await action(s.browser, listed.html, '/account/wallet/revoke', { credential: oldest!.id });
    expect(revoked.headers.get('location')).toBe('/account/wallet?notice=wallet_credential_revoked');
    expect(await atKiosk(first)).toBe('revoked');
    expect(await atKiosk(second)).toBe('verified');
    const after = page(await go(s.browser, new URL(revoked.headers.get('location')!, h.issuer)));
    const card = new RegExp(`<section class="card" data-issued-credential="${oldest!.id}"[\\s\\S]*?</section>`).exec(after.html)![0];
    expect(card).toContain('data-status="revoked"');
    expect(card).not.toContain('action="/account/wallet/revoke"');
    expect(after.html).toContain('Credential revoked. Verifiers no longer accept it.');
    // Revoked once: a second try finds nothing to revoke.
    expect((await action(s.browser, after.html, '/account/wallet/revoke', { credential: oldest!.id })).status).toBe(404);

    const events = (await h.yihao.services.audit.forAccount(citizen.sub, 50)).filter((e) => e.action === 'vc.revoked');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actorType: 'citizen', actorId: citizen.sub, accountId: citizen.sub, details: { credential_id: oldest!.id, reason: 'revoked_by_citizen' } });
  });

  it.skipIf(!enabled)("revokes no other citizen's credential: its id is not found", async () => {
    const owner = await h.citizen();
    const o = await signedInAtLoa2(owner);
    const held = await credentialFromOffer(o.browser, o.html);
    const [issued] = await issuedTo(owner);
    const stranger = await signedInAtLoa2(await h.citizen());
    const res = await action(stranger.browser, stranger.html, '/account/wallet/revoke', { credential: issued!.id });
    expect(res.status).toBe(404);
    expect(await atKiosk(held)).toBe('verified');
    expect(page(await go(stranger.browser, `${h.issuer}/account/wallet`)).html).not.toContain(issued!.id);
  });
});
