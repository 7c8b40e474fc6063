/**
 * QR cross-device sign-in over HTTP: a relying party's login page offers "Sign in with the mobile
 * app"; the simulated phone scans the QR code, sees the requesting app, the binding code and the
 * time, and approves with its device key; the browser that showed the code completes the login and
 * openid-client checks what the ID token says. And what must NOT work: completing in another
 * browser (a relayed code), a code used twice, approved twice or from another account, an expired
 * code, a denied request, and "Continue" before the phone approved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go, linkTo, page, submit, ScriptedBrowser, scriptedSignIn, type PageStep } from '../support/scripted-browser.js';
import { authorizationUrl } from '../support/relying-party.js';
import { continueQr, MobileApp, phoneWithDeviceKey, registerMobileApp, startQrSignIn } from '../support/mobile-app.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('QR cross-device sign-in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await registerMobileApp(h);
    rp = await relyingParty(h, await h.client({ name: '公积金查询', firstParty: true }));
  });
  afterAll(async () => h?.close());

  type Qr = Awaited<ReturnType<typeof startQrSignIn>>;
  /** Posts the page's "Continue" form, as the script does (or the citizen, without JavaScript). */
  const ask = (qr: Qr, from: PageStep = qr.qr) => submit(qr.browser, from, '/qr/complete', {}, qr.origin);
  /** The same, and the citizen's "Continue as …" on the question that follows an approval. */
  const complete = (qr: Qr, from: PageStep = qr.qr) => continueQr(qr.browser, from, qr.origin);
  const status = async (qr: Qr) => {
    const res = await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/status`, qr.origin));
    return { code: res.status, ...((await res.json()) as { status: string }) };
  };

  it.skipIf(!enabled)('signs in by QR: the phone sees app, binding code and time; the page completes at loa:2 with amr swk and channel mobile, the same sub as everywhere', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    expect(qr.qr.html).toContain('<h1>Sign in with the mobile app</h1>');
    expect(qr.qr.html).toMatch(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="QR code to scan with the Yihao app"/);
    expect(qr.qr.html).toContain(`<strong id="binding-code">${qr.bindingCode}</strong>`);
    expect(qr.qr.html).toMatch(/<script nonce="[^"]+">/);
    expect(await status(qr)).toMatchObject({ code: 200, status: 'pending' });

    // The QR code is a link the app claims; opened anywhere else it only says so.
    const link = await fetch(new URL(`/m/qr/${qr.code}?ui_locales=en`, h.issuer));
    expect(link.status).toBe(200);
    expect(await link.text()).toContain('Scan the QR code on the sign-in page with the Yihao app.');

    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    expect(scanned.json).toMatchObject({ kind: 'qr', client_name: '公积金查询', binding_code: qr.bindingCode, status: 'pending' });
    expect(scanned.json.created_at).toBeGreaterThan(now - 10);
    expect(scanned.json.expires_at).toBeGreaterThan(now + 100);
    expect(scanned.json.expires_at).toBeLessThanOrEqual(now + 121);

    const approved = await phone.decide(scanned.json.id as string, 'approve');
    expect(approved).toMatchObject({ status: 200, json: { status: 'approved' } });
    expect(await status(qr)).toMatchObject({ status: 'approved' });

    const back = await complete(qr);
    if (back.kind !== 'rp') throw new Error(`expected the relying party, got ${back.status}: ${back.html.slice(0, 300)}`);
    const claims = await qr.redeem(back.url);
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'mobile' });
    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(events).toEqual(expect.arrayContaining(['approval.approved', 'login.succeeded']));
  });

  it.skipIf(!enabled)("a stranger who approves a photographed code first does not sign the citizen's browser into the stranger's account unasked: the browser names the account and goes on only when confirmed", async () => {
    const { citizen: stranger, phone } = await phoneWithDeviceKey(h, app, await h.citizen({ name: '李小四' }));
    // The citizen's browser shows a QR code; the stranger photographs it and approves it first.
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(await phone.decide(scanned.json.id as string, 'approve')).toMatchObject({ status: 200 });

    // The page's script posts "Continue" by itself: it gets a question, not the relying party.
    const asked = await ask(qr);
    expect(asked).toMatchObject({ kind: 'page', status: 200 });
    if (asked.kind !== 'page') throw new Error('unreachable');
    const account = await h.yihao.accounts.findBySub(stranger.sub);
    const tail = account!.citizenId().slice(-4);
    expect(asked.html).toContain('李*四');
    expect(asked.html).toContain(tail);
    expect(asked.html).not.toContain('李小四');
    expect(asked.html).not.toContain(stranger.citizenId);
    expect(formAction(asked.html, '/qr/confirm')).toBeTruthy();
    // Nothing signed the browser in yet: a silent request of the app finds no session.
    const { url } = await qr.browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', prompt: 'none' }));
    expect(url.searchParams.get('error')).toBe('login_required');

    // "Not me": a new code replaces the stranger's approval, which then confirms nothing.
    const restarted = page(await go(qr.browser, new URL(linkTo(asked.html, '/qr?new=1')!, qr.origin), qr.origin));
    expect(restarted.html).toContain('<h1>Sign in with the mobile app</h1>');
    const late = await qr.browser.request(new URL(formAction(asked.html, '/qr/confirm')!, qr.origin), { form: { csrf: formField(asked.html, 'csrf')!, approval: formField(asked.html, 'approval')! } });
    expect(late.status).toBe(409);
    expect(await late.text()).not.toContain('李*四');
  });

  it.skipIf(!enabled)('goes on to the app once the citizen confirms the account the browser names', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app, await h.citizen({ name: '王五' }));
    const qr = await startQrSignIn(h, rp);
    await phone.decide((await phone.scan(qr.code)).json.id as string, 'approve');
    const asked = page(await ask(qr));
    expect(asked.html).toContain('<h1>Confirm the account</h1>');
    expect(asked.html).toContain('Continue as 王*');
    const back = await submit(qr.browser, asked, '/qr/confirm', { approval: formField(asked.html, 'approval')! }, qr.origin);
    if (back.kind !== 'rp') throw new Error('expected the relying party');
    expect(await qr.redeem(back.url)).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['swk'] });
  });

  it.skipIf(!enabled)("'Continue as' confirms only the approval its question named: not a new code a stranger approved after a reload (found by a second review)", async () => {
    const { citizen, phone: own } = await phoneWithDeviceKey(h, app, await h.citizen({ name: '王小五' }));
    const { phone: strangers } = await phoneWithDeviceKey(h, app, await h.citizen({ name: '李小四' }));
    const qr = await startQrSignIn(h, rp);
    await own.decide((await own.scan(qr.code)).json.id as string, 'approve');
    const asked = page(await ask(qr));
    expect(asked.html).toContain('王*五');
    // The citizen reloads the QR page (or comes Back to it): the approved hand-off is replaced by a new code ...
    await go(qr.browser, new URL(`/interaction/${qr.uid}/qr`, qr.origin), qr.origin);
    const handoff = (await new h.yihao.services.Adapter('QrHandoff').find(qr.uid)) as { ref: string };
    expect(handoff.ref).not.toBe(qr.code);
    // ... which a stranger photographs and approves first; the citizen then presses "Continue as 王*五" on the old question.
    await strangers.decide((await strangers.scan(handoff.ref)).json.id as string, 'approve');
    const late = await qr.browser.request(new URL(formAction(asked.html, '/qr/confirm')!, qr.origin), { form: { csrf: formField(asked.html, 'csrf')!, approval: formField(asked.html, 'approval')! } });
    expect(late.status).toBe(409);
    // Asked again, the browser names the stranger's account, not the citizen's.
    const again = page(await ask(qr));
    expect(again.html).toContain('李*四');
    expect(again.html).not.toContain(citizen.name);
  });

  it.skipIf(!enabled)('completes nothing at /qr/confirm posted without the question: straight from the QR page, or after a denial', async () => {
    const { phone } = await phoneWithDeviceKey(h, app, await h.citizen({ name: '赵小六' }));
    const qr = await startQrSignIn(h, rp);
    await phone.decide((await phone.scan(qr.code)).json.id as string, 'approve');
    const skipped = await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/confirm`, qr.origin), { form: { csrf: formField(qr.qr.html, 'csrf')! } });
    expect(skipped.status).toBe(409);
    // Neither the interaction page nor a silent request signs the approved browser in meanwhile.
    expect((await qr.browser.request(new URL(`/interaction/${qr.uid}`, qr.origin))).status).toBe(200);
    const { url } = await qr.browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', prompt: 'none' }));
    expect(url.searchParams.get('error')).toBe('login_required');
    // The question itself is neither cached nor framed.
    const asked = await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/complete`, qr.origin), { form: { csrf: formField(qr.qr.html, 'csrf')! } });
    expect(asked.status).toBe(200);
    expect(asked.headers.get('cache-control')).toContain('no-store');
    expect(asked.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");

    const denied = await startQrSignIn(h, rp);
    await phone.decide((await phone.scan(denied.code)).json.id as string, 'deny');
    const res = await denied.browser.request(new URL(`/interaction/${denied.uid}/qr/confirm`, denied.origin), { form: { csrf: formField(denied.qr.html, 'csrf')! } });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('赵*六');
  });

  it.skipIf(!enabled)('gives a pairwise client the same sub for the same person by password on the web and by QR from the phone', async () => {
    const pairwise = await relyingParty(h, await h.client({ name: '医保服务', firstParty: true, subjectType: 'pairwise' }));
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const landed = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(pairwise, verifier, { scope: 'openid', nonce }), { identifier: citizen.citizenId, password: citizen.password });
    const byPassword = (await oidc.authorizationCodeGrant(pairwise, landed, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: oidc.skipStateCheck })).claims()!;
    expect(byPassword).toMatchObject({ channel: 'web', amr: ['pwd'] });
    expect(byPassword.sub).not.toBe(citizen.sub);

    const qr = await startQrSignIn(h, pairwise);
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    const back = await complete(qr);
    if (back.kind !== 'rp') throw new Error('expected the relying party');
    const byQr = await qr.redeem(back.url);
    expect(byQr).toMatchObject({ sub: byPassword.sub, channel: 'mobile', amr: ['swk'] });
  });

  /** What a `prompt=none` request of `rp` in the browser gets back: a code (still signed in) or an error. */
  const silentSignIn = async (browser: ScriptedBrowser) => {
    const { url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', prompt: 'none' }));
    return { code: url.searchParams.get('code'), error: url.searchParams.get('error') };
  };

  it.skipIf(!enabled)("never lets a QR approval enrol a device key: the browser it signed in (a phished code) gets the government app's token by single sign-on, but not a key of its own", async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const account = await h.yihao.accounts.findBySub(citizen.sub);
    // The attacker opens a harmless app's sign-in page, chooses the QR code and sends it (and the binding code) to the citizen, who approves.
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(await phone.decide(scanned.json.id as string, 'approve')).toMatchObject({ status: 200 });
    expect((await complete(qr)).kind).toBe('rp');

    // In that browser, the government app's own sign-in asks for nothing: a loa:2 token, bound to the attacker's DPoP key.
    const attacker = await MobileApp.create(h, app);
    expect(await attacker.signInWithSession(qr.browser)).toMatchObject({ sub: citizen.sub, acr: LOA2, channel: 'mobile' });
    expect((await attacker.call('GET', '/mobile/device-keys')).status).toBe(200);
    expect(await oidc.tokenIntrospection(attacker.rp, attacker.accessToken!)).toMatchObject({ active: true, acr: LOA2, device_key: 'approval' });
    // Its own device key would sign in as the citizen at loa:2 for good, and approve the next QR codes.
    const refused = await attacker.enrolDeviceKey();
    expect(refused).toMatchObject({ status: 403, json: { error: 'insufficient_user_authentication' } });
    expect(refused.json.error_description).toContain('approved on a phone');
    expect(await h.yihao.stores.db('device_keys').where({ account_id: account!.id }).count({ n: '*' }).first()).toMatchObject({ n: 1 });
  });

  it.skipIf(!enabled)('removing the phone that approved a QR sign-in ends the browser session it signed in', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    expect((await complete(qr)).kind).toBe('rp');
    expect((await silentSignIn(qr.browser)).code).toBeTruthy();

    expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);
    expect(await silentSignIn(qr.browser)).toMatchObject({ code: null, error: 'login_required' });
    // The phone's own sign-in (password and TOTP, not the key) goes on.
    expect((await phone.call('GET', '/mobile/device-keys')).json).toEqual({ keys: [] });
  });

  it.skipIf(!enabled)('removing the phone that approved a QR sign-in ends its offline grant too, after the browser session itself has ended', async () => {
    const offline = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true, grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' }));
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    // offline_access is granted only on a consent prompt (OpenID Connect Core 11).
    const qr = await startQrSignIn(h, offline, undefined, { scope: 'openid offline_access', prompt: 'consent' });
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    const consent = await complete(qr);
    if (consent.kind !== 'page') throw new Error('expected the consent page');
    const back = await qr.browser.follow(new URL(formAction(consent.html, '/confirm')!, qr.origin), { form: { csrf: formField(consent.html, 'csrf')! } });
    if (back.url.origin === qr.origin) throw new Error(`expected the relying party, got ${back.url}`);
    const tokens = await qr.tokens(back.url);
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
    expect(tokens.refresh_token).toBeTruthy();
    // The browser session ends (the citizen signs it out in the portal); the offline grant outlives it, as offline grants do.
    const sessions = (await h.yihao.services.accountIndex.list(citizen.sub)).filter((e) => e.model === 'Session');
    for (const s of sessions) expect(await h.yihao.signOut.endSession(s.id, citizen.sub)).toMatchObject({ ended: true });
    const refreshed = await oidc.refreshTokenGrant(offline, tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();

    // The phone is lost; the key that approved the sign-in is removed, and what it let in goes out with it.
    expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);
    await expect(oidc.refreshTokenGrant(offline, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(offline, refreshed.access_token)).toMatchObject({ active: false });
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended' && e.details?.reason === 'device_key_revoked')).toMatchObject({ details: { grants: 1 } });
  });

  it.skipIf(!enabled)('signs nobody in with an approval whose phone was removed before the browser completed it', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    // A stolen phone approves the thief's QR code; the citizen removes it before the thief's browser presses "Continue".
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    expect(await phone.decide(scanned.json.id as string, 'approve')).toMatchObject({ status: 200 });
    expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);

    const back = await complete(qr);
    expect(back.kind).toBe('page');
    expect(await silentSignIn(qr.browser)).toMatchObject({ code: null, error: 'login_required' });
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).filter((e) => e.action === 'login.succeeded' && e.details?.method === 'qr_handoff')).toEqual([]);
  });

  it.skipIf(!enabled)('offers no hand-off to an app that does not accept the mobile channel (allowed_channels)', async () => {
    const { client_id } = await h.client({ name: '仅网页', firstParty: true, allowedChannels: ['web'] });
    const webOnly = await relyingParty(h, { client_id });
    const browser = new ScriptedBrowser();
    const origin = new URL(h.issuer).origin;
    const login = page(await go(browser, await authorizationUrl(webOnly, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: 'en' }), origin));
    const refused = page(await go(browser, new URL(/href="(\/interaction\/[^"]+\/qr)"/.exec(login.html)![1]!, origin), origin));
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('仅网页 does not accept sign-in with the mobile app.');
    expect(await h.yihao.stores.db('approval_requests').where({ client_id }).count({ n: '*' }).first()).toMatchObject({ n: 0 });
  });

  it.skipIf(!enabled)('meets a loa:2 request by QR (the phone key is a second factor in itself)', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp, undefined, { acr_values: LOA2 });
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    const back = await complete(qr);
    if (back.kind !== 'rp') throw new Error('expected the relying party');
    expect(await qr.redeem(back.url)).toMatchObject({ sub: citizen.sub, acr: LOA2, channel: 'mobile' });
  });

  it.skipIf(!enabled)('refuses to complete in another browser (a relayed code), even once approved', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    // Everything the other browser could get (even the interaction cookies) but the hand-off's own cookie.
    const cookie = qr.browser
      .cookieHeader(new URL(`/interaction/${qr.uid}/qr/complete`, qr.origin))
      .split('; ')
      .filter((c) => !c.startsWith('yihao.qr'))
      .join('; ');
    for (const step of ['complete', 'confirm']) {
      const relayed = await fetch(new URL(`/interaction/${qr.uid}/qr/${step}`, qr.origin), {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: formField(qr.qr.html, 'csrf')! }),
      });
      expect(relayed.status).toBe(403);
      expect(alertOf(await relayed.text())).toBe('This QR code was shown in another browser; the sign-in cannot be completed here.');
    }
    const statusElsewhere = await fetch(new URL(`/interaction/${qr.uid}/qr/status`, qr.origin), { headers: { cookie } });
    expect(statusElsewhere.status).toBe(403);
    // The browser that showed it still completes.
    expect((await complete(qr)).kind).toBe('rp');
  });

  it.skipIf(!enabled)('refuses a code approved twice, used twice, or taken from another account', async () => {
    const a = await phoneWithDeviceKey(h, app);
    const b = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    const scanned = await a.phone.scan(qr.code);
    const id = scanned.json.id as string;

    // Another account cannot take over a code already scanned, nor decide the request.
    expect(await b.phone.scan(qr.code)).toMatchObject({ status: 409, json: { error: 'already_claimed' } });
    expect(await b.phone.decide(id, 'approve')).toMatchObject({ status: 404, json: { error: 'not_found' } });
    expect((await b.phone.approvals()).json.requests).toEqual([]);

    expect(await a.phone.decide(id, 'approve')).toMatchObject({ status: 200 });
    expect(await a.phone.decide(id, 'approve')).toMatchObject({ status: 409, json: { error: 'already_decided' } });
    expect(await a.phone.decide(id, 'deny')).toMatchObject({ status: 409, json: { error: 'already_decided' } });

    const back = await complete(qr);
    expect(back.kind).toBe('rp');
    expect(await qr.redeem(back.url)).toMatchObject({ sub: a.citizen.sub });
    // Scanning the same code again (a replay) is refused.
    expect(await b.phone.scan(qr.code)).toMatchObject({ status: 409, json: { error: 'already_decided' } });
  });

  it.skipIf(!enabled)('completes a hand-off once: a second completion of the same code finds it used up', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    const scanned = await phone.scan(qr.code);
    await phone.decide(scanned.json.id as string, 'approve');
    const asked = page(await ask(qr));
    const form = { csrf: formField(asked.html, 'csrf')!, approval: formField(asked.html, 'approval')! };
    const statuses = await Promise.all([0, 1].map(async () => (await qr.browser.request(new URL(`/interaction/${qr.uid}/qr/confirm`, qr.origin), { form })).status));
    expect(statuses.sort()).toEqual([303, 400]);
  });

  it.skipIf(!enabled)('refuses an expired code: the phone cannot take it and the page says so', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    // Two minutes pass.
    await h.yihao.stores.db('approval_requests').where({ ref: qr.code }).update({ expires_at: Date.now() - 1 });
    const handoffs = new h.yihao.services.Adapter('QrHandoff');
    const record = (await handoffs.find(qr.uid))!;
    await handoffs.upsert(qr.uid, { ...record, expiresAt: Date.now() - 1 }, 60);

    expect(await phone.scan(qr.code)).toMatchObject({ status: 410, json: { error: 'expired' } });
    expect(await status(qr)).toMatchObject({ status: 'expired' });
    const ended = page(await complete(qr));
    expect(ended.status).toBe(400);
    expect(alertOf(ended.html)).toBe('This QR code has expired. Get a new one.');
    // A new code is one click away, and it works.
    const fresh = page(await go(qr.browser, new URL(`/interaction/${qr.uid}/qr?new=1`, qr.origin), qr.origin));
    const ref = ((await handoffs.find(qr.uid)) as { ref: string }).ref;
    expect(ref).not.toBe(qr.code);
    const again = await phone.scan(ref);
    await phone.decide(again.json.id as string, 'approve');
    expect((await complete(qr, fresh)).kind).toBe('rp');
  });

  it.skipIf(!enabled)('without JavaScript: "Continue" before approval keeps waiting; a denial on the phone ends the hand-off', async () => {
    const { phone } = await phoneWithDeviceKey(h, app);
    const qr = await startQrSignIn(h, rp);
    const early = page(await complete(qr));
    expect(early.status).toBe(409);
    expect(alertOf(early.html)).toBe('Not approved in the app yet. Approve it in the app, then select Continue.');
    expect(early.html).toContain(`<strong id="binding-code">${qr.bindingCode}</strong>`);

    const scanned = await phone.scan(qr.code);
    expect(await phone.decide(scanned.json.id as string, 'deny')).toMatchObject({ status: 200, json: { status: 'denied' } });
    const denied = page(await complete(qr, early));
    expect(denied.status).toBe(403);
    expect(alertOf(denied.html)).toBe('The sign-in was declined in the app.');
  });
});
