/**
 * Caps and give-backs attacked after their fixes: the offer issuance's give-back, the per-account
 * CIBA push cap, the portal access history's addresses, and the conditional assurance raise. Each
 * test states an attack and what a secure server must do. Found by this second look (each failed
 * before its fix): a kiosk's or counter's address shown in the citizen's history through logins
 * written as the citizen's (3a), and a counter request held back by the cap leaving no trace (2b).
 * The cap's price is not tested as a hole: counters whose requests the citizen keeps denying keep
 * every other counter off that phone for the window (docs/security.md, known gaps).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { MAX_UNAPPROVED_PER_ACCOUNT } from '../../src/channels/approvals/approvals.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { refuseAuditEvents } from '../support/audit.js';
import { JWT_BEARER, continueQr, phoneWithDeviceKey, registerMobileApp, startQrSignIn, type MobileApp } from '../support/mobile-app.js';
import { offerWallet, PRE_AUTHORIZED } from '../support/offer-wallet.js';
import { registerCounterSystem } from '../support/counter-system.js';
import { relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { walletKey } from '../support/wallet.js';

const CONFIGURATION = 'yihao_identity_sd_jwt';
const LOA2 = 'urn:yihao:loa:2';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** Opens the portal, signing in with the password when the portal sends the browser to the login page. */
async function signInPortal(h: Harness, browser: ScriptedBrowser, who: Citizen): Promise<void> {
  let url = new URL(`${h.issuer}/account`);
  let form: Record<string, string> | undefined;
  for (let hop = 0; hop < 15; hop++) {
    const res = await browser.request(url, form ? { form } : {});
    form = undefined;
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const page = await res.text();
    const action = formAction(page, '/login');
    if (!action) return;
    url = new URL(action, url);
    form = { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password };
  }
  throw new Error('portal sign-in did not finish');
}

