/**
 * A stranger who knows a citizen's ID number or mobile number, against the citizen's own password
 * reset, SMS sign-in and registration, over HTTP: whatever the stranger asks for or types in their
 * own flow, the citizen's own flow still gets a code and the citizen's code still works.
 * - The stranger's requests (from addresses the account never signed in from) must not use up the
 *   codes of one purpose that the citizen asks for from a familiar address.
 * - A code belongs to the flow it was asked for in: the stranger's wrong guesses in their own flow
 *   do not spend the tries of the code the citizen received, and the stranger's later request does
 *   not replace it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config/index.js';
import { latestOutboxCode, outboxPath, readOutbox } from '../../src/sms/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { generate } from 'otplib';
import { addTotp } from '../support/second-factors.js';
import { alertOf, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep, type Step } from '../support/scripted-browser.js';

const NEW_PASSWORD = 'a brand new passphrase';
const FAMILIAR = '198.51.100.20';

let phoneCounter = 0;
const freshPhone = () => `135${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;
let ipCounter = 0;
/** A different address each time: the stranger needs nothing more to look like many people. */
const strangerIp = () => `203.0.113.${++ipCounter}`;

/** A browser whose every request comes from `ip` (through the trusted proxy's X-Forwarded-For). */
const browserAt = (ip: string) => new ScriptedBrowser((url, init) => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': ip } }));

const otherThan = (code: string) => (code === '000000' ? '111111' : '000000');

describe('a stranger against the citizen’s own reset, SMS sign-in and registration', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c): Config => ({
        ...c,
        trustProxy: true,
        // The edge limit per address is not what is tested here.
        rateLimits: { ...c.rateLimits, forms: { points: 1000, durationSeconds: 60 } },
        // No resend interval, so that the test need not wait a minute between codes.
        sms: { ...c.sms, limits: { ...c.sms.limits, resendIntervalSeconds: 0, perIp: { max: 100, windowSeconds: 3600 } } },
      }),
    });
    origin = new URL(h.issuer).origin;
    rp = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true }));
  });
  afterAll(async () => h?.close());

  const outbox = () => outboxPath(h.config.dataDir);
  const sentTo = async (phone: string, purpose: string) => (await readOutbox(outbox(), `+86${phone}`)).filter((m) => m.purpose === purpose).length;
  const latestCode = async (phone: string, purpose: string) => {
    const code = await latestOutboxCode(outbox(), `+86${phone}`, purpose);
    if (!code) throw new Error('no code in the outbox');
    return code;
  };

  /** A citizen who has signed in from `FAMILIAR` before (a right password makes the address familiar). */
  async function citizenAtHome() {
    const phone = freshPhone();
    const citizen = await h.citizen({ phone });
    expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, citizen.password, FAMILIAR)).ok).toBe(true);
    return { ...citizen, phone };
  }

  /** One person going through the password-reset pages from one address. */
  class Resetter {
    readonly browser: ScriptedBrowser;
    csrf = '';
    constructor(ip: string) {
      this.browser = browserAt(ip);
    }
    async request(path: string, form?: Record<string, string>) {
      const res = await this.browser.request(new URL(`${path}${path.includes('?') ? '&' : '?'}ui_locales=en`, h.url), form ? { form } : {});
      const html = await res.text();
      this.csrf = formField(html, 'csrf') ?? this.csrf;
      return { status: res.status, html };
    }
    /** Asks for a code; the status of the POST (303 when it went through). */
    async ask(identifier: string) {
      if (!this.csrf) await this.request('/password-reset');
      return (await this.request('/password-reset', { csrf: this.csrf, identifier })).status;
    }
    finish(code: string) {
      return this.request('/password-reset/code', { csrf: this.csrf, code, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    }
  }

  describe('password reset', () => {
    it("keeps a stranger's requests from using up the resets the citizen asks for from a familiar address", async () => {
      const citizen = await citizenAtHome();
      // All a stranger needs is the ID number; every request from a new address.
      for (let i = 0; i < 3; i++) expect(await new Resetter(strangerIp()).ask(citizen.citizenId)).toBe(303);
      expect(await new Resetter(strangerIp()).ask(citizen.citizenId)).toBe(429);
      expect(await sentTo(citizen.phone, 'reset_password')).toBe(3);

      // The citizen, at home, still gets a code and resets the password with it.
      const own = new Resetter(FAMILIAR);
      expect(await own.ask(citizen.citizenId)).toBe(303);
      expect(await sentTo(citizen.phone, 'reset_password')).toBe(4);
      const done = await own.finish(await latestCode(citizen.phone, 'reset_password'));
      expect(done.status, alertOf(done.html)).toBe(200);
      expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, NEW_PASSWORD, FAMILIAR)).ok).toBe(true);
    });

    it("does not let a stranger's wrong codes in their own flow spend the tries of the code the citizen received", async () => {
      const citizen = await citizenAtHome();
      const stranger = new Resetter(strangerIp());
      expect(await stranger.ask(citizen.citizenId)).toBe(303);
      const own = new Resetter(FAMILIAR);
      expect(await own.ask(citizen.citizenId)).toBe(303);
      const code = await latestCode(citizen.phone, 'reset_password');
      // The stranger keeps typing wrong codes into their flow, as fast as they like: nothing slows them there.
      for (let i = 0; i < h.config.sms.limits.maxAttempts + 1; i++) expect((await stranger.finish(otherThan(code))).status).toBeGreaterThanOrEqual(400);
      const done = await own.finish(code);
      expect(done.status, alertOf(done.html)).toBe(200);
      expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, NEW_PASSWORD, FAMILIAR)).ok).toBe(true);
    });

    it("does not let a stranger's later request replace the code the citizen received", async () => {
      const citizen = await citizenAtHome();
      const own = new Resetter(FAMILIAR);
      expect(await own.ask(citizen.citizenId)).toBe(303);
      const code = await latestCode(citizen.phone, 'reset_password');
      expect(await new Resetter(strangerIp()).ask(citizen.citizenId)).toBe(303);
      const done = await own.finish(code);
      expect(done.status, alertOf(done.html)).toBe(200);
    });

    it("takes the code only in the flow it was sent for: the stranger's flow cannot use the citizen's code", async () => {
      const citizen = await citizenAtHome();
      const stranger = new Resetter(strangerIp());
      expect(await stranger.ask(citizen.citizenId)).toBe(303);
      const own = new Resetter(FAMILIAR);
      expect(await own.ask(citizen.citizenId)).toBe(303);
      // Even a stranger who somehow learns the citizen's code (read over a shoulder) cannot use it in another flow.
      const code = await latestCode(citizen.phone, 'reset_password');
      expect((await stranger.finish(code)).status).toBe(400);
      expect((await h.yihao.accounts.verifyPassword(citizen.citizenId, citizen.password, FAMILIAR)).ok).toBe(true);
      expect((await own.finish(code)).status).toBe(200);
    });

    it('ends a sign-in that proved the old password before the reset: its second step no longer completes it', async () => {
      const citizen = await citizenAtHome();
      const { secret } = await addTotp(h, (await h.yihao.accounts.findBySub(citizen.sub))!.id);
      // Someone who had the password (phished) gets to the second step of a loa:2 sign-in ...
      const thief = browserAt(strangerIp());
      const verifier = oidc.randomPKCECodeVerifier();
      const url = await authorizationUrl(rp, verifier, { scope: 'openid', state: oidc.randomState(), ui_locales: 'en', acr_values: 'urn:yihao:loa:2' });
      const login = page(await walk(thief, url, origin));
      const second = page(await post(thief, login, '/login', { identifier: citizen.citizenId, password: citizen.password }, origin));
      expect(second.html).toContain('<h1>Two-step verification</h1>');
      // ... the citizen resets the password (in a later second: a login within the sign-out's own second still counts) ...
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 10));
      const own = new Resetter(FAMILIAR);
      expect(await own.ask(citizen.citizenId)).toBe(303);
      expect((await own.finish(await latestCode(citizen.phone, 'reset_password'))).status).toBe(200);
      // ... and a code from the authenticator app (read off the phone for a moment) no longer finishes that sign-in.
      const after = await post(thief, second, '/second-factor', { code: await generate({ secret }) }, origin);
      expect(after.kind, after.kind === 'rp' ? 'the sign-in completed at loa:2 on the old password' : '').toBe('page');
      expect(page(after).status).toBe(400);
    });

    it('still answers an ID number with no account alike: the decoy of each flow counts its own tries', async () => {
      const stranger = new Resetter(strangerIp());
      expect(await stranger.ask(syntheticCitizenId())).toBe(303);
      for (let i = 0; i < h.config.sms.limits.maxAttempts; i++) expect(alertOf((await stranger.finish('123456')).html)).toBe('The code is not correct.');
      expect((await stranger.finish('123456')).status).toBe(429);
    });
  });

  describe('SMS sign-in', () => {
    const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);
    const submit = (browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(browser, from, contains, fields, origin);

    async function atSmsPage(ip: string) {
      const browser = browserAt(ip);
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = await authorizationUrl(rp, verifier, { scope: 'openid', state, ui_locales: 'en' });
      const login = page(await go(browser, url));
      const link = /<a href="([^"]+\/sms)">Sign in with an SMS code</.exec(login.html)?.[1];
      const sms = page(await go(browser, new URL(link!, login.url)));
      const redeem = async (step: Step) => {
        if (step.kind !== 'rp') throw new Error(`expected the relying party, got ${step.status}: ${alertOf(step.html) ?? step.html.slice(0, 300)}`);
        return (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier, expectedState: state })).claims()!;
      };
      return { browser, sms, redeem };
    }

    it("keeps a stranger's requests from using up the sign-in codes the citizen asks for from a familiar address", async () => {
      const citizen = await citizenAtHome();
      for (let i = 0; i < 3; i++) {
        const s = await atSmsPage(strangerIp());
        expect(page(await submit(s.browser, s.sms, '/sms', { phone: citizen.phone })).status).toBe(200);
      }
      const refused = await atSmsPage(strangerIp());
      expect(page(await submit(refused.browser, refused.sms, '/sms', { phone: citizen.phone })).status).toBe(429);

      const own = await atSmsPage(FAMILIAR);
      const codePage = page(await submit(own.browser, own.sms, '/sms', { phone: citizen.phone }));
      expect(codePage.status, alertOf(codePage.html)).toBe(200);
      expect(await sentTo(citizen.phone, 'login')).toBe(4);
      const claims = await own.redeem(await submit(own.browser, codePage, '/sms/verify', { code: await latestCode(citizen.phone, 'login') }));
      expect(claims.sub).toBe(citizen.sub);
    });

    it("does not let a stranger's wrong codes in their own sign-in spend the tries of the code the citizen received", async () => {
      const citizen = await citizenAtHome();
      const stranger = await atSmsPage(strangerIp());
      let strangerPage = page(await submit(stranger.browser, stranger.sms, '/sms', { phone: citizen.phone }));
      const own = await atSmsPage(FAMILIAR);
      const codePage = page(await submit(own.browser, own.sms, '/sms', { phone: citizen.phone }));
      const code = await latestCode(citizen.phone, 'login');
      // Within the lockout's allowance for the stranger's address (answered at once).
      for (let i = 0; i < h.config.sms.limits.maxAttempts; i++) {
        strangerPage = page(await submit(stranger.browser, strangerPage, '/sms/verify', { code: otherThan(code) }));
        expect(strangerPage.status).toBeGreaterThanOrEqual(400);
      }
      const claims = await own.redeem(await submit(own.browser, codePage, '/sms/verify', { code }));
      expect(claims.sub).toBe(citizen.sub);
    });
  });

  describe('registration', () => {
    /** Step 1 of a registration from `ip`; the browser, ready for step 2. */
    async function registering(ip: string, details: { citizen_id: string; name: string; phone: string }) {
      const browser = browserAt(ip);
      const start = await browser.request(new URL('/register?ui_locales=en', h.url));
      const csrf = formField(await start.text(), 'csrf')!;
      const sent = await browser.request(new URL('/register?ui_locales=en', h.url), { form: { csrf, ...details } });
      expect(sent.status).toBe(303);
      const finish = async (code: string) => {
        const res = await browser.request(new URL('/register/code?ui_locales=en', h.url), { form: { csrf, code, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD } });
        return { status: res.status, html: await res.text() };
      };
      return { finish };
    }

    it("does not let a stranger's wrong codes spend the tries of the registration code the citizen received", async () => {
      const phone = freshPhone();
      // The citizen registers; a stranger who knows the number starts a registration with it too and keeps guessing.
      const own = await registering(strangerIp(), { citizen_id: syntheticCitizenId(), name: '王小明', phone });
      const code = await latestCode(phone, 'register');
      const stranger = await registering(strangerIp(), { citizen_id: syntheticCitizenId(), name: '李四', phone });
      for (let i = 0; i < h.config.sms.limits.maxAttempts + 1; i++) expect((await stranger.finish(otherThan(code))).status).toBeGreaterThanOrEqual(400);
      const done = await own.finish(code);
      // The citizen's code is still good: it gets past the code to the registry (which knows nobody here).
      expect(done.status, alertOf(done.html)).toBe(422);
    });
  });
});
