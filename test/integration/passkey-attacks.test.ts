/**
 * Attacks on passkeys (WebAuthn): enrolment in the portal, discoverable sign-in, the level a passkey
 * login gets, removal. Every WebAuthn response is made by the software authenticator in
 * test/support/soft-authenticator.ts, so each lie (flags, origin, RP ID, counter, user handle,
 * challenge, transports) can be told on purpose. Each test states the secure behaviour; the
 * transports one failed before the registration's transports were kept to WebAuthn's own words (a
 * NUL stored on SQLite, a 500 on PostgreSQL).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { addTotp } from '../support/second-factors.js';
import { REDIRECT, authorizationUrl } from '../support/relying-party.js';
import { b64u, cbor, counterBytes, sha256, SoftAuthenticator, type Cbor, type Lies, type SoftKey } from '../support/soft-authenticator.js';

const LOA2 = 'urn:yihao:loa:2';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('passkey attacks ($name)', ({ name, enabled }) => {
  if (!enabled) return it.skip(`${name} is not available`);
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;
  let rpId: string;

  beforeAll(async () => {
    h = await startHarness({ backend: name, host: 'localhost' });
    origin = new URL(h.issuer).origin;
    rpId = new URL(h.issuer).hostname;
    const client = await h.client({ name: 'Review RP', redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true });
    rp = await oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await h?.close();
  });

  const db = () => h.yihao.stores.db;
  const passkeyRows = async (accountId: string) => db()('passkeys').where({ account_id: accountId });
  const accountIdOf = async (sub: string) => (await h.yihao.accounts.findBySub(sub))!.id;

  /** Signs in to the portal with the password; returns the credentials page and its CSRF token. */
  async function portal(browser: ScriptedBrowser, who: Citizen, otp?: () => string): Promise<{ page: string; csrf: string; url: URL }> {
    let { res, url } = await browser.follow(`${h.issuer}/account/credentials?ui_locales=en`);
    let page = await res.text();
    for (let i = 0; i < 3 && url.pathname.startsWith('/interaction/'); i++) {
      const login = formAction(page, '/login');
      const second = formAction(page, '/second-factor');
      const form: Record<string, string> | undefined = login ? { csrf: formField(page, "csrf")!, identifier: who.citizenId, password: who.password } : second && otp ? { csrf: formField(page, "csrf")!, code: otp() } : undefined;
      if (!form) break;
      ({ res, url } = await browser.follow(new URL((login ?? second)!, url), { form }));
      page = await res.text();
    }
    return { page, csrf: formField(page, 'csrf') ?? '', url };
  }

  async function registrationOptions(browser: ScriptedBrowser, csrf: string): Promise<Response> {
    return browser.request(`${h.issuer}/account/passkeys/options`, { form: { csrf } });
  }

  /** Posts a registration response; returns the notice the portal answered with (or the status). */
  async function postRegistration(browser: ScriptedBrowser, csrf: string, credential: string): Promise<string> {
    const res = await browser.request(`${h.issuer}/account/passkeys`, { form: { csrf, credential } });
    if (res.status !== 303) return `status ${res.status}`;
    return new URL(res.headers.get('location')!, h.issuer).searchParams.get('notice') ?? `to ${res.headers.get('location')}`;
  }

  /** A citizen with a passkey enrolled through the portal, and the authenticator holding it. */
  async function citizenWithPasskey(l: Lies = {}): Promise<{ who: Citizen; auth: SoftAuthenticator; key: SoftKey }> {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const res = await registrationOptions(browser, csrf);
    expect(res.status).toBe(200);
    const auth = new SoftAuthenticator(origin, rpId);
    const { json, key } = auth.create((await res.json()) as never, l);
    expect(await postRegistration(browser, csrf, json)).toBe('passkey_added');
    auth.hold(key);
    return { who, auth, key };
  }

  /** Opens an authorization request and stands at the login page: its uid and CSRF token. */
  async function loginPage(browser = new ScriptedBrowser(), extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const { res, url } = await browser.follow(await authorizationUrl(rp, verifier, extra), {}, origin);
    const page = await res.text();
    expect(url.pathname).toMatch(/^\/interaction\//);
    return { browser, verifier, uid: url.pathname.split('/')[2]!, csrf: formField(page, 'csrf')!, url };
  }

  async function authOptions(at: { browser: ScriptedBrowser; uid: string; csrf: string }): Promise<{ challenge: string; rpId?: string; allowCredentials?: unknown[] }> {
    const res = await at.browser.request(`${h.issuer}/interaction/${at.uid}/passkey/options`, { form: { csrf: at.csrf } });
    expect(res.status).toBe(200);
    return (await res.json()) as { challenge: string };
  }

  /** Posts an assertion at a login page; on success, redeems the code and returns the ID token's claims. */
  async function postAssertion(at: { browser: ScriptedBrowser; uid: string; csrf: string; verifier: string }, credential: string) {
    const res = await at.browser.request(`${h.issuer}/interaction/${at.uid}/passkey`, { form: { csrf: at.csrf, credential } });
    if (res.status !== 303) return { status: res.status, claims: undefined };
    const followed = await at.browser.follow(new URL(res.headers.get('location')!, h.issuer), {}, origin);
    let { url } = followed;
    if (url.origin === origin && url.pathname.startsWith('/auth/')) {
      // Another account's session was in this browser: oidc-provider ends it first (a self-submitting form).
      const html = await followed.res.text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
      if (xsrf) ({ url } = await at.browser.follow(`${h.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } }, origin));
    }
    if (url.origin === origin) {
      return { status: 303, claims: undefined, at: url };
    }
    const tokens = await oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: at.verifier });
    return { status: 303, claims: tokens.claims()! };
  }

  it('baseline: a passkey enrolled in the portal signs in alone at loa:2, amr swk (claims of device binding not trusted), as its own account', async () => {
    const { who, auth, key } = await citizenWithPasskey();
    const at = await loginPage();
    const opts = await authOptions(at);
    expect(opts.rpId).toBe(rpId);
    // Discoverable: the options name no credential, so nothing about an account is given away.
    expect(opts.allowCredentials ?? []).toEqual([]);
    const out = await postAssertion(at, auth.get(opts, key));
    expect(out.status).toBe(303);
    expect(out.claims?.sub).toBe(who.sub);
    expect(out.claims?.acr).toBe(LOA2);
    expect(out.claims?.amr).toEqual(['swk']);
  });

  it('a stranger who knows the citizen ID number cannot sign in with a passkey of their own authenticator', async () => {
    await citizenWithPasskey();
    const stranger = new SoftAuthenticator(origin, rpId);
    const { key } = stranger.create({ challenge: b64u(randomBytes(32)), user: { id: b64u(randomBytes(16)) } });
    const at = await loginPage();
    const out = await postAssertion(at, stranger.get(await authOptions(at), key));
    expect(out.status).toBe(401);
  });

  it('refuses an assertion without user verification (UV flag clear)', async () => {
    const { auth, key } = await citizenWithPasskey();
    const at = await loginPage();
    expect((await postAssertion(at, auth.get(await authOptions(at), key, { uv: false }))).status).toBe(401);
  });

  it('refuses an assertion without user presence (UP clear)', async () => {
    const { auth, key } = await citizenWithPasskey();
    const at = await loginPage();
    expect((await postAssertion(at, auth.get(await authOptions(at), key, { up: false }))).status).toBe(401);
  });

  it('refuses an assertion made for another origin (a malicious site relaying the challenge) or another RP ID', async () => {
    const { auth, key } = await citizenWithPasskey();
    for (const lie of [{ origin: 'https://evil.example' }, { origin: `http://evil.${rpId}:${new URL(origin).port}` }, { rpId: 'evil.example' }, { type: 'webauthn.create' }]) {
      const at = await loginPage();
      expect((await postAssertion(at, auth.get(await authOptions(at), key, lie))).status, JSON.stringify(lie)).toBe(401);
    }
  });

  it('refuses a challenge issued to another interaction (cross-session), and an assertion replayed into a new sign-in', async () => {
    const { who, auth, key } = await citizenWithPasskey();
    // Challenge from the victim's interaction, assertion posted into the attacker's.
    const victim = await loginPage();
    const attacker = await loginPage();
    const stolen = auth.get(await authOptions(victim), key);
    expect((await postAssertion(attacker, stolen)).status).toBe(401);
    // Used once where it belongs, then replayed into a fresh sign-in.
    const at = await loginPage();
    const good = auth.get(await authOptions(at), key);
    expect((await postAssertion(at, good)).claims?.sub).toBe(who.sub);
    const again = await loginPage();
    await authOptions(again);
    expect((await postAssertion(again, good)).status).toBe(401);
  });

  it('refuses a challenge made up by the client (never issued)', async () => {
    const { auth, key } = await citizenWithPasskey();
    const at = await loginPage();
    await authOptions(at);
    expect((await postAssertion(at, auth.get({ challenge: b64u(randomBytes(32)) }, key))).status).toBe(401);
  });

  it('a raced pair of the same assertion (counterless authenticator) signs in at most once', async () => {
    const { auth, key } = await citizenWithPasskey({ counter: 0 });
    const at = await loginPage();
    const a = auth.get(await authOptions(at), key);
    const results = await Promise.all([0, 1, 2, 3].map(() => at.browser.request(`${h.issuer}/interaction/${at.uid}/passkey`, { form: { csrf: at.csrf, credential: a } })));
    expect(results.filter((r) => r.status === 303).length).toBeLessThanOrEqual(1);
  });

  it('refuses a cloned authenticator: counter going backwards, standing still, or dropping to 0', async () => {
    const { who, auth, key } = await citizenWithPasskey({ counter: 10 });
    const at = await loginPage();
    expect((await postAssertion(at, auth.get(await authOptions(at), key, { counter: 20 }))).claims?.sub).toBe(who.sub);
    for (const counter of [15, 20, 0]) {
      const clone = await loginPage();
      expect((await postAssertion(clone, auth.get(await authOptions(clone), key, { counter }))).status, `counter ${counter}`).toBe(401);
    }
    const good = await loginPage();
    expect((await postAssertion(good, auth.get(await authOptions(good), key, { counter: 21 }))).claims?.sub).toBe(who.sub);
  });

  it("an assertion of the attacker's own passkey cannot sign in as the victim (user handle, credential id or key swapped)", async () => {
    const victim = await citizenWithPasskey();
    const attacker = await citizenWithPasskey();
    // The attacker's credential, with the victim's user handle.
    let at = await loginPage();
    let out = await postAssertion(at, attacker.auth.get(await authOptions(at), attacker.key, { userHandle: victim.key.userHandle }));
    expect(out.claims?.sub).not.toBe(victim.who.sub);
    expect(out.status).toBe(401);
    // The victim's credential id, signed with the attacker's key.
    at = await loginPage();
    out = await postAssertion(at, attacker.auth.get(await authOptions(at), attacker.key, { claimId: victim.key.id, userHandle: victim.key.userHandle }));
    expect(out.status).toBe(401);
    // The victim's credential id, the attacker's user handle, the attacker's key.
    at = await loginPage();
    out = await postAssertion(at, attacker.auth.get(await authOptions(at), attacker.key, { claimId: victim.key.id, signWith: attacker.key.privateKey }));
    expect(out.status).toBe(401);
  });

  it("a thief with the victim's signed-in (loa:1) browser, asked for loa:2, who uses their own passkey, gets their own account, not the victim's at loa:2", async () => {
    const thief = await citizenWithPasskey();
    const victim = await h.citizen();
    const browser = new ScriptedBrowser();
    await portal(browser, victim); // the victim's password session in this browser
    const at = await loginPage(browser, { acr_values: LOA2, prompt: 'login' });
    const out = await postAssertion(at, thief.auth.get(await authOptions(at), thief.key));
    expect(out.status).toBe(303);
    expect(out.claims?.sub).toBe(thief.who.sub);
    expect(out.claims?.amr).not.toContain('pwd');
  });

  it('a passkey login never claims loa:3 (the ID document) when an app asks for it', async () => {
    const { auth, key } = await citizenWithPasskey();
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { res, url } = await browser.follow(await authorizationUrl(rp, verifier, { acr_values: 'urn:yihao:loa:3' }), {}, origin);
    if (url.origin !== origin) {
      // The web channel cannot reach loa:3: the app is told so, with no code.
      expect(url.searchParams.get('code')).toBeNull();
      expect(url.searchParams.get('error')).toBeTruthy();
      return;
    }
    const at = { browser, verifier, uid: url.pathname.split('/')[2]!, csrf: formField(await res.text(), 'csrf')! };
    const out = await postAssertion(at, auth.get(await authOptions(at), key));
    expect(out.claims?.acr).not.toBe('urn:yihao:loa:3');
  });

  it('refuses a disabled account signing in with its passkey', async () => {
    const { who, auth, key } = await citizenWithPasskey();
    await db()('accounts').where({ id: await accountIdOf(who.sub) }).update({ status: 'disabled' });
    const at = await loginPage();
    expect((await postAssertion(at, auth.get(await authOptions(at), key))).status).toBe(401);
  });

  // ---- enrolment ----

  it('refuses a registration that lies about user verification (UV clear) or presence, and stores nothing', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const auth = new SoftAuthenticator(origin, rpId);
    for (const lie of [{ uv: false }, { up: false }, { bogusPacked: true }]) {
      const opts = (await (await registrationOptions(browser, csrf)).json()) as never;
      expect(await postRegistration(browser, csrf, auth.create(opts, lie).json), JSON.stringify(lie)).toBe('passkey_failed');
    }
    expect(await passkeyRows(await accountIdOf(who.sub))).toHaveLength(0);
  });

  it('refuses a registration for another origin, another RP ID, or of the wrong ceremony type', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const auth = new SoftAuthenticator(origin, rpId);
    for (const lie of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { type: 'webauthn.get' }]) {
      const opts = (await (await registrationOptions(browser, csrf)).json()) as never;
      expect(await postRegistration(browser, csrf, auth.create(opts, lie).json), JSON.stringify(lie)).toBe('passkey_failed');
    }
    expect(await passkeyRows(await accountIdOf(who.sub))).toHaveLength(0);
  });

  it("refuses a registration challenge issued to another citizen's portal session, or a sign-in challenge", async () => {
    const a = await h.citizen();
    const b = await h.citizen();
    const ba = new ScriptedBrowser();
    const bb = new ScriptedBrowser();
    const pa = await portal(ba, a);
    const pb = await portal(bb, b);
    const auth = new SoftAuthenticator(origin, rpId);
    // A's options, posted in B's portal session.
    const optsA = (await (await registrationOptions(ba, pa.csrf)).json()) as { challenge: string; user: { id: string } };
    expect(await postRegistration(bb, pb.csrf, auth.create(optsA).json)).toBe('passkey_failed');
    // A sign-in challenge used to register.
    const at = await loginPage();
    const signInOpts = await authOptions(at);
    const optsB = (await (await registrationOptions(bb, pb.csrf)).json()) as { challenge: string; user: { id: string } };
    expect(await postRegistration(bb, pb.csrf, auth.create(optsB, { challenge: signInOpts.challenge }).json)).toBe('passkey_failed');
    expect(await passkeyRows(await accountIdOf(b.sub))).toHaveLength(0);
    expect(await passkeyRows(await accountIdOf(a.sub))).toHaveLength(0);
  });

  it('a registration response replayed after it was accepted adds nothing more', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const auth = new SoftAuthenticator(origin, rpId);
    const { json } = auth.create((await (await registrationOptions(browser, csrf)).json()) as never);
    expect(await postRegistration(browser, csrf, json)).toBe('passkey_added');
    expect(await postRegistration(browser, csrf, json)).not.toBe('passkey_added');
    expect(await passkeyRows(await accountIdOf(who.sub))).toHaveLength(1);
  });

  it("cannot register another account's credential id to take it over", async () => {
    const victim = await citizenWithPasskey();
    const attacker = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, attacker);
    const auth = new SoftAuthenticator(origin, rpId);
    const opts = (await (await registrationOptions(browser, csrf)).json()) as never;
    // Same credential id as the victim's, with the attacker's own key.
    const made = auth.create(opts);
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(victim.key.id.length, 0);
    const body = JSON.parse(made.json) as { id: string; rawId: string; response: { attestationObject: string; clientDataJSON: string } };
    const authData = Buffer.concat([sha256(rpId), Buffer.from([0x45]), counterBytes(0), Buffer.alloc(16), idLen, victim.key.id, made.key.coseKey]);
    body.response.attestationObject = b64u(cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]])));
    body.id = body.rawId = b64u(victim.key.id);
    expect(await postRegistration(browser, csrf, JSON.stringify(body))).toBe('passkey_failed');
    const row = await db()('passkeys').where({ webauthn_id: b64u(victim.key.id) }).first();
    expect(row.account_id).toBe(await accountIdOf(victim.who.sub));
  });

  it('a malicious site cannot get enrolment options or post a registration without the portal CSRF token', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    await portal(browser, who);
    const res = await browser.request(`${h.issuer}/account/passkeys/options`, { form: { x: '1' }, headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
    const res2 = await browser.request(`${h.issuer}/account/passkeys`, { form: { credential: '{}' }, headers: { origin: 'https://evil.example' } });
    expect(res2.status).toBe(403);
    const at = await loginPage();
    const res3 = await at.browser.request(`${h.issuer}/interaction/${at.uid}/passkey/options`, { form: { x: '1' } });
    expect(res3.status).toBe(403);
  });

  it('a stale portal session (sign-in older than the fresh window) gets no enrolment options and adds no passkey', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const auth = new SoftAuthenticator(origin, rpId);
    // Options fetched while fresh, response posted when stale.
    const opts = (await (await registrationOptions(browser, csrf)).json()) as never;
    const realNow = Date.now();
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow + 11 * 60_000);
    try {
      expect((await registrationOptions(browser, csrf)).status).toBe(403);
      expect(await postRegistration(browser, csrf, auth.create(opts).json)).not.toBe('passkey_added');
    } finally {
      spy.mockRestore();
    }
    expect(await passkeyRows(await accountIdOf(who.sub))).toHaveLength(0);
  });

  it('an account with an authenticator app: a password-only (loa:1) portal session, however fresh, binds no passkey', async () => {
    const who = await h.citizen();
    await addTotp(h, await accountIdOf(who.sub));
    const browser = new ScriptedBrowser();
    // A password-only portal sign-in (the thief does not hold the app): the portal asks no second factor by itself.
    const { csrf, url } = await portal(browser, who);
    if (url.pathname.startsWith('/account')) {
      expect((await registrationOptions(browser, csrf)).status).toBe(403);
      const auth = new SoftAuthenticator(origin, rpId);
      const forged = auth.create({ challenge: b64u(randomBytes(32)), user: { id: b64u(who.sub) } }).json;
      expect(await postRegistration(browser, csrf, forged)).not.toBe('passkey_added');
    }
    expect(await passkeyRows(await accountIdOf(who.sub))).toHaveLength(0);
  });

  it("the registration options carry the masked ID number and the public sub, never the full citizen ID", async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const text = await (await registrationOptions(browser, csrf)).text();
    expect(text).not.toContain(who.citizenId);
    const opts = JSON.parse(text) as { user: { id: string; name: string }; rp: { id: string }; authenticatorSelection: { userVerification: string } };
    expect(Buffer.from(opts.user.id, 'base64url').toString()).toBe(who.sub);
    expect(opts.rp.id).toBe(rpId);
    expect(opts.authenticatorSelection.userVerification).toBe('required');
  });

  it('RP ID and origin come from the issuer, not from a Host header a proxy passes on', async () => {
    const who = await h.citizen();
    const browser = new ScriptedBrowser();
    const { csrf } = await portal(browser, who);
    const port = new URL(origin).port;
    const res = await browser.request(`${h.issuer}/account/passkeys/options`, { form: { csrf }, headers: { host: `evil.example:${port}`, 'x-forwarded-host': 'evil.example' } });
    if (res.status === 200) expect(((await res.json()) as { rp: { id: string } }).rp.id).toBe(rpId);
    const at = await loginPage();
    const r2 = await at.browser.request(`${h.issuer}/interaction/${at.uid}/passkey/options`, { form: { csrf: at.csrf }, headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' } });
    if (r2.status === 200) expect(((await r2.json()) as { rpId: string }).rpId).toBe(rpId);
  });

  it('a registration whose transports hold control characters, markup or too much is refused cleanly (never a 500), and nothing odd is stored', async () => {
    const auth = new SoftAuthenticator(origin, rpId);
    const problems: string[] = [];
    // One citizen per case: a passkey accepted makes the next enrolment need a loa:2 sign-in.
    for (const transports of [['usb\u0000'], ['in\u001bternal'], ['<script>x</script>'], Array.from({ length: 8 }, (_, i) => `${i}`.repeat(32))]) {
      const who = await h.citizen();
      const browser = new ScriptedBrowser();
      const { csrf } = await portal(browser, who);
      const opts = (await (await registrationOptions(browser, csrf)).json()) as never;
      const notice = await postRegistration(browser, csrf, auth.create(opts, { transports }).json);
      if (/^status 5/.test(notice)) problems.push(`${JSON.stringify(transports).slice(0, 40)}: ${notice}`);
      for (const row of await passkeyRows(await accountIdOf(who.sub))) if (/\p{Cc}/u.test(String(row.transports ?? ''))) problems.push(`${JSON.stringify(transports)}: stored ${JSON.stringify(row.transports)}`);
    }
    expect(problems).toEqual([]);
  });

  // ---- removal ----

  it('a thief with a stale or password-only portal session cannot remove the passkey; the citizen can after a fresh passkey sign-in, and then it signs in no more', async () => {
    const { who, auth, key } = await citizenWithPasskey();
    const accountId = await accountIdOf(who.sub);
    const credentialId = (await passkeyRows(accountId))[0]!.credential_id as string;
    // Thief: password-only sign-in (loa:1) on an account with a passkey.
    const thief = new ScriptedBrowser();
    const tp = await portal(thief, who);
    const res = await thief.request(`${h.issuer}/account/credentials/remove`, { form: { csrf: tp.csrf, credential: credentialId } });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!, h.issuer).pathname).not.toBe('/account/credentials');
    expect(await passkeyRows(accountId)).toHaveLength(1);

    // Another browser signed in with the passkey at an app.
    const other = await loginPage();
    expect((await postAssertion(other, auth.get(await authOptions(other), key))).claims?.sub).toBe(who.sub);

    // The citizen: portal sign-in with the passkey itself (loa:2), then removal.
    const citizen = new ScriptedBrowser();
    const start = await citizen.follow(`${h.issuer}/account/credentials?ui_locales=en`);
    const uid = start.url.pathname.split('/')[2]!;
    const csrfLogin = formField(await start.res.text(), 'csrf')!;
    const optsRes = await citizen.request(`${h.issuer}/interaction/${uid}/passkey/options`, { form: { csrf: csrfLogin } });
    const assertion = auth.get((await optsRes.json()) as { challenge: string }, key);
    const done = await citizen.request(`${h.issuer}/interaction/${uid}/passkey`, { form: { csrf: csrfLogin, credential: assertion } });
    expect(done.status).toBe(303);
    const landed = await citizen.follow(new URL(done.headers.get('location')!, h.issuer));
    const page = await landed.res.text();
    expect(landed.url.pathname).toBe('/account/credentials');
    const removed = await citizen.request(`${h.issuer}/account/credentials/remove`, { form: { csrf: formField(page, 'csrf')!, credential: credentialId } });
    expect(removed.status).toBe(303);
    expect(await passkeyRows(accountId)).toHaveLength(0);

    // The other browser's app session is gone: a silent sign-in is refused.
    const verifier = oidc.randomPKCECodeVerifier();
    const { url } = await other.browser.follow(await authorizationUrl(rp, verifier, { prompt: 'none' }), {}, origin);
    expect(url.searchParams.get('error')).toBe('login_required');
    // And the passkey signs in no more.
    const again = await loginPage();
    expect((await postAssertion(again, auth.get(await authOptions(again), key))).status).toBe(401);
  });
});
