import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';

/**
 * The argon2 queue is bounded (issue 11): past `argon2.maxQueued` waiting hashes, a sign-in is
 * answered 503 with Retry-After at once instead of waiting without end, and counts as no guess.
 */
describe('load shedding: a full argon2 queue answers 503 + Retry-After, and counts no guess', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  const MAX_FAILURES = 12;

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c) => ({
        ...c,
        trustProxy: true,
        // One hash at a time, one waiting; each hash slow enough (~10x the default cost) that a burst finds the queue full.
        argon2: { ...c.argon2, iterations: 20, maxConcurrent: 1, maxQueued: 1 },
        lockout: { maxFailures: MAX_FAILURES, windowSeconds: 900, lockSeconds: 900 },
      }),
    });
    rp = await relyingParty(h, await h.client({ redirectUris: [REDIRECT] }));
  }, 60_000);
  afterAll(() => h?.close());

  async function loginForm(locale: string) {
    const browser = new ScriptedBrowser();
    const { res } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: locale }));
    const page = await res.text();
    const csrf = formField(page, 'csrf')!;
    const action = new URL(formAction(page, '/login')!, h.url);
    return async (identifier: string, password: string, ip: string) => {
      const answer = await browser.request(action, { form: { csrf, identifier, password }, headers: { 'x-forwarded-for': ip, accept: 'text/html' } });
      const body = await answer.text();
      return { status: answer.status, retryAfter: answer.headers.get('retry-after'), type: answer.headers.get('content-type'), alert: /role="alert"[^>]*>([^<]+)</.exec(body)?.[1], body };
    };
  }

  it('sheds a burst of sign-ins past the bound with a page in the form\'s language, and the shed ones are not counted as guesses', async () => {
    const citizen = await h.citizen();
    const post = await loginForm('en');
    const ip = '203.0.113.77';
    const burst = await Promise.all(Array.from({ length: MAX_FAILURES }, (_, i) => post(citizen.citizenId, `wrong ${i}`, ip)));
    const shed = burst.filter((a) => a.status === 503);
    const failed = burst.filter((a) => a.status === 401);
    expect(shed.length).toBeGreaterThan(0);
    expect(shed.length + failed.length).toBe(MAX_FAILURES);
    for (const a of shed) {
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(a.type).toMatch(/^text\/html/);
      expect(a.alert).toMatch(/^The service is busy\. Try again in \d+ seconds?\.$/);
    }
    expect(h.yihao.accounts.hashingLoad().queued).toBe(0);

    // Only the checked guesses counted: the rest of this address's allowance is still answered at once.
    for (let i = failed.length; i < MAX_FAILURES; i++) expect((await post(citizen.citizenId, `again ${i}`, ip)).status).toBe(401);
    // Then slowed as usual (the first wait is 1 s, which one slow hash on a loaded machine can outlast; the next ones double).
    const after = [];
    for (let i = 0; i < 3 && after.at(-1) !== 429; i++) after.push((await post(citizen.citizenId, `too many ${i}`, ip)).status);
    expect(after.at(-1)).toBe(429);
    // And the citizen, elsewhere, signs in.
    expect((await (await loginForm('en'))(citizen.citizenId, citizen.password, '198.51.100.5')).status).toBe(303);
  }, 120_000);

  it('answers in Chinese on a Chinese form', async () => {
    const citizen = await h.citizen();
    const post = await loginForm('zh-CN');
    const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => post(citizen.citizenId, `wrong ${i}`, `203.0.113.${100 + i}`)));
    const shed = burst.find((a) => a.status === 503);
    expect(shed?.alert).toMatch(/^服务繁忙，请 \d+ 秒后重试。$/);
  }, 120_000);

  it('sheds a password change without spending anything, and tells its queue depth through a getter', async () => {
    const citizen = await h.citizen();
    const { accounts } = h.yihao;
    const id = (await accounts.findBySub(citizen.sub))!.id;
    const held = Promise.allSettled(Array.from({ length: 2 }, () => accounts.replacePassword(id, 'a new password 1')));
    expect(accounts.hashingLoad()).toMatchObject({ running: 1, queued: 1, maxConcurrent: 1, maxQueued: 1 });
    const refused = (await accounts.replacePassword(id, 'a new password 2').catch((e: unknown) => e)) as { code?: string; status?: number; retryAfterSeconds?: number };
    expect(refused).toMatchObject({ code: 'overloaded', status: 503 });
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await held;
    expect(accounts.hashingLoad()).toMatchObject({ running: 0, queued: 0 });
  }, 120_000);
});
