/**
 * Enumeration by a stranger who knows an ID number or a mobile number: two identifiers compared (one
 * with an account, one without; one disabled), for any difference in status, text, headers, or the
 * statements and commands a request costs. Each test asserts none. The failure that sets off the
 * distributed lock cost one more statement where an account exists (its `account.locked` record,
 * awaited before the answer) until that record went after the answer (found by a review, with the
 * rest of this file). Confirming that a phone number and an ID number are one account's stays a
 * known gap (docs/security.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config/index.js';
import { countRoundTrips } from '../../src/storage/round-trips.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

let phoneCounter = 0;
const freshPhone = () => `137${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;
let ipCounter = 0;
const freshIp = () => `198.18.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;
const browserAt = (ip: string) => new ScriptedBrowser((url, init) => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-for': ip } }));
const alertOf = (html: string) => /role="alert"[^>]*>([^<]+)</.exec(html)?.[1]?.replace(/\d+/g, 'N');

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('enumeration by a stranger ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({
      backend: name,
      overrides: (c): Config => ({
        ...c,
        trustProxy: true,
        rateLimits: { ...c.rateLimits, forms: { points: 10_000, durationSeconds: 60 } },
        lockout: { maxFailures: 3, windowSeconds: 900, lockSeconds: 900 },
        distributedLockout: { maxFailures: 6, windowSeconds: 3600, familiarSeconds: 86_400 },
        sms: { ...c.sms, limits: { ...c.sms.limits, resendIntervalSeconds: 60, perIp: { max: 1000, windowSeconds: 3600 } } },
      }),
    });
    rp = await relyingParty(h, await h.client({ redirectUris: [REDIRECT] }));
  });
  afterAll(async () => h?.close());

  /** A login form (one interaction) from one address. */
  async function loginForm(ip: string) {
    const browser = browserAt(ip);
    let res = await browser.request(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: 'en' }));
    for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) res = await browser.request(new URL(res.headers.get('location')!, h.url));
    const html = await res.text();
    const csrf = formField(html, 'csrf')!;
    const action = new URL(formAction(html, '/login')!, h.url);
    return {
      browser,
      action,
      csrf,
      async post(identifier: string, password = 'not the password') {
        const r = await browser.request(action, { form: { csrf, identifier, password } });
        const text = await r.text();
        return { status: r.status, alert: alertOf(text), retryAfter: r.headers.get('retry-after') !== null, cookies: r.headers.getSetCookie().map((c) => c.split('=')[0]).sort() };
      },
    };
  }

  /** A password-reset flow from one address. */
  async function resetFlow(ip: string) {
    const browser = browserAt(ip);
    const url = new URL('/password-reset?ui_locales=en', h.url);
    const first = await (await browser.request(url)).text();
    const csrf = formField(first, 'csrf')!;
    return {
      async ask(identifier: string) {
        const r = await browser.request(url, { form: { csrf, identifier } });
        const text = await r.text();
        return { status: r.status, alert: alertOf(text), retryAfter: r.headers.get('retry-after') };
      },
    };
  }

  /**
   * Statements and commands one request costs before its answer, counted once the stores have been
   * quiet for a while: what an earlier request does after its own answer (on a loaded machine, later)
   * must not land in this one's count.
   */
  async function cost<T>(run: () => Promise<T>) {
    for (let quiet = 0, tries = 0; quiet < 2 && tries < 60; tries++) {
      const listen = countRoundTrips(h.yihao.stores);
      await new Promise((r) => setTimeout(r, 75));
      const heard = listen.read();
      listen.stop();
      quiet = heard.sql + heard.redis === 0 ? quiet + 1 : 0;
    }
    const counter = countRoundTrips(h.yihao.stores);
    const result = await run();
    const { sql, redis } = counter.read();
    counter.stop();
    return { result, sql, redis };
  }

  /**
   * The lowest of three measurements, each with an identifier `make` gives afresh: a statement that
   * one run costs and another does not (a cache entry that ran out, a command resent under load) is
   * noise, while a difference between kinds of identifier holds in every run.
   */
  async function lowest<T extends { sql: number; redis: number }>(make: () => Promise<string>, measure: (identifier: string) => Promise<T>): Promise<Omit<T, 'redis'>> {
    const runs: T[] = [];
    for (let i = 0; i < 3; i++) runs.push(await measure(await make()));
    // Redis commands are left out here: under a loaded machine a command that times out is sent again
    // (the stores' resend window, redis-adapter-resend.test.ts), in some runs and not others.
    const { redis: _resends, ...first } = runs[0]!;
    return { ...first, sql: Math.min(...runs.map((r) => r.sql)) };
  }

  it.skipIf(!enabled)('one wrong password costs the same statements for an active account, a disabled one, and none (by ID number and by phone)', async () => {
    const once = async (identifier: string) => {
      const form = await loginForm(freshIp());
      const { result, sql, redis } = await cost(() => form.post(identifier));
      return { ...result, sql, redis };
    };
    const active = async () => h.citizen({ phone: freshPhone() });
    const disabled = async () => {
      const c = await h.citizen({ phone: freshPhone() });
      await h.yihao.accounts.setStatus((await h.yihao.accounts.findBySub(c.sub))!.id, 'disabled');
      return c;
    };
    const phoneOf = async (c: { sub: string }) => (await h.yihao.accounts.findBySub(c.sub))!.phone!.replace('+86', '');
    // Warm up (first statements of a kind prepare things).
    await once(syntheticCitizenId());
    await once((await active()).citizenId);
    const known = await lowest(async () => (await active()).citizenId, once);
    expect(await lowest(async () => syntheticCitizenId(), once)).toEqual(known);
    expect(await lowest(async () => (await disabled()).citizenId, once)).toEqual(known);
    const byPhone = await lowest(async () => phoneOf(await active()), once);
    expect(await lowest(async () => freshPhone(), once)).toEqual(byPhone);
    expect(await lowest(async () => phoneOf(await disabled()), once)).toEqual(byPhone);
  });

  it.skipIf(!enabled)('the failure that sets off the distributed lock costs the same statements for an account and for an ID number with none', async () => {
    const probe = async (identifier: string) => {
      // distributedLockout.maxFailures - 1 failures, each from its own address…
      for (let i = 0; i < 5; i++) await (await loginForm(freshIp())).post(identifier);
      // …then the one that reaches the limit.
      const form = await loginForm(freshIp());
      const { result, sql, redis } = await cost(() => form.post(identifier));
      // And one after, from yet another address.
      const after = await (await loginForm(freshIp())).post(identifier);
      return { result, sql, redis, after };
    };
    const known = await lowest(async () => (await h.citizen()).citizenId, probe);
    const unknown = await lowest(async () => syntheticCitizenId(), probe);
    expect(unknown).toEqual(known);
  });

  it.skipIf(!enabled)('a reset start costs the same statements for an ID number with an account (and phone), a disabled one and none', async () => {
    const active = await h.citizen({ phone: freshPhone() });
    const disabled = await h.citizen({ phone: freshPhone() });
    await h.yihao.accounts.setStatus((await h.yihao.accounts.findBySub(disabled.sub))!.id, 'disabled');
    const noPhone = await h.citizen();
    // Measured twice, the lower count kept: a command resent under load (the stores' resend window) is noise, not a leak.
    const once = async (identifier: string) => {
      const flow = await resetFlow(freshIp());
      const { result, sql, redis } = await cost(() => flow.ask(identifier));
      return { ...result, sql, redis };
    };
    const probe = async (identifier: string) => {
      const [a, b] = [await once(identifier), await once(identifier)];
      return { ...a, sql: Math.min(a.sql, b.sql), redis: Math.min(a.redis, b.redis) };
    };
    await probe(syntheticCitizenId());
    await probe(active.citizenId);
    const known = await probe((await h.citizen({ phone: freshPhone() })).citizenId);
    expect(await probe(syntheticCitizenId())).toEqual(known);
    expect(await probe(disabled.citizenId)).toEqual(known);
    expect(await probe(noPhone.citizenId)).toEqual(known);
  });
});
