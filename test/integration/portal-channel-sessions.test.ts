import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';

/**
 * The Sessions page lists the sessions of every channel, not only web browsers: a kiosk login (an
 * extension grant, no browser session) shows with its channel, method and app, and ending it there
 * revokes its tokens.
 */
describe('the portal lists and ends sessions of every channel', () => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    h = await startHarness({ host: 'localhost' });
    kiosk = await simulatedKiosk(h, { name: 'Kiosk at the tax hall' });
  });
  afterAll(async () => h?.close());

  async function sessionsPage(browser: ScriptedBrowser, who: Awaited<ReturnType<Harness['citizen']>>): Promise<string> {
    let { res, url } = await browser.follow(`${h.issuer}/account/sessions?ui_locales=en`);
    let page = await res.text();
    if (url.pathname.startsWith('/interaction/')) {
      ({ res, url } = await browser.follow(new URL(formAction(page, '/login')!, url), { form: { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } }));
      page = await res.text();
    }
    return page;
  }

  it('lists a kiosk login with its channel, method and app, and ending it revokes its tokens', async () => {
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const browser = new ScriptedBrowser();
    const page = await sessionsPage(browser, citizen);
    const card = page.split('<section').find((s) => s.includes('data-channel="kiosk"'));
    expect(card, 'a card for the kiosk session').toBeDefined();
    expect(card).toContain('data-amr="sc face"');
    expect(card).toContain('Kiosk at the tax hall');
    const uid = /data-session="([^"]+)"/.exec(card!)![1]!;

    const res = await browser.request(`${h.issuer}/account/sessions/end`, { form: { csrf: formField(page, 'csrf')!, session: uid } });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/account/sessions?notice=session_ended');
    await expect(oidc.fetchUserInfo(kiosk.rp, tokens.access_token, oidc.skipSubjectCheck)).rejects.toThrow();
    if (tokens.refresh_token) await expect(oidc.refreshTokenGrant(kiosk.rp, tokens.refresh_token)).rejects.toThrow();
    expect(await sessionsPage(browser, citizen)).not.toContain('data-channel="kiosk"');
  });

  it("refuses to end another citizen's kiosk session", async () => {
    const victim = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: victim.citizenId });
    const victimPage = await sessionsPage(new ScriptedBrowser(), victim);
    const uid = /data-session="([^"]+)"[^>]*>[\s\S]*?data-channel="kiosk"/.exec(victimPage)![1]!;
    const attacker = await h.citizen();
    const browser = new ScriptedBrowser();
    const page = await sessionsPage(browser, attacker);
    const res = await browser.request(`${h.issuer}/account/sessions/end`, { form: { csrf: formField(page, 'csrf')!, session: uid } });
    expect(res.status).toBe(404);
    expect((await oidc.fetchUserInfo(kiosk.rp, tokens.access_token, oidc.skipSubjectCheck)).sub).toBeDefined();
  });
});
