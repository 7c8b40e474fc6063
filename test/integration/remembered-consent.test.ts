/**
 * Consent is asked once per app (src/oidc/remembered-consent.ts): a citizen who allowed an app is
 * not asked again when they sign in to it from a new browser session, while a grant of theirs for
 * it lives. Anything new is asked; `prompt=consent` asks; and nothing carries over to another
 * citizen, another app, an expired grant, or an app the citizen revoked in the portal.
 */
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { signInAllowing as signIn } from '../support/consent-walk.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('consent asked once per app ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string; client_secret?: string };
  let otherApp: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await h.client({ name: '社保查询', scope: 'openid profile phone' });
    otherApp = await h.client({ name: '公积金查询', scope: 'openid profile phone' });
  });
  afterAll(() => h?.close());

  it.skipIf(!enabled)('does not ask again from a new browser, and the app gets what it got the first time', async () => {
    const citizen = await h.citizen({ name: '王五' });
    const first = await signIn(h, app, citizen);
    expect(first.consentPages).toHaveLength(1);
    expect(first.consentPages[0]).toContain('姓名、出生日期和性别');

    const again = await signIn(h, app, citizen);
    expect(again.consentPages).toEqual([]);
    expect(again.tokens.scope?.split(' ').sort()).toEqual(first.tokens.scope?.split(' ').sort());
    const rp = await relyingParty(h, app);
    const claims = await oidc.fetchUserInfo(rp, again.tokens.access_token, again.tokens.claims()!.sub);
    expect(claims.name).toBe('王五');
    expect(again.tokens.claims()!.sub).toBe(first.tokens.claims()!.sub);
  });

  it.skipIf(!enabled)('counts no login made without a consent page (kiosk, counter, device key) as consent', async () => {
    const citizen = await h.citizen();
    // What a channel login leaves (src/oidc/grant-tokens.ts): a grant for the app, and the channel
    // session stored under the grant's id; no consent page was ever shown for it.
    const grantId = randomBytes(16).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    await new h.yihao.services.Adapter('Grant').upsert(grantId, { kind: 'Grant', jti: grantId, iat: now, exp: now + 3600, accountId: citizen.sub, clientId: app.client_id, openid: { scope: 'openid profile' } }, 3600);
    await new h.yihao.services.Adapter('ChannelSession').upsert(grantId, { sessionUid: `kiosk_${grantId}`, sid: grantId, clientId: app.client_id, accountId: citizen.sub, channel: 'kiosk' }, 3600);
    const web = await signIn(h, app, citizen);
    expect(web.consentPages).toHaveLength(1);
    expect(web.consentPages[0]).toContain('姓名、出生日期和性别');
    // What the citizen allowed on that page is remembered as usual.
    expect((await signIn(h, app, citizen)).consentPages).toEqual([]);
  });

  it.skipIf(!enabled)('asks for what is new, listing only that, and then remembers it too', async () => {
    const citizen = await h.citizen();
    await signIn(h, app, citizen);
    const wider = await signIn(h, app, citizen, { scope: 'openid profile phone' });
    expect(wider.consentPages).toHaveLength(1);
    expect(wider.consentPages[0]).toContain('手机号码');
    expect(wider.consentPages[0]).not.toContain('姓名、出生日期和性别');
    expect(wider.tokens.scope?.split(' ')).toContain('phone');
    expect((await signIn(h, app, citizen, { scope: 'openid profile phone' })).consentPages).toEqual([]);
  });

  it.skipIf(!enabled)('asks again for the citizen ID each time: what the app sees of it follows a policy operators may change', async () => {
    const citizen = await h.citizen();
    const idApp = await h.client({ name: '不动产登记', scope: 'openid profile citizen_id', citizenIdRelease: 'masked' });
    const first = await signIn(h, idApp, citizen, { scope: 'openid profile citizen_id' });
    expect(first.consentPages).toHaveLength(1);
    expect(first.consentPages[0]).toContain('部分隐藏的身份证号');
    const again = await signIn(h, idApp, citizen, { scope: 'openid profile citizen_id' });
    expect(again.consentPages).toHaveLength(1);
    // Only the citizen ID is asked: the rest was allowed before.
    expect(again.consentPages[0]).toContain('部分隐藏的身份证号');
    expect(again.consentPages[0]).not.toContain('姓名、出生日期和性别');
    // Without it, nothing is asked.
    expect((await signIn(h, idApp, citizen)).consentPages).toEqual([]);
  });

  it.skipIf(!enabled)('asks when the app asks for it with prompt=consent', async () => {
    const citizen = await h.citizen();
    await signIn(h, app, citizen);
    const asked = await signIn(h, app, citizen, { prompt: 'consent' });
    expect(asked.consentPages).toHaveLength(1);
    // Asked afresh about everything, not about nothing.
    expect(asked.consentPages[0]).toContain('姓名、出生日期和性别');
  });

  it.skipIf(!enabled)("never carries over to another citizen or another app", async () => {
    const citizen = await h.citizen();
    const other = await h.citizen();
    await signIn(h, app, citizen);
    expect((await signIn(h, app, other)).consentPages).toHaveLength(1);
    expect((await signIn(h, otherApp, citizen)).consentPages).toHaveLength(1);
    // Signed in already (one browser, SSO): an app not yet allowed still asks.
    const thirdApp = await h.client({ name: '医保查询' });
    const browser = new ScriptedBrowser();
    await signIn(h, app, citizen, {}, browser);
    expect((await signIn(h, thirdApp, citizen, {}, browser)).consentPages).toHaveLength(1);
  });

  it.skipIf(!enabled)('asks again once the grants have expired', async () => {
    const citizen = await h.citizen();
    await signIn(h, app, citizen);
    // As if their lifetime had passed: every grant of this citizen's ends now.
    const ids = (await h.yihao.services.accountIndex.list(citizen.sub)).filter((e) => e.model === 'Grant').map((e) => e.id);
    expect(ids.length).toBeGreaterThan(0);
    await h.yihao.stores.db('oidc_models').where({ model: 'Grant' }).whereIn('id', ids).update({ expires_at: Date.now() - 1000 });
    expect((await signIn(h, app, citizen)).consentPages).toHaveLength(1);
  });

  it.skipIf(!enabled)('asks again after the citizen revoked the app in the portal', async () => {
    const citizen = await h.citizen();
    await signIn(h, app, citizen);
    const browser = new ScriptedBrowser();
    let { res, url } = await browser.follow(`${h.issuer}/account/apps`);
    let page = await res.text();
    ({ res, url } = await browser.follow(new URL(formAction(page, '/login')!, url), { form: { csrf: formField(page, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } }));
    page = await res.text();
    expect(page).toContain(`data-client="${app.client_id}"`);
    const revoke = await browser.request(`${h.issuer}/account/apps/revoke`, { form: { csrf: formField(page, 'csrf')!, client_id: app.client_id } });
    expect(revoke.headers.get('location')).toBe('/account/apps?notice=consent_revoked');

    expect((await signIn(h, app, citizen)).consentPages).toHaveLength(1);
  });
});
