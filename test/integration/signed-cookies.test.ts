/**
 * The sign-in cookies are signed (`name.sig`) by Yihao's own signer (src/http/cookie-signer.ts)
 * rather than keygrip: a cookie whose value or signature was changed is not honoured, and a cookie
 * signed before a key rotation (YIHAO_COOKIE_KEYS, new key first) still carries the sign-in on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { go, page, ScriptedBrowser, submit } from '../support/scripted-browser.js';

const uidOf = (url: URL) => /^\/interaction\/([^/]+)$/.exec(url.pathname)?.[1];

/** The login page again, with the browser's cookies after `edit`. */
async function reloadWith(browser: ScriptedBrowser, url: URL, edit: (header: string) => string): Promise<number> {
  const res = await fetch(url, { headers: { cookie: edit(browser.cookieHeader(url)) }, redirect: 'manual' });
  await res.arrayBuffer();
  return res.status;
}

describe('signed sign-in cookies', () => {
  let h: Harness | undefined;
  afterAll(() => h?.close());

  it('refuses a changed cookie or signature, and honours one signed before a key rotation', async () => {
    const first = await startHarness({ backend: 'sqlite' });
    h = first;
    const rp = await relyingParty(first, await first.client({ name: '社保查询' }));
    const citizen = await first.citizen();
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, 'c'.repeat(43)), first.issuer));
    const uid = uidOf(login.url)!;
    expect(uid).toBeTruthy();
    expect(browser.cookieHeader(login.url)).toMatch(/_interaction\.sig=/);

    // The page opens with the cookies as they were set...
    expect(await reloadWith(browser, login.url, (c) => c)).toBe(200);
    // ...and not with a value changed under its signature, a changed signature, or none.
    expect(await reloadWith(browser, login.url, (c) => c.replace(/(^|; )_interaction=([^;]+)/, (_m, p: string, v: string) => `${p}_interaction=${v.slice(0, -1)}${v.endsWith('A') ? 'B' : 'A'}`))).toBe(400);
    expect(await reloadWith(browser, login.url, (c) => c.replace(/_interaction\.sig=([^;]+)/, (_m, s: string) => `_interaction.sig=${s.slice(0, -1)}${s.endsWith('A') ? 'B' : 'A'}`))).toBe(400);
    expect(await reloadWith(browser, login.url, (c) => c.replace(/_interaction\.sig=[^;]+(; )?/, ''))).toBe(400);

    // A new key goes first; the old one stays to check what browsers already hold.
    await first.stop();
    const rotated = await startHarness({
      reuse: first,
      overrides: (config) => ({ ...config, secrets: { ...config.secrets, cookieKeys: [randomBytes(32).toString('base64url'), ...config.secrets.cookieKeys] } }),
    });
    h = rotated;
    const consent = page(await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }, rotated.issuer));
    expect(consent.status, consent.html.slice(0, 3000)).toBe(200);
    expect(consent.html).toContain('/confirm');
    const done = await submit(browser, consent, '/confirm', {}, rotated.issuer);
    expect(done.kind).toBe('rp');
    expect(done.url.searchParams.get('code')).toBeTruthy();
  });
});
