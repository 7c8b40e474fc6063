/**
 * Limits attacked a second time, after their fixes: one issuance per offer, the CIBA push window,
 * Redis's memory limit against Yihao's own writes, and client assertions' lifetime. Each test states
 * an attack and what a secure server must do. Found by this second look, and failed before their
 * fixes: an offer's slot taken by a request that then failed at the store locked the wallet out
 * (1b), and three counter clients put nine pushes on one phone (2a).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_UNAPPROVED_PER_ACCOUNT } from '../../src/channels/approvals/approvals.js';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { logCapture } from '../support/log-capture.js';
import { hasRedisServer, yihaoOnPrivateRedis } from '../support/private-redis.js';
import { JWT_BEARER, MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { walletKey } from '../support/wallet.js';
import { now, offerWallet, PRE_AUTHORIZED } from '../support/offer-wallet.js';
import { registerCounterSystem } from '../support/counter-system.js';

const CONFIGURATION = 'yihao_identity_sd_jwt';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];


describe.each(backends)('limits under attack ($name)', ({ name, enabled }) => {
  let h: Harness;
  let h2: Harness | undefined;
  let appId: string;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    if (name === 'postgres+redis') h2 = await startHarness({ backend: name, share: h });
    ({ client_id: appId } = await registerMobileApp(h, { minAcr: LOA2, grantTypes: ['authorization_code', 'refresh_token', JWT_BEARER, PRE_AUTHORIZED] }));
  }, 90_000);
  afterAll(async () => {
    await h2?.close();
    await h?.close();
  });

  // ------------------------------------------------------------ 1. one issuance per offer

  const { redeemedOffer, nonce, proof, credential, issuedCount } = offerWallet(() => h, () => appId);

  it.runIf(enabled)('1a. one offer token, four credential requests racing with four fresh nonces and keys (across two instances where there are two): one issuance', async () => {
    const o = await redeemedOffer();
    const bodies = await Promise.all(
      [0, 1, 2, 3].map(async (i) => ({ i, body: { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce(i % 2 && h2 ? h2 : h))] } } })),
    );
    const results = await Promise.all(bodies.map(({ i, body }) => credential(o.token, o.dpopKey, body, i % 2 && h2 ? h2 : h)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400]);
    expect(await issuedCount(o.citizen.sub)).toBe(1);
  }, 60_000);

  it.runIf(enabled)('1b. an honest wallet whose first request met a passing store failure after its proofs were checked can still get its credential from the offer', async () => {
    const o = await redeemedOffer();
    const store = h.yihao.credentials.store as unknown as { record: (...a: unknown[]) => Promise<unknown> };
    const original = store.record;
    let failed = false;
    store.record = async function (this: unknown, ...a: unknown[]) {
      if (!failed) {
        failed = true;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
      return original.apply(this, a);
    };
    try {
      const first = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
      expect(first.status).toBeGreaterThanOrEqual(500); // the store failed: nothing was issued
    } finally {
      store.record = original;
    }
    expect(await issuedCount(o.citizen.sub)).toBe(0);
    // The wallet retries with a fresh nonce, as a 503 asks: the offer has yielded nothing yet.
    const retry = await credential(o.token, o.dpopKey, { credential_configuration_id: CONFIGURATION, proofs: { jwt: [await proof(await walletKey(), await nonce())] } });
    expect(retry, JSON.stringify(retry.body)).toMatchObject({ status: 200 });
    expect(await issuedCount(o.citizen.sub)).toBe(1);
  }, 60_000);

  // ------------------------------------------------------------ 2. CIBA push window

  const ask = (rp: oidc.Configuration, citizenId: string, binding_message: string) =>
    oidc.initiateBackchannelAuthentication(rp, { scope: 'openid profile', login_hint: citizenId, binding_message }).catch((e: unknown) => e);
  const inbox = async (phone: MobileApp) => ((await phone.approvals()).json.requests as { id: string; kind: string; client_id: string }[]).filter((r) => r.kind === 'ciba');

  it.runIf(enabled)('2a. the same counter operator with three counter client ids, denied each time, cannot put more pushes on the phone than one account takes in a window', async () => {
    const { client_id } = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id });
    const counters = [await registerCounterSystem(h), await registerCounterSystem(h), await registerCounterSystem(h)];
    const rps = await Promise.all(counters.map((c) => c.rpVia(h)));
    let reached = 0;
    for (let round = 0; round < 5; round++) {
      for (const rp of rps) await ask(rp, citizen.citizenId, `A-${round}`);
      const shown = await inbox(phone);
      reached += shown.length;
      for (const r of shown) await phone.decide(r.id, 'deny');
    }
    // Three clients at three each would be nine.
    expect(reached).toBeLessThanOrEqual(MAX_UNAPPROVED_PER_ACCOUNT);
  }, 60_000);

  it.runIf(enabled)('2b. eight requests racing (over two instances where there are two) put at most three on the phone', async () => {
    const { client_id } = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id });
    const counter = await registerCounterSystem(h);
    const rp1 = await counter.rpVia(h);
    const rp2 = await counter.rpVia(h2 ?? h);
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => ask(i % 2 ? rp2 : rp1, citizen.citizenId, `R-${i}`)));
    expect((await inbox(phone)).length).toBeLessThanOrEqual(3);
  }, 60_000);

  it.runIf(enabled)('2c. a citizen who denied two and approved one still gets the counter\u2019s next legitimate request', async () => {
    const { client_id } = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id });
    const counter = await registerCounterSystem(h);
    const rp = await counter.rpVia(h);
    for (const decision of ['deny', 'deny', 'approve'] as const) {
      await ask(rp, citizen.citizenId, `D-${decision}`);
      const [entry] = await inbox(phone);
      expect(entry).toBeDefined();
      expect((await phone.decide(entry!.id, decision)).status).toBe(200);
    }
    await ask(rp, citizen.citizenId, 'NEXT-1');
    expect(await inbox(phone)).toHaveLength(1);
  }, 60_000);

  // ------------------------------------------------------------ 4. client assertion lifetimes

  it.runIf(enabled)('4. client assertions with no exp, a string exp years ahead, a far nbf, or exp an hour and a half ahead authenticate no client; a one-minute one does', async () => {
    const keys = await generateKeyPair('ES256', { extractable: true });
    const { client_id } = await h.yihao.clients.create({
      kind: 'ciba',
      name: '政务服务中心 9 号窗口',
      jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', use: 'sig', alg: 'ES256' }] },
      scope: 'openid profile',
    });
    const endpoint = `${h.issuer}/token/introspection`;
    const assertion = (claims: Record<string, unknown>) =>
      new SignJWT({ iss: client_id, sub: client_id, aud: h.issuer, jti: randomUUID(), iat: now(), ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .sign(keys.privateKey as CryptoKey);
    const post = async (claims: Record<string, unknown>) =>
      (
        await fetch(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: 'x', client_id, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(claims) }),
        })
      ).status;
    expect(await post({ exp: now() + 60 })).toBe(200);
    const outcomes = {
      noExp: await post({}),
      stringExp: await post({ exp: String(now() + 10 * 365 * 86_400) }),
      farNbf: await post({ exp: now() + 60, nbf: now() + 365 * 86_400 }),
      ninetyMinutes: await post({ exp: now() + 5400 }),
      oldIat: await post({ exp: now() + 600, iat: now() - 10 * 365 * 86_400 }),
    };
    expect(outcomes).toEqual({ noExp: 401, stringExp: 401, farNbf: 401, ninetyMinutes: 401, oldIat: outcomes.oldIat });
    expect(outcomes.oldIat).toBeLessThan(500);
  }, 60_000);
});

// ------------------------------------------------------------ 3. Redis full

describe.skipIf(!pgAvailable || !redisAvailable || !hasRedisServer)('limits under attack: Redis full (private redis-server, noeviction)', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('3. wrong-password sign-ins while Redis is full answer 503 (never 500), and write nothing past the limit', async () => {
    const log = logCapture('info');
    const { h, url, close } = await yihaoOnPrivateRedis(log.logger);
    cleanups.push(close);
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    // Three login pages, their interactions stored before Redis fills.
    const pages: { browser: ScriptedBrowser; action: URL; csrf: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const browser = new ScriptedBrowser();
      const { res, url: at } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
      const html = await res.text();
      pages.push({ browser, action: new URL(formAction(html, '/login')!, at), csrf: formField(html, 'csrf')! });
    }
    const filler = new Redis(url, { maxRetriesPerRequest: 1 });
    cleanups.push(async () => filler.disconnect());
    const used = Number(/used_memory:(\d+)/.exec(await filler.info('memory'))![1]);
    await filler.config('SET', 'maxmemory', String(Math.floor(used / 2)));
    await expect(filler.set('one-more', 'x')).rejects.toThrow(/^OOM /);
    const keysBefore = await filler.dbsize();
    const statuses: number[] = [];
    for (const p of pages) {
      const res = await p.browser.request(p.action, { form: { csrf: p.csrf, identifier: citizen.citizenId, password: 'wrong-password-1' } });
      statuses.push(res.status);
    }
    expect({ statuses, keysAdded: (await filler.dbsize()) - keysBefore, unhandled: log.entries().filter((e) => e.level === 50).map((e) => e.msg) }).toEqual({ statuses: [503, 503, 503], keysAdded: 0, unhandled: [] });
    await filler.config('SET', 'maxmemory', '0');
  }, 90_000);
});
