/**
 * Attacks on SMS codes (sign-in by SMS, the phone proof of the second step, password reset): strangers
 * who know a citizen's ID or mobile number flooding the phone, guessing codes in parallel, across
 * resends, purposes and sign-ins, or switching between password and SMS to dodge the lockout. Each
 * test states the secure behaviour. The phone proof's guesses failed before they counted against the
 * account's lockout (found by a review, with the rest of this file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath, readOutbox } from '../../src/sms/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep, type Step } from '../support/scripted-browser.js';

const MAX_FAILURES = 3;
const NEW_PASSWORD = 'a brand new passphrase';
let phoneCounter = 0;
const freshPhone = () => `135${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

/** A browser whose requests come from `ip` (the harness trusts one proxy hop). */
const browserAt = (ip: string) =>
  new ScriptedBrowser((u, init) => fetch(u, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': ip } }));

describe('attacks on SMS codes', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;
  const go = (b: ScriptedBrowser, url: string | URL) => walk(b, url, origin);
  const submit = (b: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(b, from, contains, fields, origin);

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c): Config => ({
        ...c,
        trustProxy: true,
        lockout: { maxFailures: MAX_FAILURES, windowSeconds: 900, lockSeconds: 900 },
        // No resend interval, so that the per-number caps (left at their defaults) are what shows.
        sms: { ...c.sms, limits: { ...c.sms.limits, resendIntervalSeconds: 0, perIp: { max: 1000, windowSeconds: 3600 } } },
      }),
    });
    origin = new URL(h.issuer).origin;
    rp = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true }));
  });
  afterAll(async () => h?.close());

  const outbox = () => outboxPath(h.config.dataDir);
  const codeFor = async (phone: string, purpose: string) => {
    const code = await latestOutboxCode(outbox(), `+86${phone}`, purpose);
    if (!code) throw new Error(`no ${purpose} code in the outbox`);
    return code;
  };
  const sentTo = async (phone: string) => (await readOutbox(outbox())).filter((m) => m.to === `+86${phone}`);
  const otherThan = (code: string) => (code === '000000' ? '111111' : '000000');

  /** An authorization request up to the login page. */
  async function atLogin(b: ScriptedBrowser, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid', state, ui_locales: 'en', ...extra });
    const login = page(await go(b, url));
    const redeem = async (step: Step) => {
      if (step.kind !== 'rp') throw new Error(`expected the relying party, got ${step.status}: ${alertOf(step.html) ?? step.html.slice(0, 300)}`);
      return (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier, expectedState: state })).claims()!;
    };
    return { login, redeem };
  }
  async function atSmsPage(b: ScriptedBrowser) {
    const { login, redeem } = await atLogin(b);
    const link = /<a href="([^"]+\/sms)">/.exec(login.html)![1]!;
    return { sms: page(await go(b, new URL(link, login.url))), redeem };
  }
  /** Asks for an SMS sign-in code in a fresh interaction; returns the code page (or refusal). */
  async function askLoginCode(b: ScriptedBrowser, phone: string) {
    const { sms, redeem } = await atSmsPage(b);
    return { step: page(await submit(b, sms, '/sms', { phone })), redeem };
  }

  /** A password reset flow in browser `b`. */
  function resetter(b: ScriptedBrowser) {
    let csrf = '';
    const request = async (path: string, form?: Record<string, string>) => {
      const res = await b.request(new URL(path, h.url), form ? { form } : {});
      const html = await res.text();
      csrf = formField(html, 'csrf') ?? csrf;
      return { status: res.status, html };
    };
    return {
      async start(identifier: string) {
        await request('/password-reset?ui_locales=en');
        return request('/password-reset?ui_locales=en', { csrf, identifier });
      },
      finish: (code: string) => request('/password-reset/code?ui_locales=en', { csrf, code, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD }),
    };
  }

  // (b) Flooding: a stranger from many addresses, through every flow that sends to the number.
  it('(b) a stranger from many addresses, through sign-in and reset (by number and by ID number), gets at most perNumberUnproven codes to the phone in an hour', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await askLoginCode(browserAt(`198.51.100.${10 + i}`), phone)).step.status);
      statuses.push((await resetter(browserAt(`198.51.101.${10 + i}`)).start(phone)).status);
      statuses.push((await resetter(browserAt(`198.51.102.${10 + i}`)).start(citizen.citizenId)).status);
    }
    expect((await sentTo(phone)).length).toBeLessThanOrEqual(h.config.sms.limits.perNumberUnproven.max);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  });

  // (c) Parallel guesses at one code (the reset consults no lockout: the code's own limit must hold).
  it('(c) a burst of parallel wrong reset codes gets no more than maxAttempts checks, and kills the code', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const b = browserAt('203.0.113.40');
    const r = resetter(b);
    expect((await r.start(citizen.citizenId)).status).toBe(303);
    const right = await codeFor(phone, 'reset_password');
    const wrong = Array.from({ length: 25 }, (_, i) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0'));
    const answers = await Promise.all(wrong.map((c) => r.finish(c)));
    // Each "wrong code" answer (400) is a checked guess; the rest must be refusals without a check.
    expect(answers.filter((a) => a.status === 400).length).toBeLessThanOrEqual(h.config.sms.limits.maxAttempts);
    const late = await r.finish(right);
    expect(late.status).not.toBe(200);
    expect(await h.yihao.accounts.verifyPassword(citizen.citizenId, NEW_PASSWORD, '203.0.113.41')).toMatchObject({ ok: false });
  });

  // (c) Across flows: one interaction's code is no good in another interaction for the same number.
  it('(c) a sign-in code works only in the interaction that asked for it', async () => {
    const phone = freshPhone();
    await h.citizen({ phone });
    const citizenBrowser = browserAt('203.0.113.50');
    await askLoginCode(citizenBrowser, phone);
    const leaked = await codeFor(phone, 'login');
    const attacker = browserAt('198.51.100.50');
    const { step } = await askLoginCode(attacker, phone);
    // The attacker's own interaction has its own (unknown) code: the citizen's code is wrong there.
    const own = await codeFor(phone, 'login');
    if (own === leaked) return; // a one-in-a-million coincidence
    // The citizen's code (read as if leaked) is refused in the attacker's interaction.
    const tried = await submit(attacker, step, '/sms/verify', { code: leaked });
    expect(tried.kind).toBe('page');
    expect((tried as PageStep).status).toBe(401);
  });

  // (c) Resend: asking again must not give the same interaction unlimited tries.
  it('(c) resending within one sign-in cannot buy more than perNumberUnproven × maxAttempts checked guesses an hour', async () => {
    const phone = freshPhone();
    await h.citizen({ phone });
    let checked = 0;
    for (let ip = 0; ip < 8; ip++) {
      const b = browserAt(`198.51.103.${ip + 1}`);
      const { step } = await askLoginCode(b, phone);
      if (step.status !== 200) continue;
      let at = step;
      for (let i = 0; i < MAX_FAILURES; i++) {
        at = page(await submit(b, at, '/sms/verify', { code: String(100000 + ip * 10 + i) }));
        if (at.status === 401) checked++;
      }
    }
    expect(checked).toBeLessThanOrEqual(h.config.sms.limits.perNumberUnproven.max * MAX_FAILURES);
  });

  // (d) A sign-in code used for a password reset.
  it('(d) a sign-in code for the number is refused by a reset flow for the same account', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const attacker = browserAt('198.51.100.60');
    const r = resetter(attacker);
    expect((await r.start(citizen.citizenId)).status).toBe(303);
    const resetCode = await codeFor(phone, 'reset_password');
    await askLoginCode(attacker, phone);
    const loginCode = await codeFor(phone, 'login');
    if (loginCode === resetCode) return;
    const done = await r.finish(loginCode);
    expect(done.status).not.toBe(200);
    expect(await h.yihao.accounts.verifyPassword(citizen.citizenId, citizen.password, '203.0.113.61')).toMatchObject({ ok: true });
  });

  // (f) A code after its interaction finished.
  it('(f) a sign-in code used once cannot sign in again in the same interaction', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const b = browserAt('203.0.113.70');
    const { step, redeem } = await askLoginCode(b, phone);
    const code = await codeFor(phone, 'login');
    const action = new URL(/action="([^"]*\/sms\/verify)"/.exec(step.html)![1]!, step.url);
    const csrf = formField(step.html, 'csrf')!;
    const claims = await redeem(await submit(b, step, '/sms/verify', { code }));
    expect(claims.sub).toBe(citizen.sub);
    // Replaying the same post (a stolen form submission, or the citizen's history) signs nothing in.
    const again = await b.request(action, { form: { csrf, code } });
    expect(again.status).not.toBe(303);
  });

  // (g) Switching between password and SMS code at one account from one address.
  it('answers odd phone-proof codes (fullwidth or mathematical digits, NUL, __proto__, 32 characters) with a 4xx, never a 500', async () => {
    const b = browserAt('198.51.100.70');
    let at = await atPhoneProof(b, await h.citizen({ phone: freshPhone() }));
    const statuses: number[] = [];
    for (const code of ['１２３４５６', '\u0000\u0000', '__proto__', 'constructor', '𝟙𝟚𝟛𝟜𝟝𝟞', '1'.repeat(32)]) {
      const next = await submit(b, at, '/phone-proof', { code });
      statuses.push(next.kind === 'page' ? next.status : 303);
      if (next.kind === 'page' && next.html.includes('/phone-proof')) at = next;
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
  });

  it('(g) wrong passwords then SMS codes (and back) share one budget per account and address', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const ip = '198.51.100.80';
    for (let i = 0; i < MAX_FAILURES; i++) expect(await h.yihao.accounts.verifyPassword(phone, 'wrong password', ip)).toMatchObject({ ok: false });
    const b = browserAt(ip);
    const { step } = await askLoginCode(b, phone);
    const right = await codeFor(phone, 'login');
    const tried = page(await submit(b, step, '/sms/verify', { code: right }));
    expect(tried.status).toBe(429);

    const phone2 = freshPhone();
    const citizen2 = await h.citizen({ phone: phone2 });
    const ip2 = '198.51.100.81';
    const b2 = browserAt(ip2);
    let at = (await askLoginCode(b2, phone2)).step;
    const right2 = await codeFor(phone2, 'login');
    for (let i = 0; i < MAX_FAILURES; i++) at = page(await submit(b2, at, '/sms/verify', { code: otherThan(right2).slice(0, 5) + String(i) }));
    expect(await h.yihao.accounts.verifyPassword(citizen2.citizenId, citizen2.password, ip2)).toMatchObject({ ok: false, reason: 'throttled' });
    void citizen;
  });

  // (c)/(g) The phone proof of the second step (an attacker who has the password, e.g. phished).
  async function atPhoneProof(b: ScriptedBrowser, citizen: { citizenId: string; password: string }) {
    const { login } = await atLogin(b, { acr_values: 'urn:yihao:loa:2' });
    const proof = page(await submit(b, login, '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(proof.html).toContain('/phone-proof');
    return proof;
  }

  it('(c/g) wrong phone-proof codes count against the account lockout like SMS sign-in and TOTP codes', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const b = browserAt('198.51.100.90');
    let at = await atPhoneProof(b, citizen);
    const right = await codeFor(phone, 'bind_factor');
    for (let i = 0; i < MAX_FAILURES; i++) at = page(await submit(b, at, '/phone-proof', { code: otherThan(right).slice(0, 5) + String(i) }));
    // A further guess from the same address waits, as a wrong SMS sign-in code or TOTP code would make it.
    const next = page(await submit(b, at, '/phone-proof', { code: right }));
    expect([423, 429]).toContain(next.status);
  });

  it('(c/g) typing the password again between phone-proof guesses buys no fresh budget (found by a second review)', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const wrong = (right: string, i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
    const b1 = browserAt('198.51.110.7');
    let at = await atPhoneProof(b1, citizen);
    const right1 = await codeFor(phone, 'bind_factor');
    for (let i = 0; i < MAX_FAILURES - 1; i++) at = page(await submit(b1, at, '/phone-proof', { code: wrong(right1, i) }));
    expect(at.status).toBe(401);
    // The password again, from the same address: it forgets the address's failures, not the account's streak.
    const b2 = browserAt('198.51.110.7');
    let at2 = await atPhoneProof(b2, citizen);
    const right2 = await codeFor(phone, 'bind_factor');
    for (let i = 0; i < MAX_FAILURES - 1; i++) at2 = page(await submit(b2, at2, '/phone-proof', { code: wrong(right2, i + 10) }));
    const next = await submit(b2, at2, '/phone-proof', { code: right2 });
    expect(next.kind === 'page' && next.html.includes('/phone-proof') ? next.status : `moved on to ${next.url.pathname}`).toBe(423);
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action)).toContain('account.locked');
  });

  it('(b) strangers\' codes from five addresses leave the citizen at home a code of their own', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const home = '203.0.113.101';
    expect(await h.yihao.accounts.verifyPassword(citizen.citizenId, citizen.password, home)).toMatchObject({ ok: true });
    for (let i = 0; i < 5; i++) await askLoginCode(browserAt(`198.51.107.${i + 1}`), phone);
    const { step } = await askLoginCode(browserAt(home), phone);
    expect(step.status).toBe(200);
  });

  // (a) Enumeration: the phone proof and resend pages are past the password; sign-in and reset answer alike.
  it('(a) a reset by ID number answers alike for a registered and an unregistered ID number, through the hour\'s cap', async () => {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    const { syntheticCitizenId } = await import('../support/citizen-ids.js');
    const unknown = syntheticCitizenId();
    const probe = async (identifier: string, net: string) => {
      const out: number[] = [];
      for (let i = 0; i < 5; i++) out.push((await resetter(browserAt(`${net}.${i + 1}`)).start(identifier)).status);
      return out;
    };
    expect(await probe(unknown, '198.51.105')).toEqual(await probe(citizen.citizenId, '198.51.106'));
  });
});
