/**
 * Every POST form route of the app, found by walking the routers' stacks (so a new route is walked
 * too), refuses a missing or forged CSRF token: 400 or 403, never a 500 and never the action. Each
 * is posted from a browser that holds the session or flow the form belongs to (an interaction, a
 * portal or console session, a registration or password-reset flow), so the token is all that is
 * wrong. Routes that are not forms (bearer-token APIs, server-to-server logout) are listed apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { consoleBrowser } from '../support/admin-operators.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';

/**
 * Not forms: they authenticate with an access token, a device signature or a signed logout token (the credential issuer: OID4VCI JSON APIs).
 * The verifier (/presentations/): JSON APIs, the wallet's direct_post, and a page opened with the request's result token,
 * which is its whole authority (no cookie is read or set), so a cross-site post carries none.
 */
const NOT_FORMS = [/^\/mobile\//, /^\/credentials\//, /^\/presentations\//, /^\/kiosk\/session\//, /^\/counter\//, /^\/admin\/api\//, /^\/federation\/[^/]+\/backchannel-logout$/];

describe('every POST form route wants its CSRF token', () => {
  let h: Harness;
  const browsers: Record<'interaction' | 'portal' | 'console' | 'registration' | 'reset' | 'none', ScriptedBrowser> = {} as never;
  let uid: string;

  beforeAll(async () => {
    h = await startHarness();
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const rp = await relyingParty(h, await h.client({ name: '社保查询' }));
    // An interaction in progress (the login page shown).
    browsers.interaction = new ScriptedBrowser();
    const { url } = await browsers.interaction.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier()));
    uid = /^\/interaction\/([^/]+)/.exec(url.pathname)![1]!;
    // A portal session.
    const citizen = await h.citizen();
    browsers.portal = new ScriptedBrowser();
    const portal = await browsers.portal.follow(`${h.url}/account`);
    const login = await portal.res.text();
    const signedIn = await browsers.portal.follow(new URL(formAction(login, '/login')!, portal.url), { form: { csrf: formField(login, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    expect(signedIn.url.pathname).toBe('/account');
    // A console session of a national super-admin (every console form is open to them).
    const admin = await h.citizen({ name: '总管理员' });
    await boot.grantRole({ identifier: admin.sub, role: 'super-admin', departmentId: nation.id });
    const { browser, landed } = await consoleBrowser(h, admin);
    expect(landed.url.pathname).toBe('/admin');
    browsers.console = browser;
    // Registration and password-reset flows (their cookies are set by the first page).
    browsers.registration = new ScriptedBrowser();
    expect((await browsers.registration.follow(`${h.url}/register`)).res.status).toBe(200);
    browsers.reset = new ScriptedBrowser();
    expect((await browsers.reset.follow(`${h.url}/password-reset`)).res.status).toBe(200);
    browsers.none = new ScriptedBrowser();
  }, 120_000);
  afterAll(async () => h?.close());

  const formRoutes = () =>
    [...new Set(h.yihao.routers.flatMap((r) => r.stack.filter((l) => l.methods.includes('POST')).map((l) => String(l.path))))].filter((p) => !NOT_FORMS.some((re) => re.test(p)));

  const browserFor = (path: string): ScriptedBrowser =>
    path.startsWith('/interaction/') ? browsers.interaction
    : path.startsWith('/account') ? browsers.portal
    : path.startsWith('/admin') ? browsers.console
    : path.startsWith('/register') ? browsers.registration
    : path.startsWith('/password-reset') ? browsers.reset
    : browsers.none;

  it('walks a non-empty list that covers each module', () => {
    const routes = formRoutes();
    for (const prefix of ['/interaction/', '/account/', '/admin/', '/register', '/password-reset']) expect(routes.some((p) => p.startsWith(prefix)), prefix).toBe(true);
  });

  it('refuses a missing and a forged token on every form route with 400 or 403', async () => {
    const answers: Record<string, number[]> = {};
    for (const path of formRoutes()) {
      const url = `${h.url}${path.replace(':uid', uid).replace(/:[a-z_]+/g, 'x1')}`;
      const browser = browserFor(path);
      const statuses: number[] = [];
      const forms: Record<string, string>[] = [{ reason: 'x', code: '123456' }, { csrf: 'forged-token-forged-token-forged-token-xxxx', reason: 'x', code: '123456' }];
      for (const form of forms) {
        statuses.push((await browser.request(url, { form })).status);
      }
      answers[path] = statuses;
    }
    const wrong = Object.entries(answers).filter(([, s]) => s.some((status) => status !== 400 && status !== 403));
    expect(Object.fromEntries(wrong)).toEqual({});
  }, 120_000);
});
