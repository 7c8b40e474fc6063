/**
 * TOTP and recovery codes on the web sign-in, end to end over HTTP: a relying party asks for
 * urn:yihao:loa:2, the citizen proves a password and then a second factor (or sets one up), and
 * openid-client checks what the ID token says. Also what must NOT work: skipping the second step,
 * replaying a code, reusing a recovery code, and guessing codes past the lockout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const MAX_FAILURES = 3;

const secretOf = (html: string) => /id="manual-key">([^<]+)</.exec(html)?.[1]?.replace(/\s/g, '');
const recoveryCodesOf = (html: string) => [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
/** The code an authenticator app shows `steps` periods from now. */
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

async function wrongCode(secret: string): Promise<string> {
  const valid = new Set(await Promise.all([-2, -1, 0, 1, 2].map((s) => codeAt(secret, s))));
  for (let n = 123456; ; n++) if (!valid.has(String(n))) return String(n);
}

let phoneCounter = 0;
const freshPhone = () => `139${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('TOTP and recovery codes on the web sign-in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;
  const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);
  const submit = (browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(browser, from, contains, fields, origin);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({
      backend: name,
      overrides: (c): Config => ({ ...c, lockout: { maxFailures: MAX_FAILURES, windowSeconds: 900, lockSeconds: 900 } }),
    });
    origin = new URL(h.issuer).origin;
    rp = await relyingParty(h, await h.client({ name: '不动产登记', firstParty: true }));
  });
  afterAll(async () => h?.close());



  /** Starts an authorization request; `redeem` exchanges the code that lands at the relying party. */
  async function begin(browser: ScriptedBrowser, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid', state, nonce, ui_locales: 'en', ...extra });
    const redeem = async (step: Step) => {
      if (step.kind !== 'rp') throw new Error(`expected the relying party, got ${step.status} at ${step.url.pathname}: ${alertOf(step.html) ?? step.html.slice(0, 300)}`);
      return (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce })).claims()!;
    };
    return { first: await go(browser, url), redeem };
  }

  type Citizen = Awaited<ReturnType<Harness['citizen']>>;
  const password = (c: Citizen) => ({ identifier: c.citizenId, password: c.password });

  /** A citizen who has set TOTP up through the sign-in, with what the enrolment showed. */
  async function enrolled() {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const { first, redeem } = await begin(browser, { acr_values: LOA2 });
    const setup = page(await submit(browser, page(first), '/login', password(citizen)));
    expect(setup.html).toContain('<h1>Set up an authenticator app</h1>');
    expect(setup.html).toMatch(/<img src="data:image\/png;base64,[A-Za-z0-9+/=]+" alt="[^"]+"/);
    const secret = secretOf(setup.html)!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const shown = page(await submit(browser, setup, '/totp-enrolment', { code: await codeAt(secret) }));
    expect(shown.status).toBe(200);
    const recoveryCodes = recoveryCodesOf(shown.html);
    const claims = await redeem(await go(browser, new URL(formAction(shown.html, '/auth/')!, shown.url)));
    return { citizen, secret, recoveryCodes, claims, browser };
  }

  /** Password accepted for a loa:2 request: the second-step page. */
  async function atSecondStep(citizen: Citizen, browser = new ScriptedBrowser()) {
    const flow = await begin(browser, { acr_values: LOA2 });
    const step = page(await submit(browser, page(flow.first), '/login', password(citizen)));
    expect(step.html).toContain('<h1>Two-step verification</h1>');
    return { ...flow, browser, step };
  }

  it.skipIf(!enabled)('sets TOTP up during a loa:2 sign-in: QR code, 10 recovery codes shown once, and an ID token at loa:2 with amr pwd+otp+mfa', async () => {
    const { citizen, recoveryCodes, claims } = await enrolled();
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const c of recoveryCodes) expect(c).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);

    // Stored sealed and hashed: neither the secret nor any recovery code is in the database as such.
    const accountId = (await h.yihao.accounts.findBySub(citizen.sub))!.id;
    const db = h.yihao.stores.db;
    const [credential] = await db('credentials').where({ account_id: accountId, type: 'totp' });
    expect(credential.secret).toMatch(/^v2\./);
    const rows = await db('recovery_codes').where({ account_id: accountId });
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify([credential, rows]);
    for (const c of recoveryCodes) expect(stored).not.toContain(c.replaceAll('-', ''));
    expect(await db('oidc_models').where({ model: 'PendingSecondFactor' }).count({ n: '*' }).first()).toEqual({ n: 0 });
    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(events).toEqual(expect.arrayContaining(['credential.added', 'login.succeeded']));
  });

  it.skipIf(!enabled)('proves the mobile number by SMS before an authenticator app is bound: skipping or a wrong code binds nothing', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const browser = new ScriptedBrowser();
    const { first, redeem } = await begin(browser, { acr_values: LOA2 });
    const proof = page(await submit(browser, page(first), '/login', password(citizen)));
    expect(proof.html).toContain('<h1>Confirm your mobile number</h1>');
    expect(proof.html).toContain(`${phone.slice(0, 3)} **** ${phone.slice(7)}`);
    expect(proof.html).not.toContain(phone);
    expect(secretOf(proof.html)).toBeUndefined();
    const code = await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'bind_factor');
    expect(code).toMatch(/^\d{6}$/);

    // The enrolment form cannot be reached around the proof.
    const skipped = await browser.request(new URL(formAction(proof.html, '/phone-proof')!.replace('/phone-proof', '/totp-enrolment'), proof.url), {
      form: { csrf: formField(proof.html, 'csrf')!, code: '123456' },
    });
    expect(skipped.status).toBe(400);
    const wrong = page(await submit(browser, proof, '/phone-proof', { code: code === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(401);
    expect(alertOf(wrong.html)).toBe('The code is not correct.');
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    expect(await h.yihao.stores.db('credentials').where({ account_id: account.id, type: 'totp' })).toHaveLength(0);

    const setup = page(await submit(browser, wrong, '/phone-proof', { code: code! }));
    expect(setup.html).toContain('<h1>Set up an authenticator app</h1>');
    const secret = secretOf(setup.html)!;
    const shown = page(await submit(browser, setup, '/totp-enrolment', { code: await codeAt(secret) }));
    const claims = await redeem(await go(browser, new URL(formAction(shown.html, '/auth/')!, shown.url)));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'] });
    // The proof code was single use.
    expect(await h.yihao.services.otp.verify({ phone, purpose: 'bind_factor', code: code! })).not.toBe('ok');
  });

  it.skipIf(!enabled)('sends a new proof code on request, within the resend limits', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const browser = new ScriptedBrowser();
    const { first } = await begin(browser, { acr_values: LOA2 });
    const proof = page(await submit(browser, page(first), '/login', password(citizen)));
    // Straight away is too soon (one code per resend interval).
    const soon = page(await submit(browser, proof, '/phone-proof/resend', {}));
    expect(soon.status).toBe(429);
    expect(alertOf(soon.html)).toMatch(/^Please wait \d+ seconds? before requesting another code\.$/);
  });

  it.skipIf(!enabled)('does not bind an authenticator app on a password alone when the account already has a passkey', async () => {
    const citizen = await h.citizen({ phone: freshPhone() });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    await h.yihao.stores.db('credentials').insert({ id: `c_pk_${name.length}_${Date.now()}`, account_id: account.id, type: 'passkey', secret: '', created_at: Date.now(), last_used_at: null });
    const browser = new ScriptedBrowser();
    const { first } = await begin(browser, { acr_values: LOA2 });
    const refused = page(await submit(browser, page(first), '/login', password(citizen)));
    expect(alertOf(refused.html)).toBe('不动产登记 requires two-step verification. Your account has a passkey: use “Sign in with a passkey”.');
    expect(refused.html).toContain('data-passkey="authenticate"');
    const uid = refused.url.pathname.split('/')[2]!;
    expect(await h.yihao.services.secondFactors.pending(uid)).toBeUndefined();
  });

  it.skipIf(!enabled)('signs in later with password + TOTP at loa:2; a loa:1 request still needs only the password', async () => {
    const { citizen, secret } = await enrolled();
    const { step, browser, redeem } = await atSecondStep(citizen);
    const claims = await redeem(await submit(browser, step, '/second-factor', { code: await codeAt(secret, 1) }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });

    const plain = new ScriptedBrowser();
    const loa1 = await begin(plain);
    const back = await loa1.redeem(await submit(plain, page(loa1.first), '/login', password(citizen)));
    expect(back).toMatchObject({ sub: citizen.sub, acr: LOA1, amr: ['pwd'] });
  });

  it.skipIf(!enabled)('refuses a code that was already used (replay), even in another sign-in', async () => {
    const { citizen, secret } = await enrolled();
    const code = await codeAt(secret, 1);
    const first = await atSecondStep(citizen);
    await first.redeem(await submit(first.browser, first.step, '/second-factor', { code }));

    const again = await atSecondStep(citizen);
    const refused = page(await submit(again.browser, again.step, '/second-factor', { code }));
    expect(refused.status).toBe(401);
    expect(alertOf(refused.html)).toBe('This code has already been used. Wait for your authenticator app to show a new one.');
    // An earlier step is no better.
    const older = page(await submit(again.browser, refused, '/second-factor', { code: await codeAt(secret, 0) }));
    expect(older.status).toBe(401);
  });

  it.skipIf(!enabled)('lets only one of two simultaneous submissions of the same code through', async () => {
    const { citizen, secret } = await enrolled();
    const steps = await Promise.all([atSecondStep(citizen), atSecondStep(citizen)]);
    const code = await codeAt(secret, 1);
    const statuses = await Promise.all(
      steps.map(async ({ browser, step }) => {
        const res = await browser.request(new URL(formAction(step.html, '/second-factor')!, step.url), { form: { csrf: formField(step.html, 'csrf')!, code } });
        return res.status;
      }),
    );
    expect(statuses.sort()).toEqual([303, 401]);
  });

  it.skipIf(!enabled)('accepts each recovery code once, in any case and without dashes', async () => {
    const { citizen, recoveryCodes } = await enrolled();
    const [code] = recoveryCodes;
    const first = await atSecondStep(citizen);
    const claims = await first.redeem(await submit(first.browser, first.step, '/second-factor', { code: code!.replaceAll('-', '').toLowerCase() }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'] });
    const used = (await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'login.succeeded' && e.details?.method === 'recovery_code');
    expect(used?.details).toMatchObject({ recoveryCodesLeft: 9 });

    const again = await atSecondStep(citizen);
    const refused = page(await submit(again.browser, again.step, '/second-factor', { code: code! }));
    expect(refused.status).toBe(401);
    expect(alertOf(refused.html)).toBe('The code is not correct.');
    // Another unused code still works.
    await again.redeem(await submit(again.browser, refused, '/second-factor', { code: recoveryCodes[1]! }));
  });

  it.skipIf(!enabled)('locks the second factor after maxFailures wrong codes: then even the right code is refused', async () => {
    const { citizen, secret } = await enrolled();
    const { step, browser } = await atSecondStep(citizen);
    const bad = await wrongCode(secret);
    let current = step;
    const statuses: number[] = [];
    for (let i = 0; i < MAX_FAILURES; i++) {
      current = page(await submit(browser, current, '/second-factor', { code: bad }));
      statuses.push(current.status);
    }
    expect(statuses).toEqual([401, 401, 423]);
    expect(alertOf(current.html)).toMatch(/^This account is temporarily locked after too many failed sign-in attempts\. Try again in 15 minutes\.$/);
    // Locked: even the right code is not looked at. (The password is not locked by wrong codes:
    // whoever typed them knew it, and the second step it leads to stays locked.)
    const right = page(await submit(browser, current, '/second-factor', { code: await codeAt(secret, 1) }));
    expect(right.status).toBe(423);

    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => [e.action, e.details?.method]);
    expect(events).toEqual(expect.arrayContaining([['login.failed', 'otp'], ['account.locked', 'otp'], ['login.locked', 'otp']]));
  });

  it.skipIf(!enabled)('gives parallel guesses from many addresses no more than maxFailures code checks in all', async () => {
    const { citizen, secret } = await enrolled();
    const account = (await h.yihao.services.accounts.findBySub(citizen.sub))!;
    const bad = await wrongCode(secret);
    const right = await codeAt(secret, 1);
    // Someone who has the password sends 40 code guesses at once from 8 addresses, each address
    // within its own lockout allowance for its first guesses. One of them (the 21st, its address's
    // third) is the right code: it must find the second factor already locked by the ones before it.
    const guesses = Array.from({ length: 40 }, (_, i) => (i === 20 ? right : bad));
    const results = await Promise.all(guesses.map((code, i) => h.yihao.services.secondFactors.verify(account.id, code, `198.51.100.${100 + (i % 8)}`)));
    expect(results.filter((r) => !r.ok && r.reason === 'invalid').length).toBeLessThanOrEqual(MAX_FAILURES);
    expect(results[20]).toMatchObject({ ok: false, reason: 'locked' });
    expect(results.every((r) => !r.ok)).toBe(true);
    // And the second factor stays locked: the right code is not looked at.
    expect(await h.yihao.services.secondFactors.verify(account.id, right, '198.51.100.99')).toMatchObject({ ok: false, reason: 'locked' });
  });

  it.skipIf(!enabled)('does not let a correct password reset the count of wrong codes', async () => {
    const { citizen, secret } = await enrolled();
    const bad = await wrongCode(secret);
    for (let round = 0; round < MAX_FAILURES - 1; round++) {
      // Each round starts with the right password (which clears the shared lockout count) and guesses once.
      const { step, browser } = await atSecondStep(citizen);
      expect(page(await submit(browser, step, '/second-factor', { code: bad })).status).toBe(401);
    }
    const { step, browser } = await atSecondStep(citizen);
    const locked = page(await submit(browser, step, '/second-factor', { code: bad }));
    expect(locked.status).toBe(423);
    expect(page(await submit(browser, locked, '/second-factor', { code: await codeAt(secret, 1) })).status).toBe(423);
  });

  it.skipIf(!enabled)('cannot reach loa:2 by skipping the second step', async () => {
    const citizen = await h.citizen();
    const { secret } = await enrolled();

    // Straight to the second-step forms without a password: nothing is pending for this interaction.
    const direct = new ScriptedBrowser();
    const start = page((await begin(direct, { acr_values: LOA2 })).first);
    const csrf = formField(start.html, 'csrf')!;
    for (const path of ['second-factor', 'totp-enrolment']) {
      const res = await direct.request(new URL(`${start.url.pathname}/${path}`, start.url), { form: { csrf, code: await codeAt(secret, 1) } });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('wrong_step');
    }

    // Password accepted, then straight back to the authorization endpoint's resume URL: no code, a new login interaction.
    const browser = new ScriptedBrowser();
    const flow = await begin(browser, { acr_values: LOA2 });
    const setup = page(await submit(browser, page(flow.first), '/login', password(citizen)));
    const uid = setup.url.pathname.split('/').pop()!;
    const resumed = page(await go(browser, new URL(`/auth/${uid}`, h.issuer)));
    expect(resumed.url.pathname).toMatch(/^\/interaction\//);
    expect(resumed.url.pathname).not.toBe(setup.url.pathname);
    expect(formAction(resumed.html, '/login')).toBeDefined();

    // A form field claiming a level changes nothing.
    const forged = page(await submit(browser, resumed, '/login', { ...password(citizen), acr: LOA2, amr: 'otp' }));
    expect(forged.html).toContain('<h1>Set up an authenticator app</h1>');

    // Second-step posts need the CSRF token too.
    const noCsrf = await browser.request(new URL(`${forged.url.pathname}/totp-enrolment`, forged.url), { form: { code: '123456' } });
    expect(noCsrf.status).toBe(403);
  });

  it.skipIf(!enabled)('stops at the second step when the account was disabled after the password', async () => {
    const { citizen, secret } = await enrolled();
    const { step, browser } = await atSecondStep(citizen);
    await h.yihao.accounts.setStatus((await h.yihao.accounts.findBySub(citizen.sub))!.id, 'disabled');
    const refused = page(await submit(browser, step, '/second-factor', { code: await codeAt(secret, 1) }));
    expect(refused.status).toBe(400);
    expect(refused.html).toContain('wrong_step');
  });

  it.skipIf(!enabled)('steps a loa:1 session up in place: only the code is asked, and the session moves to loa:2', async () => {
    const { citizen, secret } = await enrolled();
    const browser = new ScriptedBrowser();
    const loa1 = await begin(browser);
    const first = await loa1.redeem(await submit(browser, page(loa1.first), '/login', password(citizen)));
    expect(first).toMatchObject({ acr: LOA1, amr: ['pwd'] });

    // Without interaction the client learns that a login is needed.
    const silent = await begin(browser, { acr_values: LOA2, prompt: 'none' });
    expect(silent.first.kind === 'rp' && silent.first.url.searchParams.get('error')).toBe('login_required');

    const up = await begin(browser, { acr_values: LOA2 });
    const step = page(up.first);
    expect(step.html).toContain('<h1>Two-step verification</h1>');
    expect(step.html).toContain('needs a higher level of assurance');
    expect(formAction(step.html, '/login')).toBeUndefined();
    const claims = await up.redeem(await submit(browser, step, '/second-factor', { code: await codeAt(secret, 1) }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
    expect(claims.auth_time).toBeGreaterThanOrEqual(first.auth_time!);

    // The session is now at loa:2: the next loa:2 request needs nothing, and a loa:1 request gets loa:2.
    const again = await begin(browser, { acr_values: LOA2 });
    expect(await again.redeem(again.first)).toMatchObject({ acr: LOA2 });
    const lower = await begin(browser);
    expect(await lower.redeem(lower.first)).toMatchObject({ acr: LOA2 });
  });

  it.skipIf(!enabled)('asks a loa:1 session without TOTP for the password again before setting TOTP up; an essential acr claim works like acr_values', async () => {
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const loa1 = await begin(browser);
    await loa1.redeem(await submit(browser, page(loa1.first), '/login', password(citizen)));
    const claimsParam = JSON.stringify({ id_token: { acr: { essential: true, values: [LOA2, 'urn:yihao:loa:3'] } } });
    const up = await begin(browser, { claims: claimsParam });
    // A session cookie alone must not be enough to add an authenticator.
    const login = page(up.first);
    expect(formAction(login.html, '/login')).toBeDefined();
    const setup = page(await submit(browser, login, '/login', password(citizen)));
    expect(setup.html).toContain('<h1>Set up an authenticator app</h1>');
    const shown = page(await submit(browser, setup, '/totp-enrolment', { code: await codeAt(secretOf(setup.html)!) }));
    expect(recoveryCodesOf(shown.html)).toHaveLength(10);
    const claims = await up.redeem(await go(browser, new URL(formAction(shown.html, '/auth/')!, shown.url)));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'] });
  });

  it.skipIf(!enabled)('answers a level the web cannot reach (loa:3) with unmet_authentication_requirements', async () => {
    const browser = new ScriptedBrowser();
    const { first } = await begin(browser, { acr_values: 'urn:yihao:loa:3' });
    expect(first.kind).toBe('rp');
    expect(first.url.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it.skipIf(!enabled)('answers bad codes with 400 and a message; a wrong enrolment code with 401, and the same secret stays on the page', async () => {
    const { citizen } = await enrolled();
    const { step, browser } = await atSecondStep(citizen);
    const empty = page(await submit(browser, step, '/second-factor', { code: '  ' }));
    expect([empty.status, alertOf(empty.html)]).toEqual([400, 'Please fill in this field.']);
    const long = page(await submit(browser, step, '/second-factor', { code: '1'.repeat(33) }));
    expect([long.status, alertOf(long.html)]).toEqual([400, 'This entry is too long.']);
    expect(long.html).toContain('aria-invalid="true"');

    const fresh = await h.citizen();
    const b2 = new ScriptedBrowser();
    const flow = await begin(b2, { acr_values: LOA2 });
    const setup = page(await submit(b2, page(flow.first), '/login', password(fresh)));
    const secret = secretOf(setup.html)!;
    const wrong = page(await submit(b2, setup, '/totp-enrolment', { code: await wrongCode(secret) }));
    expect([wrong.status, alertOf(wrong.html)]).toEqual([401, 'The code is not correct.']);
    expect(secretOf(wrong.html)).toBe(secret);
    const reload = page(await go(b2, setup.url));
    expect(secretOf(reload.html)).toBe(secret);
    const done = page(await submit(b2, reload, '/totp-enrolment', { code: await codeAt(secret) }));
    expect(done.status).toBe(200);
    await flow.redeem(await go(b2, new URL(formAction(done.html, '/auth/')!, done.url)));
  });
  // Last in the file: it restarts the server with a new key version, as an operator's switch would.
  it.skipIf(!enabled)('keeps recovery codes shown before a key switch working after it, and makes new ones under the new version', async () => {
    const { citizen, recoveryCodes } = await enrolled();
    const bare = (await h.yihao.stores.db('recovery_codes').select('code_hash')) as { code_hash: string }[];
    expect(bare.every((r) => !r.code_hash.includes('$'))).toBe(true);
    await h.stop();
    h = await startHarness({
      reuse: h,
      overrides: (c): Config => ({
        ...c,
        lockout: { maxFailures: MAX_FAILURES, windowSeconds: 900, lockSeconds: 900 },
        keys: { ...c.keys, purposes: { ...c.keys.purposes, recoveryCode: { version: 2 } } },
      }),
    });
    const before = await atSecondStep(citizen);
    const claims = await before.redeem(await submit(before.browser, before.step, '/second-factor', { code: recoveryCodes[0]! }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2 });

    const later = await enrolled();
    const account = (await h.yihao.services.accounts.findBySub(later.citizen.sub))!;
    const made = (await h.yihao.stores.db('recovery_codes').where({ account_id: account.id }).select('code_hash')) as { code_hash: string }[];
    expect(made).toHaveLength(10);
    expect(made.every((r) => r.code_hash.startsWith('r2$'))).toBe(true);
    const after = await atSecondStep(later.citizen);
    await after.redeem(await submit(after.browser, after.step, '/second-factor', { code: later.recoveryCodes[0]! }));
  });
});
