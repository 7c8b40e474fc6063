/**
 * Sign-in through an upstream identity provider, against a real second OpenID Provider on
 * 127.0.0.1 (test/support/upstream-op.ts), walked at the HTTP level the way a browser without
 * JavaScript would. The relying party is openid-client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go, page, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { refuseAuditEvents } from '../support/audit.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';
import type { UpstreamInput } from '../../src/federation/index.js';
import { createFlowStore } from '../../src/federation/flow-store.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Rp = { config: oidc.Configuration; client: { client_id: string; client_secret?: string } };

describe.each(backends)('federation: signing in through an upstream identity provider ($name)', ({ name: backend, enabled }) => {
  let h: Harness;
  let up: UpstreamOp;
  let rp: Rp;
  const UPSTREAM = 'province';

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: UPSTREAM });
    await h.yihao.federation.upstreams.add(
      {
        name: UPSTREAM,
        displayName: '某省统一身份认证平台',
        displayNameEn: 'Province Sign-In',
        issuer: up.issuer,
        clientId: up.clientId,
        scope: 'openid profile phone citizen_id',
        citizenIdClaim: 'citizen_id',
        acrMap: { 'urn:upstream:password': 'urn:yihao:loa:1', 'urn:upstream:strong': 'urn:yihao:loa:3' },
        maxAcr: 'urn:yihao:loa:2',
        trustAmr: true,
      } satisfies UpstreamInput,
      up.clientSecret,
    );
    // The same upstream once more, pushing its authorization requests (PAR).
    await h.yihao.federation.upstreams.add(
      { name: 'par-province', displayNameEn: 'PAR Province', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', usePar: true },
      up.clientSecret,
    );
    // The same upstream once more, defined with the mobile number under a claim of its own.
    await h.yihao.federation.upstreams.add(
      { name: 'mobile-province', displayNameEn: 'Mobile Province', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile phone citizen_id', citizenIdClaim: 'citizen_id', phoneClaim: 'mobile' },
      up.clientSecret,
    );
    const client = await h.client({ name: '社保查询', scope: 'openid profile' });
    rp = { client, config: await relyingParty(h, client) };
  });
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  async function signInVia(login: string, browser = new ScriptedBrowser(), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const { step, callback } = await federatedWalk(browser, h, up, UPSTREAM, login, await authorizationUrl(rp.config, verifier, extra));
    if (step.kind !== 'rp') return { step, browser, callback };
    const tokens = await oidc.authorizationCodeGrant(rp.config, step.url, { pkceCodeVerifier: verifier });
    return { step, browser, callback, tokens, claims: tokens.claims()! };
  }

  const refusals = async (reason: string) =>
    (await h.yihao.stores.db('audit_events').where({ action: 'federation.refused' }).select('details')).filter((r: { details: string }) => JSON.parse(r.details).reason === reason).length;

  it.skipIf(!enabled)('after a sign-out everywhere, honours no upstream login from before it: back to the upstream with prompt=login, and refused if it answers with the old login again', async () => {
    const citizenId = syntheticCitizenId();
    // This upstream always states a login an hour old, however it is asked (it ignores prompt=login).
    up.citizens.set('stale', { claims: { citizen_id: citizenId, name: '周二' }, authTime: Math.floor(Date.now() / 1000) - 3600 });
    const first = await signInVia('stale');
    expect(first.step.kind).toBe('rp');
    await h.yihao.signOut.everywhere(first.claims!.sub);

    const browser = new ScriptedBrowser();
    const origin = new URL(h.issuer).origin;
    const upOrigin = new URL(up.issuer).origin;
    const { step } = await federatedWalk(browser, h, up, UPSTREAM, 'stale', await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier()));
    // Sent back to the upstream, asked to authenticate afresh.
    expect(step.kind === 'rp' && step.url.origin).toBe(upOrigin);
    const again = step.kind === 'rp' ? step.url : new URL(up.issuer);
    expect(again.searchParams.get('prompt')).toBe('login');
    const form = await (await browser.follow(again, {}, upOrigin)).res.text();
    const back = await browser.follow(new URL(formAction(form, '/login')!, up.issuer), { form: { login: 'stale' } }, upOrigin);
    const refused = await go(browser, back.url, origin);
    expect(refused.kind).toBe('page');
    expect(refused.kind === 'page' && alertOf(refused.html)).toContain('未要求您重新登录');
    expect(await refusals('upstream_login_predates_sign_out')).toBeGreaterThanOrEqual(1);
    expect(await refusals('upstream_login_stale')).toBeGreaterThanOrEqual(1);

    // An upstream that does authenticate afresh signs the citizen in.
    up.citizens.set('stale', { claims: { citizen_id: citizenId, name: '周二' } });
    const fresh = await signInVia('stale');
    expect(fresh.claims?.sub).toBe(first.claims!.sub);
  });

  it.skipIf(!enabled)('creates an account for a citizen new to Yihao, asserted by the upstream, with fed in amr and channel web', async () => {
    const citizenId = syntheticCitizenId();
    up.citizens.set('new-citizen', { claims: { citizen_id: citizenId, name: '李四', phone_number: '+8613800138001' }, acr: 'urn:upstream:password', amr: ['pwd'] });
    const { claims } = await signInVia('new-citizen');
    expect(claims).toBeDefined();
    expect(claims!.acr).toBe('urn:yihao:loa:1');
    expect(claims!.amr).toEqual(['fed', 'pwd']);
    expect(claims!.channel).toBe('web');
    const account = await h.yihao.accounts.findBySub(claims!.sub);
    expect(account?.assurance).toBe('federated');
    expect(account?.name).toBe('李四');
    expect(account?.citizenId()).toBe(citizenId);
    expect(await h.yihao.federation.links.ofAccount(account!.id)).toMatchObject([{ upstream: UPSTREAM, issuer: up.issuer, sub: 'new-citizen' }]);
    // The address it signed in from is now the citizen's own (the lockout's and the SMS limits' familiar address).
    expect(await h.yihao.accounts.lockout.isFamiliar(account!.id, '127.0.0.1')).toBe(true);
    // A second sign-in finds the same link and the same sub.
    const again = await signInVia('new-citizen');
    expect(again.claims!.sub).toBe(claims!.sub);
  });

  it.skipIf(!enabled)("gives a new account the upstream's mobile number only when the upstream says it verified that number", async () => {
    // A profile field anyone can edit at the upstream must not bind someone else's number to a new account.
    const cases = [
      { login: 'phone-unverified', phone: '+8613800138201', verified: false, kept: false },
      { login: 'phone-unsaid', phone: '+8613800138202', verified: undefined, kept: false },
      { login: 'phone-said-in-words', phone: '+8613800138203', verified: 'true', kept: false },
      { login: 'phone-verified', phone: '+8613800138204', verified: true, kept: true },
    ];
    for (const c of cases) {
      up.citizens.set(c.login, { claims: { citizen_id: syntheticCitizenId(), name: '冯九', phone_number: c.phone, ...(c.verified === undefined ? {} : { phone_number_verified: c.verified }) } });
      const { claims } = await signInVia(c.login);
      expect(claims, c.login).toBeDefined();
      expect((await h.yihao.accounts.findByIdentifier(c.phone))?.sub, c.login).toBe(c.kept ? claims!.sub : undefined);
    }

    // An upstream whose number is under another claim: its own "<claim>_verified" says whether it was verified.
    const viaMobile = async (login: string, claims: Record<string, unknown>) => {
      up.citizens.set(login, { claims: { citizen_id: syntheticCitizenId(), name: '卫二', ...claims } });
      const verifier = oidc.randomPKCECodeVerifier();
      const { step } = await federatedWalk(new ScriptedBrowser(), h, up, 'mobile-province', login, await authorizationUrl(rp.config, verifier));
      if (step.kind !== 'rp') throw new Error(`not at the relying party: ${step.status}`);
      return (await oidc.authorizationCodeGrant(rp.config, step.url, { pkceCodeVerifier: verifier })).claims()!.sub;
    };
    const mobileVerified = await viaMobile('mobile-verified', { mobile: '+8613800138205', mobile_verified: true });
    expect((await h.yihao.accounts.findByIdentifier('+8613800138205'))?.sub).toBe(mobileVerified);
    await viaMobile('mobile-other-flag', { mobile: '+8613800138206', phone_number_verified: true });
    expect(await h.yihao.accounts.findByIdentifier('+8613800138206')).toBeUndefined();
  });

  it.skipIf(!enabled)('links an existing account by citizen ID: the same sub as a password sign-in', async () => {
    const citizen = await h.citizen();
    up.citizens.set('existing', { claims: { citizen_id: citizen.citizenId, name: 'whatever' }, acr: 'urn:upstream:password' });
    const fed = await signInVia('existing');
    expect(fed.claims!.sub).toBe(citizen.sub);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp.config, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const local = await oidc.authorizationCodeGrant(rp.config, callback, { pkceCodeVerifier: verifier });
    expect(local.claims()!.sub).toBe(citizen.sub);
    expect(local.claims()!.amr).toEqual(['pwd']);
    // The account keeps its own assurance; the link is recorded and audited.
    expect((await h.yihao.accounts.findBySub(citizen.sub))?.assurance).toBe('self_asserted');
    const actions = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(actions).toContain('federation.linked');
  });

  it.skipIf(!enabled)('caps the level: an upstream sending more than its cap yields the cap', async () => {
    up.citizens.set('strong', { claims: { citizen_id: syntheticCitizenId(), name: '王五' }, acr: 'urn:upstream:strong', amr: ['pwd', 'otp', 'made-up'] });
    const { claims } = await signInVia('strong', new ScriptedBrowser(), { acr_values: 'urn:yihao:loa:2' });
    expect(claims!.acr).toBe('urn:yihao:loa:2');
    // Trusted amr values pass on, unregistered ones do not.
    expect(claims!.amr).toEqual(['fed', 'pwd', 'otp']);
    // Our own vocabulary from upstream stands for itself, and is capped too.
    up.citizens.set('loa3', { claims: { citizen_id: syntheticCitizenId(), name: '赵六' }, acr: 'urn:yihao:loa:3' });
    expect((await signInVia('loa3')).claims!.acr).toBe('urn:yihao:loa:2');
  });

  it.skipIf(!enabled)('refuses, and audits, an upstream that asserts a different citizen ID for a linked identity', async () => {
    const first = syntheticCitizenId();
    up.citizens.set('changer', { claims: { citizen_id: first, name: '钱七' } });
    const { claims } = await signInVia('changer');
    const other = syntheticCitizenId();
    up.citizens.set('changer', { claims: { citizen_id: other, name: '钱七' } });
    const before = await refusals('citizen_id_conflict');
    const { step } = await signInVia('changer');
    const refused = page(step);
    expect(refused.status).toBe(403);
    expect(alertOf(refused.html)).toContain('身份证号与该账号此前关联的不一致');
    expect(await refusals('citizen_id_conflict')).toBe(before + 1);
    // Nothing was linked or created for the other number; the first account is untouched.
    expect(await h.yihao.accounts.findByIdentifier(other)).toBeUndefined();
    expect((await h.yihao.accounts.findBySub(claims!.sub))?.citizenId()).toBe(first);
    const actions = (await h.yihao.services.audit.forAccount(claims!.sub)).map((e) => e.action);
    expect(actions).toContain('federation.refused');
  });

  it.skipIf(!enabled)('refuses a missing or malformed citizen-ID claim with a clear message, creating nothing', async () => {
    up.citizens.set('no-id', { claims: { name: '孙八' } });
    const missing = page((await signInVia('no-id', new ScriptedBrowser(), { ui_locales: 'en' })).step);
    expect(missing.status).toBe(403);
    expect(alertOf(missing.html)).toBe('Province Sign-In did not send your ID number, so no account can be linked.');
    const valid = syntheticCitizenId();
    const wrongCheck = valid.slice(0, 17) + (valid[17] === '0' ? '1' : '0');
    for (const bad of [wrongCheck, '12345', 42]) {
      up.citizens.set('bad-id', { claims: { citizen_id: bad, name: '孙八' } });
      const malformed = page((await signInVia('bad-id')).step);
      expect(malformed.status).toBe(403);
      expect(alertOf(malformed.html)).toContain('提供的身份证号无效');
    }
    expect(await h.yihao.accounts.findByIdentifier(wrongCheck)).toBeUndefined();
    expect(await refusals('citizen_id_missing')).toBeGreaterThanOrEqual(1);
    expect(await refusals('citizen_id_malformed')).toBeGreaterThanOrEqual(3);
  });

  it.skipIf(!enabled)('asks the upstream for the level and freshness the app needs (acr_values, prompt=login, max_age), and pushes the request when configured (PAR)', async () => {
    const buttonRedirect = async (upstream: string, extra: Record<string, string>) => {
      const browser = new ScriptedBrowser();
      const login = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier(), extra), new URL(h.issuer).origin));
      const res = await browser.request(new URL(formAction(login.html, `/federation/${upstream}`)!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
      expect(res.status).toBe(303);
      return new URL(res.headers.get('location')!);
    };
    expect((await buttonRedirect(UPSTREAM, {})).searchParams.has('acr_values')).toBe(false);
    const stepped = await buttonRedirect(UPSTREAM, { acr_values: 'urn:yihao:loa:2' });
    expect(stepped.searchParams.get('acr_values')?.split(' ')).toEqual(['urn:upstream:strong', 'urn:yihao:loa:2', 'urn:yihao:loa:3']);
    // An upstream whose cap is below the requested level is not offered, and cannot be used.
    const browser = new ScriptedBrowser();
    const strongPage = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier(), { acr_values: 'urn:yihao:loa:2' }), new URL(h.issuer).origin));
    expect(formAction(strongPage.html, '/federation/par-province')).toBeUndefined();
    expect(formAction(strongPage.html, `/federation/${UPSTREAM}`)).toBeDefined();
    const forced = await browser.request(new URL(formAction(strongPage.html, `/federation/${UPSTREAM}`)!.replace(UPSTREAM, 'par-province'), strongPage.url), { form: { csrf: formField(strongPage.html, 'csrf')! } });
    expect(forced.status).toBe(400);
    // An app's demand for a fresh sign-in reaches the upstream too.
    const fresh = await buttonRedirect(UPSTREAM, { prompt: 'login', max_age: '300' });
    expect([fresh.searchParams.get('prompt'), fresh.searchParams.get('max_age')]).toEqual(['login', '300']);

    const pushed = await buttonRedirect('par-province', {});
    expect(pushed.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(pushed.searchParams.has('state')).toBe(false);
    up.citizens.set('par-citizen', { claims: { citizen_id: syntheticCitizenId(), name: '吴十' } });
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(new ScriptedBrowser(), h, up, 'par-province', 'par-citizen', await authorizationUrl(rp.config, verifier));
    expect(step.kind).toBe('rp');
    if (step.kind === 'rp') expect((await oidc.authorizationCodeGrant(rp.config, step.url, { pkceCodeVerifier: verifier })).claims()!.amr).toEqual(['fed']);
  });

  it.skipIf(!enabled)("passes the app's ui_locales on to the upstream, in plain and pushed (PAR) requests, and nothing when the app sent none", async () => {
    const atUpstream = async (upstream: string, extra: Record<string, string>) => {
      const browser = new ScriptedBrowser();
      const login = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier(), extra), new URL(h.issuer).origin));
      const res = await browser.request(new URL(formAction(login.html, `/federation/${upstream}`)!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
      expect(res.status).toBe(303);
      const seen = up.authorizationRequests.length;
      const { res: form } = await browser.follow(new URL(res.headers.get('location')!), {}, new URL(up.issuer).origin);
      expect(form.status).toBe(200);
      expect(up.authorizationRequests).toHaveLength(seen + 1);
      return up.authorizationRequests.at(-1)!;
    };
    expect((await atUpstream(UPSTREAM, { ui_locales: 'en' })).ui_locales).toBe('en');
    expect((await atUpstream('par-province', { ui_locales: 'en-GB zh-CN' })).ui_locales).toBe('en-GB zh-CN');
    expect((await atUpstream(UPSTREAM, {})).ui_locales).toBeUndefined();
    // Only well-formed language tags travel: nothing else the app put there reaches the upstream.
    expect((await atUpstream(UPSTREAM, { ui_locales: 'en <script> zh-CN' })).ui_locales).toBe('en zh-CN');
  });

  it.skipIf(!enabled)('refuses a second upstream identity for an already linked account, a cancelled sign-in, and a disabled upstream', async () => {
    const citizenId = syntheticCitizenId();
    up.citizens.set('twin-a', { claims: { citizen_id: citizenId, name: '郑一' } });
    up.citizens.set('twin-b', { claims: { citizen_id: citizenId, name: '郑一' } });
    const first = await signInVia('twin-a');
    const second = page((await signInVia('twin-b')).step);
    expect(second.status).toBe(403);
    expect(alertOf(second.html)).toContain('您的账号已关联另一个');
    const actions = (await h.yihao.services.audit.forAccount(first.claims!.sub)).map((e) => e.action);
    expect(actions).toContain('federation.refused');

    // The citizen cancels at the upstream: it sends the browser back with error=access_denied.
    const origin = new URL(h.issuer).origin;
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier(), { ui_locales: 'en' }), origin));
    const res = await browser.request(new URL(formAction(login.html, `/federation/${UPSTREAM}`)!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
    const state = new URL(res.headers.get('location')!).searchParams.get('state')!;
    const cancelled = page(await go(browser, `${h.issuer}/federation/callback?error=access_denied&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(up.issuer)}`, origin));
    expect(cancelled.status).toBe(403);
    expect(alertOf(cancelled.html)).toBe('Signing in with Province Sign-In did not finish (cancelled or refused). Try again, or sign in another way.');
    expect(await refusals('upstream_error')).toBe(1);

    // Disabled while the citizen is at the upstream: the sign-in is refused when it comes back.
    const again = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier()), origin));
    const started = await browser.request(new URL(formAction(again.html, `/federation/${UPSTREAM}`)!, again.url), { form: { csrf: formField(again.html, 'csrf')! } });
    expect(started.status).toBe(303);
    await h.yihao.federation.upstreams.setStatus(UPSTREAM, 'disabled');
    try {
      const upOrigin = new URL(up.issuer).origin;
      const atUpstream = await browser.follow(new URL(started.headers.get('location')!), {}, upOrigin);
      const back = await browser.follow(new URL(formAction(await atUpstream.res.text(), '/login')!, atUpstream.url), { form: { login: 'twin-a' } }, upOrigin);
      const refused = page(await go(browser, back.url, origin));
      expect(refused.status).toBe(403);
      expect(alertOf(refused.html)).toContain('登录已停用');
      // And the button no longer starts anything.
      const direct = await browser.request(new URL(formAction(refused.html, '/login')!.replace('/login', `/federation/${UPSTREAM}`), refused.url), { form: { csrf: formField(refused.html, 'csrf')! } });
      expect(direct.status).toBe(400);
    } finally {
      await h.yihao.federation.upstreams.setStatus(UPSTREAM, 'active');
    }
  });

  it.skipIf(!enabled)('shows a change made through this instance on its login page at once, not after the list has expired', async () => {
    const origin = new URL(h.issuer).origin;
    const button = async () => formAction(page(await go(new ScriptedBrowser(), await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier()), origin)).html, `/federation/${UPSTREAM}`);
    expect(await button()).toBeDefined();
    await h.yihao.federation.upstreams.setStatus(UPSTREAM, 'disabled');
    try {
      expect(await button()).toBeUndefined();
    } finally {
      await h.yihao.federation.upstreams.setStatus(UPSTREAM, 'active');
    }
    expect(await button()).toBeDefined();
  });

  it.skipIf(!enabled)('refuses to create an account when the upstream sends no name', async () => {
    const citizenId = syntheticCitizenId();
    up.citizens.set('nameless', { claims: { citizen_id: citizenId } });
    const refused = page((await signInVia('nameless')).step);
    expect(refused.status).toBe(403);
    expect(alertOf(refused.html)).toContain('没有提供您的姓名');
    expect(await h.yihao.accounts.findByIdentifier(citizenId)).toBeUndefined();
    expect(await refusals('name_missing')).toBe(1);
  });

  it.skipIf(!enabled)('links nothing and creates no account when the link cannot be audited', async () => {
    const citizenId = syntheticCitizenId();
    up.citizens.set('unrecorded', { claims: { citizen_id: citizenId, name: '钱五' } });
    const allow = await refuseAuditEvents(h.yihao.stores.db, 'federation.linked');
    try {
      const { step } = await signInVia('unrecorded');
      expect(step.kind).not.toBe('rp');
    } finally {
      await allow();
    }
    expect(await h.yihao.accounts.findByIdentifier(citizenId)).toBeUndefined();
    expect(await h.yihao.stores.db('federated_identities').where({ upstream_sub: 'unrecorded' })).toEqual([]);
    // Once the audit store works again, the same sign-in links, with its record.
    const { claims } = await signInVia('unrecorded');
    const actions = (await h.yihao.services.audit.forAccount(claims!.sub)).map((e) => e.action);
    expect(actions).toContain('federation.linked');
  });

  it.skipIf(!enabled)('links exactly once when the same new citizen signs in from two browsers at the same moment', async () => {
    const citizenId = syntheticCitizenId();
    up.citizens.set('racer', { claims: { citizen_id: citizenId, name: '蒋四' } });
    const [a, b] = await Promise.all([signInVia('racer'), signInVia('racer')]);
    expect(a.claims!.sub).toBe(b.claims!.sub);
    const account = await h.yihao.accounts.findByIdentifier(citizenId);
    expect(account?.sub).toBe(a.claims!.sub);
    expect(await h.yihao.federation.links.ofAccount(account!.id)).toHaveLength(1);
    const created = await h.yihao.stores.db('audit_events').where({ action: 'federation.linked', account_id: account!.sub }).select('details');
    expect(created.map((r: { details: string }) => JSON.parse(r.details))).toEqual([{ upstream: UPSTREAM, created: true }]);
  });

  it.skipIf(!enabled)('keeps pending sign-ins single-use and short-lived, and sweeps what expired', async () => {
    const flows = createFlowStore(h.yihao.stores.db);
    const pending = { upstream: UPSTREAM, interactionUid: 'uid', clientId: 'c', nonce: 'n', codeVerifier: 'v', browserBinding: 'b' };
    await flows.savePending('state-once', pending, 60);
    const [first, second] = await Promise.all([flows.consumePending('state-once'), flows.consumePending('state-once')]);
    expect([first, second].filter(Boolean)).toEqual([pending]);
    await flows.savePending('state-expiring', pending, 1);
    await flows.recordSession(UPSTREAM, 'sid-x', (await h.yihao.accounts.findBySub((await h.citizen()).sub))!.id, 1);
    expect(await flows.firstUseOfJti(UPSTREAM, 'jti-x', 1)).toBe(true);
    expect(await flows.firstUseOfJti(UPSTREAM, 'jti-x', 1)).toBe(false);
    expect(await flows.sweep(Date.now() + 2_000)).toBe(3);
    expect(await flows.consumePending('state-expiring')).toBeUndefined();
  });

  it.skipIf(!enabled)('refuses a replayed state, a callback in another browser, a tampered code and a wrong issuer', async () => {
    up.citizens.set('replay', { claims: { citizen_id: syntheticCitizenId(), name: '周九' } });
    const done = await signInVia('replay');
    expect(done.claims).toBeDefined();
    // The same callback again: the state was consumed.
    const replay = await done.browser.request(done.callback!);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('state_unknown');

    // Walk to the upstream and back, but hand the callback to a tampering step before Yihao sees it.
    const tamper = async (edit: (u: URL) => void, browser = new ScriptedBrowser(), callbackBrowser?: ScriptedBrowser) => {
      const origin = new URL(h.issuer).origin;
      const loginPage = page(await go(browser, await authorizationUrl(rp.config, oidc.randomPKCECodeVerifier()), origin));
      const res = await browser.request(new URL(formAction(loginPage.html, `/federation/${UPSTREAM}`)!, loginPage.url), { form: { csrf: formField(loginPage.html, 'csrf')! } });
      const upOrigin = new URL(up.issuer).origin;
      const atUpstream = await browser.follow(new URL(res.headers.get('location')!), {}, upOrigin);
      const back = await browser.follow(new URL(formAction(await atUpstream.res.text(), '/login')!, atUpstream.url), { form: { login: 'replay' } }, upOrigin);
      const callback = new URL(back.url);
      edit(callback);
      return go(callbackBrowser ?? browser, callback, origin);
    };
    const elsewhere = page(await tamper(() => undefined, new ScriptedBrowser(), new ScriptedBrowser()));
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.html).toContain('browser_mismatch');

    const badCode = page(await tamper((u) => u.searchParams.set('code', 'not-a-real-code')));
    expect(badCode.status).toBe(403);
    expect(alertOf(badCode.html)).toContain('返回的登录凭证无效');
    const wrongIssuer = page(await tamper((u) => u.searchParams.set('iss', 'http://127.0.0.1:9/evil')));
    expect(wrongIssuer.status).toBe(403);
    expect(alertOf(wrongIssuer.html)).toContain('返回的登录凭证无效');
    expect(await refusals('token_invalid')).toBeGreaterThanOrEqual(2);
    expect(await refusals('browser_mismatch')).toBe(1);
    expect(await h.yihao.services.audit.verify()).toBeUndefined();
  });
});

describe('federation with population-registry checks on', () => {
  let h: Harness;
  let up: UpstreamOp;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] }, federation: { ...c.federation, registryCheck: true } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'province' });
    await h.yihao.federation.upstreams.add({ name: 'province', displayNameEn: 'Province', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' }, up.clientSecret);
  });
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  it('links when the registry knows the name for the ID number, and refuses (audited) when it does not', async () => {
    const rp = await relyingParty(h, await h.client({}));
    // A synthetic person of config/registry.synthetic.json.
    up.citizens.set('match', { claims: { citizen_id: '330106200002291515', name: '欧阳海' } });
    up.citizens.set('mismatch', { claims: { citizen_id: '310104197211081230', name: '王大明' } });
    const walk = async (login: string) => (await federatedWalk(new ScriptedBrowser(), h, up, 'province', login, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { ui_locales: 'en' }))).step;
    expect((await walk('match')).kind).toBe('rp');
    const refused = page(await walk('mismatch'));
    expect(refused.status).toBe(403);
    expect(alertOf(refused.html)).toBe('The name sent by Province does not match the population registry, so the sign-in was refused.');
    expect(await h.yihao.accounts.findByIdentifier('310104197211081230')).toBeUndefined();
    const [row] = await h.yihao.stores.db('audit_events').where({ action: 'federation.refused' }).select('details');
    expect(JSON.parse((row as { details: string }).details)).toEqual({ upstream: 'province', reason: 'name_mismatch' });
  });
});

describe('federation with private_key_jwt client authentication', () => {
  let h: Harness;
  let up: UpstreamOp;
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  it('authenticates to the upstream with the key pair Yihao made, whose public half was registered there', async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    const definition = { name: 'keyed', displayNameEn: 'Keyed Province', clientId: 'yihao-keyed', clientAuth: 'private_key_jwt', scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' } as const;
    // The key comes first (to register at the upstream); the definition then gets the real issuer and keeps the key.
    const { publicJwk } = await h.yihao.federation.upstreams.add({ ...definition, issuer: 'https://placeholder.example' });
    expect(publicJwk).not.toHaveProperty('d');
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'keyed', clientJwk: publicJwk! });
    const updated = await h.yihao.federation.upstreams.put({ ...definition, clientId: up.clientId, issuer: up.issuer });
    expect(updated.publicJwk).toEqual(publicJwk);

    up.citizens.set('k1', { claims: { citizen_id: syntheticCitizenId(), name: '褚三' } });
    const rp = await relyingParty(h, await h.client({}));
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(new ScriptedBrowser(), h, up, 'keyed', 'k1', await authorizationUrl(rp, verifier));
    if (step.kind !== 'rp') throw new Error(`not at the relying party: ${step.status} ${step.html.slice(0, 300)}`);
    expect((await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier })).claims()!.amr).toEqual(['fed']);
  });
});
