/**
 * A consent page left open before the citizen signed out in another tab, and a stranger pressing
 * Allow on it afterwards: no code is issued and no consent recorded (a review's attack, refused).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, go, page, ScriptedBrowser, submit } from '../support/scripted-browser.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

describe('a consent page left open across a sign-out', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  let seq = 860;
  async function citizen() {
    const citizenId = syntheticCitizenId({ seq: seq++ });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name: '张三', password });
    return { citizenId, password, sub: account.sub, id: account.id };
  }
  beforeAll(async () => {
    h = await startHarness({ backend: 'sqlite' });
    const client = await h.client({ name: 'RP', scope: 'openid profile', postLogoutRedirectUris: ['http://127.0.0.1:9/bye'] });
    rp = await relyingParty(h, client);
  });
  afterAll(async () => h?.close());

  it('a consent page left open before sign-out does not record consent for the signed-out citizen', async () => {
    const c = await citizen();
    const browser = new ScriptedBrowser();
    const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid profile', state: 's' });
    const login = page(await go(browser, url, h.issuer));
    const consent = page(await submit(browser, login, '/login', { identifier: c.citizenId, password: c.password }, h.issuer));
    expect(formAction(consent.html, '/confirm')).toBeTruthy();
    // The citizen signs out in another tab and walks away.
    const end = page(await go(browser, `${h.issuer}/session/end`, h.issuer));
    const xsrf = formField(end.html, 'xsrf')!;
    const action = new URL(/action="([^"]+)"/.exec(end.html)![1]!, h.issuer);
    await browser.follow(action, { form: { xsrf, logout: 'yes' } });
    // A stranger presses Back and "Allow".
    const after = await submit(browser, consent, '/confirm', {}, h.issuer);
    const codeIssued = after.kind === 'rp' && after.url.searchParams.get('code');
    expect(codeIssued).toBeFalsy();
    // The citizen, signing in again elsewhere, must still be asked for consent.
    const fresh = new ScriptedBrowser();
    const url2 = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid profile', state: 's2' });
    const login2 = page(await go(fresh, url2, h.issuer));
    const next = await submit(fresh, login2, '/login', { identifier: c.citizenId, password: c.password }, h.issuer);
    expect(next.kind === 'page' && Boolean(formAction(next.html, '/confirm'))).toBe(true);
  });
});
