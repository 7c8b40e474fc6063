/**
 * Attacks on federation from a malicious or compromised upstream identity provider, and from a
 * network attacker between Yihao and the upstream: linking to other accounts, levels it is not
 * trusted for, ID tokens for another audience, nonce, issuer or key, mix-up, login CSRF through the
 * callback, SSRF through its discovery, logout of others, and claims built to break the store. Each
 * test states the secure behaviour. Before they were fixed (found by a review, with the rest of this
 * file), an ID token's signature was never checked, and a name or `sub` with a NUL, control
 * characters or too many characters was stored or answered 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, Server } from 'node:http';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { tamperable, type Tamper } from '../support/lying-upstream.js';
import { startHarness, freePort, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, go, page, ScriptedBrowser, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const backend = pgAvailable && redisAvailable ? 'postgres+redis' : 'sqlite';
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe(`a malicious upstream identity provider (${backend})`, () => {
  let h: Harness;
  let upA: UpstreamOp;
  let upB: UpstreamOp;
  let upC: UpstreamOp;
  let tA: Tamper;
  let tC: Tamper;
  let rp: oidc.Configuration;
  let origin: string;
  let canary: Server;
  let canaryPort: number;
  const canaryHits: string[] = [];

  beforeAll(async () => {
    // Only the upstreams' own address is allowed: other loopback addresses stand for internal hosts.
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.1/32'] } }) });
    origin = new URL(h.issuer).origin;
    upA = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'prov-a' });
    upB = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'prov-b' });
    upC = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'prov-c', idTokenClaims: 'minimal' });
    tA = tamperable(upA);
    tC = tamperable(upC, () => `http://127.0.0.2:${canaryPort}/via-redirect`);
    await h.yihao.federation.upstreams.add(
      { name: 'prov-a', issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile phone citizen_id', citizenIdClaim: 'citizen_id', maxAcr: 'urn:yihao:loa:2', acrMap: { 'urn:upstream:strong': 'urn:yihao:loa:2' } },
      upA.clientSecret,
    );
    await h.yihao.federation.upstreams.add(
      { name: 'prov-b', issuer: upB.issuer, clientId: upB.clientId, scope: 'openid profile phone citizen_id', citizenIdClaim: 'citizen_id' },
      upB.clientSecret,
    );
    await h.yihao.federation.upstreams.add({ name: 'dis', issuer: upA.issuer, clientId: upA.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, upA.clientSecret);
    rp = await relyingParty(h, await h.client({ name: 'review app', scope: 'openid profile' }));
    canaryPort = await freePort();
    canary = createServer((req, res) => {
      canaryHits.push(`${req.method} ${req.headers.host} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((r) => canary.listen({ port: canaryPort, host: '::', ipv6Only: false }, () => r()));
  }, 30_000);
  afterAll(async () => {
    canary?.close();
    await upA?.close();
    await upB?.close();
    await upC?.close();
    await h?.close();
  });

  async function signIn(up: UpstreamOp, name: string, login: string, browser = new ScriptedBrowser()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(browser, h, up, name, login, await authorizationUrl(rp, verifier));
    if (step.kind !== 'rp' || !step.url.searchParams.get('code')) return { step, browser };
    const tokens = await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier });
    return { step, browser, claims: tokens.claims()! };
  }

  /** Yihao's button to the upstream: the upstream's authorization URL, with this browser bound to it. */
  async function startAt(browser: ScriptedBrowser, name: string): Promise<URL> {
    const loginPage = page(await go(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), origin));
    const res = await browser.request(new URL(formAction(loginPage.html, `/federation/${name}`)!, loginPage.url), { form: { csrf: formField(loginPage.html, 'csrf')! } });
    expect(res.status).toBe(303);
    return new URL(res.headers.get('location')!);
  }

  /** Signs in at the upstream and returns its redirect to Yihao's callback, not delivered. */
  async function atUpstream(browser: ScriptedBrowser, up: UpstreamOp, authUrl: URL, login: string): Promise<URL> {
    const upOrigin = new URL(up.issuer).origin;
    const form = await (await browser.follow(authUrl, {}, upOrigin)).res.text();
    const back = await browser.follow(new URL(formAction(form, '/login')!, up.issuer), { form: { login } }, upOrigin);
    expect(back.url.origin).toBe(origin);
    return back.url;
  }

  const signedIn = (step: Step) => step.kind === 'rp' && step.url.searchParams.has('code');

  // --- linking -----------------------------------------------------------------------------------

  it("upstream B asserting the upstream sub of a citizen linked through A (with B's own citizen ID) does not reach A's account", async () => {
    const victim = syntheticCitizenId();
    upA.citizens.set('shared-sub', { claims: { citizen_id: victim, name: '受害人' } });
    const a = await signIn(upA, 'prov-a', 'shared-sub');
    expect(a.claims).toBeDefined();
    upB.citizens.set('shared-sub', { claims: { citizen_id: syntheticCitizenId(), name: '攻击者' } });
    const b = await signIn(upB, 'prov-b', 'shared-sub');
    expect(b.claims?.sub).toBeDefined();
    expect(b.claims!.sub).not.toBe(a.claims!.sub);
  });

  it("an upstream asserting someone else's verified phone number for a new citizen does not take that number", async () => {
    const owner = await h.citizen({ phone: '+8613800138777' });
    upB.citizens.set('phone-thief', { claims: { citizen_id: syntheticCitizenId(), name: '盗号', phone_number: '+8613800138777', phone_number_verified: true } });
    const b = await signIn(upB, 'prov-b', 'phone-thief');
    expect(b.claims?.sub).toBeDefined();
    expect(b.claims!.sub).not.toBe(owner.sub);
    expect((await h.yihao.accounts.findBySub(b.claims!.sub))?.phone ?? null).toBeNull();
  });

  // --- assurance ---------------------------------------------------------------------------------

  it('an upstream capped at one factor that claims loa:3, strong amr and verified_claims gets loa:1, amr [fed] and a federated account', async () => {
    upB.citizens.set('overclaim', { claims: { citizen_id: syntheticCitizenId(), name: '夸大' }, acr: 'urn:yihao:loa:3', amr: ['hwk', 'mfa', 'face'] });
    const b = await signIn(upB, 'prov-b', 'overclaim');
    expect(b.claims?.acr).toBe('urn:yihao:loa:1');
    expect(b.claims?.amr).toEqual(['fed']);
    expect(b.claims?.verified_claims).toBeUndefined();
    expect((await h.yihao.accounts.findBySub(b.claims!.sub))?.assurance).toBe('federated');
  });

  // --- hostile claim values ------------------------------------------------------------------------

  const nameRules = (n: string) => n.length <= 64 && !/[\p{Cc}\p{Cf}]/u.test(n);
  for (const [label, hostile] of [
    ['a NUL byte', '张\u0000三'],
    ['control characters and a right-to-left override', '张三\n\u202Eexe.gpj\u0007'],
    ['300 characters', '长'.repeat(300)],
    ['HTML and 100 characters', `<img src=x onerror=alert(1)>${'x'.repeat(80)}`],
  ] as const) {
    it(`a name claim with ${label} is refused or never stored as an account name that registration would refuse (no 500)`, async () => {
      upB.citizens.set(`hostile-${label}`, { claims: { citizen_id: syntheticCitizenId(), name: hostile } });
      const b = await signIn(upB, 'prov-b', `hostile-${label}`);
      if (b.claims) {
        const name = (await h.yihao.accounts.findBySub(b.claims.sub))!.name;
        expect(nameRules(name), `stored name ${JSON.stringify(name.slice(0, 80))}`).toBe(true);
      } else {
        expect(b.step.kind === 'page' && b.step.status).not.toBe(500);
      }
    });
  }

  it('a 300-character upstream sub does not break the callback (no 500)', async () => {
    const login = `s${'u'.repeat(299)}`;
    upB.citizens.set(login, { claims: { citizen_id: syntheticCitizenId(), name: '长号' } });
    const b = await signIn(upB, 'prov-b', login);
    expect(b.step.kind === 'page' ? b.step.status : 200).not.toBe(500);
  });

  // --- the ID token ------------------------------------------------------------------------------

  async function withTamperedIdToken(login: string, tamper: (jwt: string) => Promise<string>) {
    upA.citizens.set(login, { claims: { citizen_id: syntheticCitizenId(), name: '篡改' } });
    tA.idToken = tamper;
    try {
      return await signIn(upA, 'prov-a', login);
    } finally {
      tA.idToken = undefined;
    }
  }
  const resignA = (change: (c: Record<string, unknown>) => Record<string, unknown>) => async (jwt: string) => upA.sign(change(decodeJwt(jwt) as Record<string, unknown>), 'JWT');

  it('refuses an ID token signed with another upstream\'s key (B\'s JWKS), though otherwise valid', async () => {
    const r = await withTamperedIdToken('foreign-key', async (jwt) => upB.sign(decodeJwt(jwt) as Record<string, unknown>, 'JWT'));
    expect(signedIn(r.step)).toBe(false);
  });

  it('refuses an unsigned ID token (alg: none)', async () => {
    const r = await withTamperedIdToken('alg-none', async (jwt) => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(decodeJwt(jwt))}.`);
    expect(signedIn(r.step)).toBe(false);
  });

  it('refuses an ID token whose signature bytes were altered (a network attacker on the back channel)', async () => {
    const r = await withTamperedIdToken('bad-sig', async (jwt) => {
      const [hd, , sig] = jwt.split('.');
      const claims = { ...decodeJwt(jwt), citizen_id: syntheticCitizenId() };
      expect(decodeProtectedHeader(jwt).alg).toBe('RS256');
      return `${hd}.${b64(claims)}.${sig}`;
    });
    expect(signedIn(r.step)).toBe(false);
  });

  for (const [label, change] of [
    ["B's iss", (c: Record<string, unknown>) => ({ ...c, iss: upB.issuer })],
    ['another audience', (c: Record<string, unknown>) => ({ ...c, aud: 'another-app' })],
    ['another nonce', (c: Record<string, unknown>) => ({ ...c, nonce: 'attacker-nonce' })],
    ['two audiences and another azp', (c: Record<string, unknown>) => ({ ...c, aud: [upA.clientId, 'another-app'], azp: 'another-app' })],
    ['an expired exp', (c: Record<string, unknown>) => ({ ...c, exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 1200 })],
  ] as const) {
    it(`refuses an ID token (validly signed by the upstream) with ${label}`, async () => {
      const r = await withTamperedIdToken(`claims-${label}`, resignA(change));
      expect(signedIn(r.step)).toBe(false);
    });
  }

  // --- the callback: mix-up, replay, login CSRF ----------------------------------------------------

  it("mix-up: B forwards Yihao's request for B to A; A's code (iss=A) arriving under B's state is refused", async () => {
    const victim = syntheticCitizenId();
    upA.citizens.set('mixup', { claims: { citizen_id: victim, name: '混淆' } });
    const browser = new ScriptedBrowser();
    const toB = await startAt(browser, 'prov-b');
    const toA = new URL(`${upA.issuer}/auth${toB.search}`);
    toA.searchParams.set('client_id', upA.clientId);
    const callback = await atUpstream(browser, upA, toA, 'mixup');
    expect(callback.searchParams.get('iss')).toBe(upA.issuer);
    const step = await go(browser, callback, origin);
    expect(signedIn(step)).toBe(false);
  });

  it("a code from another Yihao session (not yet redeemed) delivered under this session's state is refused (PKCE)", async () => {
    upA.citizens.set('replay', { claims: { citizen_id: syntheticCitizenId(), name: '重放' } });
    const other = new ScriptedBrowser();
    const stolen = await atUpstream(other, upA, await startAt(other, 'prov-a'), 'replay');
    const browser = new ScriptedBrowser();
    const mine = await startAt(browser, 'prov-a');
    const forged = new URL(stolen);
    forged.searchParams.set('state', mine.searchParams.get('state')!);
    const step = await go(browser, forged, origin);
    expect(signedIn(step)).toBe(false);
  });

  it("login CSRF: the attacker's own upstream callback delivered into the citizen's browser (with its own pending sign-in) is refused", async () => {
    upA.citizens.set('attacker', { claims: { citizen_id: syntheticCitizenId(), name: '攻击者' } });
    const attacker = new ScriptedBrowser();
    const attackersCallback = await atUpstream(attacker, upA, await startAt(attacker, 'prov-a'), 'attacker');
    const citizen = new ScriptedBrowser();
    await startAt(citizen, 'prov-a');
    const res = await citizen.request(attackersCallback);
    expect(res.status).toBe(400);
  });

  // --- disabled upstream --------------------------------------------------------------------------

  it('an upstream disabled while the citizen is at it (discovery cached) is refused at the callback and at the button', async () => {
    upA.citizens.set('disabled', { claims: { citizen_id: syntheticCitizenId(), name: '停用' } });
    expect((await signIn(upA, 'dis', 'disabled')).claims).toBeDefined();
    const browser = new ScriptedBrowser();
    const auth = await startAt(browser, 'dis');
    await h.yihao.federation.upstreams.setStatus('dis', 'disabled');
    try {
      const callback = await atUpstream(browser, upA, auth, 'disabled');
      expect(signedIn(await go(browser, callback, origin))).toBe(false);
      const again = new ScriptedBrowser();
      const loginPage = page(await go(again, await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), origin));
      const csrf = formField(loginPage.html, 'csrf')!;
      const res = await again.request(new URL(`/interaction/${loginPage.url.pathname.split('/')[2]}/federation/dis`, origin), { form: { csrf } });
      expect(res.status).not.toBe(303);
    } finally {
      await h.yihao.federation.upstreams.setStatus('dis', 'active');
    }
  });

  // --- back-channel logout -----------------------------------------------------------------------

  const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };
  let jti = 0;
  const post = (name: string, token: string) =>
    fetch(`${h.issuer}/federation/${name}/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) });
  const alive = async (browser: ScriptedBrowser) => {
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' }));
    return url.searchParams.has('code');
  };

  it("upstream B's logout token naming A's sub and A's sid ends no session that A created; B's token at A's endpoint is refused", async () => {
    upA.citizens.set('bcl-victim', { claims: { citizen_id: syntheticCitizenId(), name: '登出' } });
    const { step, browser } = await signIn(upA, 'prov-a', 'bcl-victim');
    expect(signedIn(step)).toBe(true);
    const sid = await upA.sidFor(browser.cookieHeader(new URL(`${upA.issuer}/`)));
    expect(sid).toBeTruthy();
    const base = () => ({ aud: upB.clientId, iat: Math.floor(Date.now() / 1000), jti: `review-${Date.now()}-${jti++}`, events: EVENT });
    expect((await post('prov-b', await upB.sign({ ...base(), iss: upB.issuer, sub: 'bcl-victim' }))).status).toBe(200);
    expect((await post('prov-b', await upB.sign({ ...base(), iss: upB.issuer, sid }))).status).toBe(200);
    expect((await post('prov-a', await upB.sign({ ...base(), iss: upA.issuer, aud: upA.clientId, sub: 'bcl-victim', sid }))).status).toBe(400);
    expect(await alive(browser)).toBe(true);
  });

  // --- SSRF through the upstream's metadata ----------------------------------------------------------

  const internal = () => [
    ['127.0.0.2', `http://127.0.0.2:${canaryPort}/internal`],
    ['0.0.0.0', `http://0.0.0.0:${canaryPort}/internal`],
    ['::ffff:127.0.0.2', `http://[::ffff:127.0.0.2]:${canaryPort}/internal`],
    ['redirect from the allowed upstream', `${upC.issuer}/review-redirect`],
  ];
  let ssrfNames = 0;
  async function ssrfUpstream(field: string, target: string): Promise<string> {
    const name = `ssrf-${ssrfNames++}`;
    await h.yihao.federation.upstreams.add({ name, issuer: upC.issuer, clientId: upC.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, upC.clientSecret);
    tC.discovery = (doc) => ({ ...doc, [field]: target });
    return name;
  }

  for (const field of ['userinfo_endpoint', 'token_endpoint']) {
    it(`an upstream whose discovery points ${field} at internal addresses gets no request through to them`, async () => {
      canaryHits.length = 0;
      upC.citizens.set('ssrf', { claims: { citizen_id: syntheticCitizenId(), name: '内网' } });
      for (const [, target] of internal()) {
        const name = await ssrfUpstream(field, target!);
        try {
          await federatedWalk(new ScriptedBrowser(), h, upC, name, 'ssrf', await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
        } finally {
          tC.discovery = undefined;
        }
      }
      expect(canaryHits).toEqual([]);
    });
  }

  it('an upstream whose discovery points jwks_uri at internal addresses gets no request through to them (back-channel logout)', async () => {
    canaryHits.length = 0;
    for (const [, target] of internal()) {
      const name = await ssrfUpstream('jwks_uri', target!);
      try {
        const token = await upC.sign({ iss: upC.issuer, aud: upC.clientId, iat: Math.floor(Date.now() / 1000), jti: `ssrf-${Date.now()}-${jti++}`, events: EVENT, sub: 'ssrf' });
        expect((await post(name, token)).status).toBe(400);
      } finally {
        tC.discovery = undefined;
      }
    }
    expect(canaryHits).toEqual([]);
  });
});
