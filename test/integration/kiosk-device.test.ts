/**
 * The kiosk's device authorization grant (RFC 8628), end to end over HTTP: the kiosk (openid-client,
 * private_key_jwt) starts it and shows `verification_uri_complete` as a QR code; the citizen opens
 * it in the phone's browser (a scripted, no-JavaScript browser here), confirms the code on Yihao's
 * own page (zh-CN or en), signs in, and the kiosk's polling gets the tokens. Every device endpoint
 * answers a bad request with a 4xx.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { alertOf, formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { ID_CARD_GRANT, simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { storeDump, storedTokenId } from '../support/token-ids.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const IDLE_SECONDS = 120;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const h1Of = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];

describe.each(backends)('kiosk device authorization grant ($name)', ({ name, enabled }) => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    kiosk = await simulatedKiosk(h, { grantTypes: [DEVICE_CODE as never, ID_CARD_GRANT as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
  });
  afterAll(async () => h?.close());

  /** The phone opens the QR code's link: no JavaScript, so it presses the form_post page's button itself. */
  async function openOnPhone(phone: ScriptedBrowser, link: string, headers: Record<string, string> = {}) {
    const first = await phone.request(link, { headers });
    const autoPost = await first.text();
    expect(first.status).toBe(200);
    const form = { xsrf: formField(autoPost, 'xsrf')!, user_code: formField(autoPost, 'user_code')! };
    const res = await phone.request(new URL(formAction(autoPost, '/device')!, link), { form, headers });
    return { res, html: await res.text() };
  }

  /** Confirms the code on the confirmation page and follows on to Yihao's login page. */
  async function confirm(phone: ScriptedBrowser, confirmation: string, base: string) {
    const form = { xsrf: formField(confirmation, 'xsrf')!, user_code: formField(confirmation, 'user_code')!, confirm: 'yes' };
    const { res, url } = await phone.follow(new URL('/device', base), { form });
    return { res, url, html: await res.text() };
  }

  it.skipIf(!enabled)('the kiosk shows verification_uri_complete; the citizen confirms and signs in on the phone; the kiosk polls and gets the tokens', async () => {
    const citizen = await h.citizen();
    const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile' });
    expect(started.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(started.verification_uri_complete).toBe(`${h.issuer}/device?user_code=${started.user_code}`);
    expect(started.interval).toBe(5);
    const pending = await fetch(`${h.issuer}/token`, { method: 'POST' });
    expect(pending.status).toBe(400);

    const phone = new ScriptedBrowser();
    const confirmation = await openOnPhone(phone, started.verification_uri_complete!);
    expect(confirmation.res.status).toBe(200);
    expect(h1Of(confirmation.html)).toBe('确认终端登录');
    expect(confirmation.html).toContain('<html lang="zh-CN">');
    // The code to compare, large and in its groups; read out character by character.
    const [g1, g2] = started.user_code.split('-') as [string, string];
    expect(confirmation.html).toContain(`<p class="user-code" data-user-code="${started.user_code}">`);
    expect(confirmation.html).toContain(`<span class="sr-only">${[...g1].join(' ')}, ${[...g2].join(' ')}</span>`);
    expect(confirmation.html).toContain(`<span>${g1}</span><span class="sep">-</span><span>${g2}</span>`);
    expect(confirmation.html).toContain('「政务自助终端」请求以您的身份登录');
    expect(confirmation.res.headers.get('content-security-policy')).toContain("default-src 'none'");

    const login = await confirm(phone, confirmation.html, h.issuer);
    expect(login.url.pathname).toMatch(/^\/interaction\//);
    const action = formAction(login.html, '/login')!;
    const done = await phone.follow(new URL(action, login.url), { form: { csrf: formField(login.html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    const doneHtml = await done.res.text();
    expect(done.res.status).toBe(200);
    expect(h1Of(doneHtml)).toBe('已登录');
    expect(doneHtml).toContain('您已在「政务自助终端」上登录');

    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, started);
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:1', amr: ['pwd'], channel: 'web' });
    expect(await oidc.tokenIntrospection(kiosk.rp, tokens.access_token)).toMatchObject({
      active: true,
      sub: citizen.sub,
      acr: 'urn:yihao:loa:1',
      amr: ['pwd'],
      channel: 'web',
      auth_time: tokens.claims()!.auth_time,
    });
    // A kiosk's device-flow tokens end on idle like its card sessions.
    expect(tokens.expires_in).toBeLessThanOrEqual(IDLE_SECONDS);
  });

  /** A device flow up to the citizen's approval on the phone; returns the kiosk's request. */
  async function approveOnPhone(on: Harness, device: SimulatedKiosk, citizen: { citizenId: string; password: string }, before?: (started: oidc.DeviceAuthorizationResponse) => Promise<void>) {
    const started = await oidc.initiateDeviceAuthorization(device.rp, { scope: 'openid profile' });
    await before?.(started);
    const phone = new ScriptedBrowser();
    const confirmation = await openOnPhone(phone, started.verification_uri_complete!);
    const login = await confirm(phone, confirmation.html, on.issuer);
    const action = formAction(login.html, '/login')!;
    const done = await phone.follow(new URL(action, login.url), { form: { csrf: formField(login.html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    expect(h1Of(await done.res.text())).toBe('已登录');
    return started;
  }

  const pollWith = (device: SimulatedKiosk, deviceCode: string) => oidc.genericGrantRequest(device.rp, DEVICE_CODE, { device_code: deviceCode });

  it.skipIf(!enabled)('keeps no device code a thief could poll with in the database or Redis: not its value, and not the id it is stored under', async () => {
    const citizen = await h.citizen();
    let heldWhileAsked = '';
    const started = await approveOnPhone(h, kiosk, citizen, async (s) => {
      // One character longer than a device code stored under its own value before (src/oidc/hashed-token-ids.ts).
      expect(s.device_code).toHaveLength(44);
      heldWhileAsked = await storeDump(h);
    });
    const held = await storeDump(h);
    for (const dump of [heldWhileAsked, held]) expect(dump.includes(started.device_code)).toBe(false);
    // The id a dump does show, presented as a device code after the citizen approved: no tokens.
    await expect(pollWith(kiosk, storedTokenId(h, started.device_code))).rejects.toMatchObject({ error: 'invalid_grant' });
    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, started);
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub });
  });

  it.skipIf(!enabled)('finishes a device code stored under its own value before (an upgrade), in its one record', async () => {
    const citizen = await h.citizen();
    let plain = '';
    const started = await approveOnPhone(h, kiosk, citizen, async (s) => {
      // As a version before hashed ids stored it: under its value, which is also its jti, unmarked.
      const raw = new h.yihao.services.Adapter('DeviceCode');
      const record = (await raw.find(storedTokenId(h, s.device_code))) as Record<string, unknown>;
      const { idHashed, ...before } = record;
      expect(idHashed).toBe(true);
      plain = randomBytes(32).toString('base64url');
      await raw.upsert(plain, { ...before, jti: plain }, 600);
      await raw.destroy(storedTokenId(h, s.device_code));
    });
    // Approved in its one record: no second copy under a hash of its value (SQL or Redis alike).
    expect(await new h.yihao.services.Adapter('DeviceCode').find(storedTokenId(h, plain))).toBeUndefined();
    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, { ...started, device_code: plain });
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub });
  });

  it.skipIf(!enabled)('runs the device flow with lookups under a plain value turned off (keys.purposes.tokenId.unhashedLookups)', async () => {
    const strict = await startHarness({ backend: name, overrides: (c) => ({ ...c, keys: { ...c.keys, purposes: { ...c.keys.purposes, tokenId: { ...c.keys.purposes.tokenId, unhashedLookups: false } } } }) });
    try {
      const device = await simulatedKiosk(strict, { grantTypes: [DEVICE_CODE as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
      const citizen = await strict.citizen();
      const started = await approveOnPhone(strict, device, citizen);
      const tokens = await oidc.pollDeviceAuthorizationGrant(device.rp, started);
      expect(tokens.claims()).toMatchObject({ sub: citizen.sub });
    } finally {
      await strict.close();
    }
  });

  it.skipIf(!enabled)('speaks English to an English phone, refuses a wrong code on the page, and a cancelled request reaches the kiosk as access_denied', async () => {
    const en = { 'accept-language': 'en-GB,en;q=0.9' };
    const phone = new ScriptedBrowser();
    const blank = await phone.request(`${h.issuer}/device`, { headers: en });
    const input = await blank.text();
    expect(blank.status).toBe(200);
    expect(h1Of(input)).toBe('Sign in to a kiosk with your phone');
    expect(input).toContain('<label for="user_code">Kiosk code</label>');

    const wrong = await phone.request(`${h.issuer}/device`, { form: { xsrf: formField(input, 'xsrf')!, user_code: 'BBBB-BBBB' }, headers: en });
    expect(wrong.status).toBe(400);
    const wrongHtml = await wrong.text();
    expect(alertOf(wrongHtml)).toBe('The code is not correct or has expired. Check the kiosk screen and try again.');
    expect(wrongHtml).toContain('aria-invalid="true"');

    const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid' });
    const phone2 = new ScriptedBrowser();
    const confirmation = await openOnPhone(phone2, started.verification_uri_complete!, en);
    expect(h1Of(confirmation.html)).toBe('Confirm the kiosk sign-in');
    // The citizen presses "Cancel".
    const abort = await phone2.request(`${h.issuer}/device`, {
      form: { xsrf: formField(confirmation.html, 'xsrf')!, user_code: formField(confirmation.html, 'user_code')!, confirm: 'yes', abort: 'yes' },
      headers: en,
    });
    expect(abort.status).toBe(400);
    expect(alertOf(await abort.text())).toBe('The sign-in request was cancelled.');
    await expect(oidc.pollDeviceAuthorizationGrant(kiosk.rp, started)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it.skipIf(!enabled)('answers every bad device request with a 4xx, never a 500', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const probes: [string, RequestInit][] = [
      ['/device/auth', {}],
      ['/device/auth?client_id=x', {}],
      ['/device/auth', { method: 'POST' }],
      ['/device/auth', { method: 'POST', headers: form, body: 'client_id=unknown' }],
      ['/device/auth', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }],
      ['/device', { method: 'POST' }],
      ['/device', { method: 'POST', headers: form, body: 'user_code=BBBB-BBBB' }],
      ['/device', { method: 'POST', headers: form, body: 'xsrf=forged&user_code=BBBB-BBBB' }],
      ['/device/callback', {}],
      ['/device/no-such-interaction', {}],
      ['/token', { method: 'POST', headers: form, body: `grant_type=${encodeURIComponent(DEVICE_CODE)}&device_code=nope&client_id=x` }],
    ];
    for (const [path, init] of probes) {
      const res = await fetch(h.url + path, { redirect: 'manual', ...init });
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBeLessThan(500);
    }
    // A failed request without a session offers a fresh start instead of a form that cannot succeed.
    const stray = await (await fetch(`${h.url}/device?ui_locales=en`, { method: 'POST', headers: form, body: 'xsrf=forged&user_code=BBBB-BBBB' })).text();
    expect(stray).toContain('<a href="/device?ui_locales=en">Enter the code again</a>');
  });

  it.skipIf(!enabled)('advertises the device authorization endpoint and grant in discovery', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[]; device_authorization_endpoint: string };
    expect(meta.grant_types_supported).toContain(DEVICE_CODE);
    expect(meta.device_authorization_endpoint).toBe(`${h.issuer}/device/auth`);
  });
});
