/**
 * Found by a review (a stranger who knows an ID number): one machine with an ordinary IPv6
 * delegation (a home /56, which holds 256 /64s, or a tunnel broker's /48) counted as many clients,
 * so it set off the distributed lock alone and locked the citizen out of every address they had not
 * signed in from lately. Its /64s now share one budget at the account (the lockout's site rule).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { SITE_FACTOR } from '../../src/accounts/lockout.js';

describe('a stranger with one IPv6 /56 and the distributed lock', () => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    h = await startHarness({
      overrides: (c) => ({ ...c, trustProxy: true, lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 }, distributedLockout: { maxFailures: 100, windowSeconds: 3600, familiarSeconds: 86_400 } }),
    });
    rp = await relyingParty(h, await h.client({ redirectUris: [REDIRECT] }));
  });
  afterAll(async () => h?.close());

  /** The login form once; the returned poster sends it again and again (a burst from one client). */
  async function form() {
    const browser = new ScriptedBrowser();
    let res = await browser.request(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: 'en' }));
    for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) res = await browser.request(new URL(res.headers.get('location')!, h.url));
    const page = await res.text();
    const action = new URL(formAction(page, '/login')!, h.url);
    const csrf = formField(page, 'csrf')!;
    return async (identifier: string, password: string, ip: string) =>
      (await browser.request(action, { form: { csrf, identifier, password }, headers: { 'x-forwarded-for': ip } })).status;
  }
  const attempt = async (identifier: string, password: string, ip: string) => (await form())(identifier, password, ip);


  it('does not let one home /56 (256 /64s) lock the citizen out of a network they have not used', { timeout: 120_000 }, async () => {
    const citizenId = syntheticCitizenId({ region: '110105', birth: '19800101', seq: 901 });
    const password = 'the citizen password 1';
    await h.yihao.accounts.create({ citizenId, name: '张三', password });
    expect(await attempt(citizenId, password, '203.0.113.10')).toBe(303);

    // One stranger, one ISP delegation 2001:db8:abcd:ab00::/56: one wrong guess from each of 100 of its /64s.
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push(await attempt(citizenId, `wrong ${i}`, `2001:db8:abcd:ab${i.toString(16).padStart(2, '0')}::1`));
    // The site's budget (SITE_FACTOR times maxFailures) is answered; the rest waits (429). Its waits
    // double from 1 s, so a run that takes a minute sees five or six more answered.
    const answered = statuses.filter((s) => s === 401).length;
    expect(answered).toBeGreaterThanOrEqual(5 * SITE_FACTOR);
    expect(answered).toBeLessThanOrEqual(5 * SITE_FACTOR + 6);
    expect(statuses.filter((s) => s !== 401).every((s) => s === 429)).toBe(true);

    // The citizen, correct password, from a mobile network they have not used before.
    expect(await attempt(citizenId, password, '198.51.100.200')).toBe(303);
  });

  it('counts at the site only what a /64 let through: one address in the /48 spends no more of it than its own 5 guesses', { timeout: 120_000 }, async () => {
    const citizenId = syntheticCitizenId({ region: '110105', birth: '19800101', seq: 601 });
    const password = 'the citizen password 601';
    await h.yihao.accounts.create({ citizenId, name: '张三', password });
    expect(await attempt(citizenId, password, '203.0.113.61')).toBe(303);

    // One stranger, one address, on the citizen's carrier's /48: 25 quick wrong passwords.
    const post = await form();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push(await post(citizenId, `wrong ${i}`, '2001:db8:600:1::66'));
    // Only maxFailures of them were checked (the /64's own budget): 5 guesses.
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);

    // The citizen's phone, on that carrier, gets a /64 it has not signed in from: right password
    // (a first version counted the refused requests at the site too, and answered 429).
    expect(await attempt(citizenId, password, '2001:db8:600:2::1')).toBe(303);
  });

  it("gives the site back what the citizen's own sign-ins counted: 21 of them, then a new /64 of the same /48", { timeout: 120_000 }, async () => {
    const citizenId = syntheticCitizenId({ region: '110105', birth: '19800101', seq: 602 });
    const password = 'the citizen password 602';
    await h.yihao.accounts.create({ citizenId, name: '李四', password });
    // No stranger at all: the citizen signs in 21 times (an app, a few portals) from their /64.
    for (let i = 0; i < 21; i++) expect(await attempt(citizenId, password, '2001:db8:601:1::5')).toBe(303);
    // The ISP renumbers the household's prefix within its /48 (or the phone reconnects): right password.
    expect(await attempt(citizenId, password, '2001:db8:601:2::5')).toBe(303);
  });
});
