/**
 * The language switch on the sign-in pages: a plain link that changes zh-CN/en in the middle of a
 * sign-in without losing it. The interaction (its uid, its form) stays the same, the choice holds
 * on the next page (consent, a new interaction), and the sign-in still ends at the relying party.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { go, page, ScriptedBrowser, submit, type PageStep } from '../support/scripted-browser.js';

const langOf = (html: string) => /<html lang="([^"]+)"/.exec(html)?.[1];
/** The href of the header's language switch. */
const switchOf = (html: string) => /<a href="([^"]*ui_locales=[^"]*)" lang="[^"]+" hreflang/.exec(html)?.[1]?.replace(/&amp;/g, '&');
const uidOf = (step: PageStep) => /^\/interaction\/([^/]+)$/.exec(step.url.pathname)?.[1];

describe('language switch on the sign-in pages', () => {
  let h: Harness;
  let rp: Awaited<ReturnType<typeof relyingParty>>;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    h = await startHarness({ backend: 'sqlite' });
    const client = await h.client({ name: '城市公积金' });
    rp = await relyingParty(h, client);
    citizen = await h.citizen();
  });
  afterAll(() => h?.close());

  it('switches the login page to English and back within the same interaction, and the choice carries to consent', async () => {
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, 'v'.repeat(43)), h.issuer));
    expect(langOf(login.html)).toBe('zh-CN');
    const uid = uidOf(login)!;
    const toEnglish = switchOf(login.html)!;
    expect(toEnglish).toBe(`/interaction/${uid}?ui_locales=en`);

    const english = page(await go(browser, new URL(toEnglish, h.issuer), h.issuer));
    expect(english.status).toBe(200);
    expect(langOf(english.html)).toBe('en');
    expect(english.html).toContain('ID number or mobile number');
    expect(english.html).toContain(`action="/interaction/${uid}/login"`);
    expect(switchOf(english.html)).toBe(`/interaction/${uid}?ui_locales=zh-CN`);

    // The form it shows still works: the sign-in goes on, and the next page is in English too.
    const consent = page(await submit(browser, english, '/login', { identifier: citizen.citizenId, password: citizen.password }, h.issuer));
    expect(consent.status).toBe(200);
    expect(langOf(consent.html)).toBe('en');
    expect(consent.html).toContain('>Allow<');

    const back = page(await go(browser, new URL(switchOf(consent.html)!, h.issuer), h.issuer));
    expect(langOf(back.html)).toBe('zh-CN');
    expect(back.html).toContain('>同意<');
    const done = await submit(browser, back, '/confirm', {}, h.issuer);
    expect(done.kind).toBe('rp');
    expect(done.url.searchParams.get('code')).toBeTruthy();
  });

  it("lets the citizen override the relying party's ui_locales", async () => {
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, 'w'.repeat(43), { ui_locales: 'en' }), h.issuer));
    expect(langOf(login.html)).toBe('en');
    const chinese = page(await go(browser, new URL(switchOf(login.html)!, h.issuer), h.issuer));
    expect(langOf(chinese.html)).toBe('zh-CN');
    // Without the query, the choice is remembered for the interaction pages.
    const again = page(await go(browser, new URL(`/interaction/${uidOf(login)}`, h.issuer), h.issuer));
    expect(langOf(again.html)).toBe('zh-CN');
    const wrong = page(await submit(browser, again, '/login', { identifier: citizen.citizenId, password: 'not-the-password' }, h.issuer));
    expect(wrong.status).toBe(401);
    expect(wrong.html).toContain('身份证号/手机号或密码不正确');
  });

  it('offers the switch on the SMS sign-in page too, which stays on that page', async () => {
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, 'y'.repeat(43)), h.issuer));
    const uid = uidOf(login)!;
    const sms = page(await go(browser, new URL(`/interaction/${uid}/sms`, h.issuer), h.issuer));
    expect(switchOf(sms.html)).toBe(`/interaction/${uid}/sms?ui_locales=en`);
    const english = page(await go(browser, new URL(switchOf(sms.html)!, h.issuer), h.issuer));
    expect(langOf(english.html)).toBe('en');
    expect(english.html).toContain(`action="/interaction/${uid}/sms"`);
    expect(english.html).toContain('Mobile number');
  });

  it('keeps unknown language tags to the two it has, whatever the query says', async () => {
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, 'x'.repeat(43)), h.issuer));
    const odd = page(await go(browser, new URL(`/interaction/${uidOf(login)}?ui_locales=%22%3E%3Cscript%3E`, h.issuer), h.issuer));
    expect(langOf(odd.html)).toBe('zh-CN');
    expect(odd.html).not.toContain('<script>"');
  });
});