describe.each(backends)('caps and give-backs under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  let appId: string;

  beforeAll(async () => {
    if (!enabled) return;
    // Behind a proxy, as a deployment is: each caller's address is its X-Forwarded-For.
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, trustProxy: true }) });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
  }, 90_000);
  afterAll(async () => h?.close());

  // ------------------------------------------------------------ 1. the offer's give-back

  const { redeemedOffer, nonce, proof, credential, issuedCount } = offerWallet(() => h, () => appId);
  const body = async () => ({ credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
  const delivered = (r: { body: Record<string, unknown> }) => (Array.isArray(r.body.credentials) ? r.body.credentials.length : 0);

  it.runIf(enabled)('1a. a request that fails after the credentials were minted (its vc.issued audit append refused) delivers nothing, and the give-back yields one issuance in all', async () => {
    const o = await redeemedOffer();
    const allow = await refuseAuditEvents(h.yihao.stores.db, 'vc.issued');
    let first;
    try {
      first = await credential(o.token, o.dpopKey, await body());
    } finally {
      await allow();
    }
    expect(first.status).toBeGreaterThanOrEqual(500);
    expect(delivered(first)).toBe(0);
    expect(JSON.stringify(first.body)).not.toMatch(/~/); // no SD-JWT in the error
    const retry = await credential(o.token, o.dpopKey, await body());
    expect(retry.status).toBe(200);
    const third = await credential(o.token, o.dpopKey, await body());
    expect(third.status).toBe(400);
    // What left the server: one credential from one offer.
    expect(delivered(first) + delivered(retry) + delivered(third)).toBe(1);
    // Observed: the failed request's row stays (two rows for one delivered credential), valid and with no vc.issued of its own.
    expect(await issuedCount(o.citizen.sub)).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it.runIf(enabled)('1b. a request failing after the take races a second one: the second is refused while the first holds the take, and never more than one issuance goes out', async () => {
    const o = await redeemedOffer();
    const allow = await refuseAuditEvents(h.yihao.stores.db, 'vc.issued');
    let answers;
    try {
      const [b1, b2, b3] = [await body(), await body(), await body()];
      answers = await Promise.all([credential(o.token, o.dpopKey, b1), credential(o.token, o.dpopKey, b2), credential(o.token, o.dpopKey, b3)]);
    } finally {
      await allow();
    }
    expect(answers.map(delivered).reduce((a, b) => a + b, 0)).toBe(0);
    const after = [await credential(o.token, o.dpopKey, await body()), await credential(o.token, o.dpopKey, await body())];
    expect([...answers, ...after].map(delivered).reduce((a, b) => a + b, 0)).toBe(1);
  }, 60_000);

  // ------------------------------------------------------------ 2. the per-account push cap

  const ask = (rp: oidc.Configuration, citizenId: string, binding_message: string) =>
    oidc.initiateBackchannelAuthentication(rp, { scope: 'openid profile', login_hint: citizenId, binding_message }).catch((e: unknown) => e);
  const inbox = async (phone: MobileApp) => ((await phone.approvals()).json.requests as { id: string; kind: string; client_id: string }[]).filter((r) => r.kind === 'ciba');

  /** Two counter clients of one malicious operator fill the account's places; the citizen denies every push. */
  async function filledByTwoClients() {
    const { client_id } = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id });
    const evil = await Promise.all([registerCounterSystem(h), registerCounterSystem(h)]);
    const evilRps = await Promise.all(evil.map((c) => c.rpVia(h)));
    let pushes = 0;
    for (const rp of evilRps) for (let i = 0; i < 3; i++) await ask(rp, citizen.citizenId, `X-${i}`);
    for (const r of await inbox(phone)) {
      pushes++;
      expect((await phone.decide(r.id, 'deny')).status).toBe(200);
    }
    expect(pushes).toBe(MAX_UNAPPROVED_PER_ACCOUNT);
    const legit = await registerCounterSystem(h);
    return { citizen, phone, legit, legitRp: await legit.rpVia(h) };
  }

  it.runIf(enabled)('2b. a counter request withheld by the per-account cap leaves a trace that tells it apart from one that reached the phone', async () => {
    const { citizen, legit, legitRp } = await filledByTwoClients();
    await ask(legitRp, citizen.citizenId, 'HALL-8');
    const events = await h.yihao.services.audit.forAccount(citizen.sub, 100);
    const ofLegit = events.filter((e) => e.clientId === legit.clientId);
    expect(ofLegit.length).toBeGreaterThan(0);
    expect(ofLegit.some((e) => /withheld|capped|not_delivered|suppressed|limit/i.test(JSON.stringify(e)))).toBe(true);
  }, 90_000);

  it.runIf(enabled)('2c. a QR hand-off still completes while CIBA pushes fill the account\u2019s places', async () => {
    const { citizen, phone } = await filledByTwoClients();
    void citizen;
    const rp = await relyingParty(h, await h.client({ name: '公积金查询', firstParty: true }));
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    expect((await phone.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const back = await continueQr(qr.browser, qr.qr, qr.origin);
    expect(back.kind).toBe('rp');
  }, 90_000);

  // ------------------------------------------------------------ 3. addresses in the access history

  it.runIf(enabled)('3a. shows a citizen no kiosk\u2019s address (an internal host) in the portal\u2019s access history after a chip-card sign-in at the kiosk', async () => {
    const internal = '10.77.66.55';
    const citizen = await h.citizen();
    const kiosk = await simulatedKiosk(h);
    kiosk.rp[oidc.customFetch] = (url, options) => {
      const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
      headers.set('x-forwarded-for', internal);
      return fetch(url, { ...(options as RequestInit), headers });
    };
    await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const events = await h.yihao.services.audit.forAccount(citizen.sub, 20);
    expect(events.some((e) => e.action === 'login.succeeded' && e.channel === 'kiosk')).toBe(true);
    const browser = new ScriptedBrowser();
    await signInPortal(h, browser, citizen);
    const history = await (await browser.request(`${h.issuer}/account/history`)).text();
    expect(history).not.toContain(internal);
  }, 60_000);

  // ------------------------------------------------------------ 4. assurance is never lowered

  it.runIf(enabled)('4a. a chip read (kiosk) and a stale raise never lower an in-person check; no other path writes the level down', async () => {
    const citizen = await h.citizen();
    const accounts = h.yihao.services.accounts;
    const stale = (await accounts.findBySub(citizen.sub))!;
    expect(await accounts.setAssurance(stale.id, 'in_person', Date.now(), ['self_asserted', 'federated', 'registry', 'id_chip'])).toBe(true);
    const kiosk = await simulatedKiosk(h);
    await kiosk.cardLogin({ citizenId: citizen.citizenId });
    expect((await accounts.findBySub(citizen.sub))!.assurance).toBe('in_person');
    const { raised } = await h.yihao.services.proofing.record({
      account: stale,
      method: 'id_chip',
      channel: 'kiosk',
      clientId: kiosk.client.client_id,
      actor: { type: 'kiosk', id: kiosk.client.client_id },
      documentType: 'idcard',
    } as never);
    expect(raised).toBe(false);
    expect((await accounts.findBySub(citizen.sub))!.assurance).toBe('in_person');
  }, 60_000);
});
