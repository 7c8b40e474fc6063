/**
 * HTML and script injection across the pages Yihao renders (login, consent, QR and its question,
 * device flow, registration, password reset, portal, console, verifier, error pages and
 * oidc-provider's own), through every field an attacker controls that a page shows. Each test states
 * the secure behaviour: a payload comes back inert (escaped) or is refused at input. All held when a
 * review wrote them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, go, page, ScriptedBrowser } from '../support/scripted-browser.js';
import { phoneWithDeviceKey, registerMobileApp, startQrSignIn } from '../support/mobile-app.js';
import { consoleBrowser, nationalTree, walkSignIn } from '../support/admin-operators.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';

const P = `"><script>alert(1)</script><img src=x onerror=alert(1)>'`;
const P2 = `</title></style><svg onload=alert(2)>`;

/** No live markup from the payloads. */
function expectInert(html: string, where: string) {
  expect(html, where).not.toContain('<script>alert');
  expect(html, where).not.toContain('<img src=x');
  expect(html, where).not.toContain('<svg onload');
  expect(html, where).not.toMatch(/(href|src|action)="\s*javascript:/i);
  // Every script tag carries the page nonce, or is oidc-provider's static form_post auto-submit (its hash is in the CSP).
  for (const m of html.matchAll(/<script\b[^>]*>/gi)) {
    const after = html.slice(m.index! + m[0].length, m.index! + m[0].length + 120);
    const autoSubmit = m[0] === '<script>' && /^\s*document\.addEventListener\('DOMContentLoaded', function \(\) \{ document\.forms\[0\]\.submit\(\) \}\);\s*<\/script>/.test(after);
    expect(autoSubmit || /nonce="/.test(m[0]), `${where}: ${html.slice(Math.max(0, m.index! - 200), m.index! + 200)}`).toBe(true);
  }
  // No attribute broken out of: each hidden input's value ends at its own quote.
  expect(html, where).not.toMatch(/value="[^"]*"\s*onerror=/i);
}

async function tryOr<T>(f: () => Promise<T>): Promise<T | Error> {
  try {
    return await f();
  } catch (e) {
    return e as Error;
  }
}

describe('HTML injection across pages', () => {
  let h: Harness;
  let rp: oidc.Configuration | undefined;
  let evilClientRefused = false;

  beforeAll(async () => {
    h = await startHarness({ backend: 'sqlite' });
    const c = await tryOr(() => h.client({ name: `Evil${P}${P2}`, firstParty: true }));
    // Refused at input is as good as escaped: the pages that would show it are then not reached.
    if (c instanceof Error) evilClientRefused = true;
    else rp = await relyingParty(h, c);
  }, 60_000);
  afterAll(async () => h?.close());

  it('client_name with markup: login page escapes it (or registration refuses it)', async () => {
    if (evilClientRefused) return;
    const b = new ScriptedBrowser();
    const step = page(await go(b, await authorizationUrl(rp!, 'v'.repeat(43), { ui_locales: 'en' }), h.issuer));
    expectInert(step.html, 'login page');
    expect(step.html).toContain('&lt;script&gt;');
  });

  it('client_name and citizen name with markup: QR page and QR confirmation question stay inert', async () => {
    if (evilClientRefused) return;
    const app = await registerMobileApp(h);
    const evilCitizen = await tryOr(() => h.citizen({ name: `<svg onload=alert(2)>` }));
    const { phone } = await phoneWithDeviceKey(h, app, evilCitizen instanceof Error ? undefined : evilCitizen);
    const qr = await startQrSignIn(h, rp!, new ScriptedBrowser(), { ui_locales: 'en' });
    expectInert(qr.qr.html, 'QR page');
    const scanned = await phone.scan(qr.code);
    expect(scanned.status).toBe(200);
    expect((await phone.decide(scanned.json.id as string, 'approve')).status).toBe(200);
    const res = await qr.browser.request(new URL(formAction(qr.qr.html, '/qr/complete')!, qr.qr.url), { form: { csrf: formField(qr.qr.html, 'csrf')! } });
    const html = await res.text();
    expect(html).toContain('qr-account');
    expectInert(html, 'QR confirm page');
    expect(html).toContain('&lt;');
    const res2 = await qr.browser.request(new URL(formAction(html, '/qr/confirm')!, qr.qr.url), { form: { csrf: formField(html, 'csrf')!, approval: formField(html, 'approval')! } });
    if (res2.status < 300 || res2.status >= 400) expectInert(await res2.text(), 'after QR confirm');
  });

  it('consent page escapes client_name', async () => {
    const c = await tryOr(() => h.client({ name: `Consent${P}`, scope: 'openid profile' }));
    if (c instanceof Error) return;
    const crp = await relyingParty(h, c);
    const citizen = await h.citizen({ name: '张三' });
    const b = new ScriptedBrowser();
    const walked = await walkSignIn(b, await authorizationUrl(crp, 'v'.repeat(43), { ui_locales: 'en' }), citizen, (u) => u.origin !== new URL(h.issuer).origin);
    if (walked.html) expectInert(walked.html, 'consent/after');
    // walkSignIn posts consent; check the consent page by hand with a fresh browser too.
    const b2 = new ScriptedBrowser();
    const first = page(await go(b2, await authorizationUrl(crp, 'w'.repeat(43), { ui_locales: 'en', prompt: 'consent' }), h.issuer));
    const res = await b2.request(new URL(formAction(first.html, '/login')!, first.url), { form: { csrf: formField(first.html, 'csrf')!, identifier: citizen.citizenId, password: citizen.password } });
    const next = await go(b2, new URL(res.headers.get('location') ?? first.url.href, first.url), h.issuer);
    if (next.kind === 'page') expectInert(next.html, 'consent page');
  });

  it('error page: reflected client_id / redirect_uri / state / error_description stay inert', async () => {
    for (const q of [
      `client_id=${encodeURIComponent(P)}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('javascript:alert(1)')}`,
      `client_id=${encodeURIComponent(P2)}&state=${encodeURIComponent(P)}`,
      `response_type=${encodeURIComponent(P)}&client_id=x`,
      `ui_locales=${encodeURIComponent(P)}&client_id=${encodeURIComponent(P)}`,
    ]) {
      const res = await fetch(`${h.issuer}/auth?${q}`, { redirect: 'manual' });
      const loc = res.headers.get('location') ?? '';
      expect(loc.toLowerCase().startsWith('javascript:')).toBe(false);
      expectInert(await res.text(), `error page ${q}`);
    }
  });

  it('ui_locales / state on the login page stay inert', async () => {
    if (evilClientRefused) return;
    const b = new ScriptedBrowser();
    const step = await go(b, await authorizationUrl(rp!, 'v'.repeat(43), { ui_locales: P, state: P, login_hint: P }), h.issuer);
    if (step.kind === 'page') expectInert(step.html, 'login page with ui_locales payload');
  });

  it('registration and password reset: return_to payloads are refused or inert', async () => {
    for (const rt of [`javascript:alert(1)`, `/auth?x="><script>alert(1)</script>`, `/auth?x='onmouseover=alert(1)`, `/auth?next=javascript:alert(1)`, ` javascript:alert(1)`, `/interaction/x"onclick=alert(1)`]) {
      for (const path of ['/register', '/password-reset']) {
        const res = await fetch(`${h.issuer}${path}?return_to=${encodeURIComponent(rt)}&ui_locales=en`, { redirect: 'manual' });
        const html = await res.text();
        expectInert(html, `${path} return_to=${rt}`);
        expect(html, `${path} ${rt}`).not.toMatch(/href="[^"]*onmouseover=/);
      }
    }
  });

  it('device-flow pages: user_code and error reflections stay inert', async () => {
    for (const q of [`user_code=${encodeURIComponent(P)}`, `ui_locales=${encodeURIComponent(P)}`]) {
      const res = await fetch(`${h.issuer}/device?${q}`, { redirect: 'manual' });
      expectInert(await res.text(), `device ${q}`);
    }
    const b = new ScriptedBrowser();
    const first = await b.request(`${h.issuer}/device?ui_locales=en`);
    const html = await first.text();
    const xsrf = formField(html, 'xsrf');
    const action = formAction(html, '/device');
    if (xsrf && action) {
      const res = await b.request(new URL(action, h.issuer), { form: { xsrf, user_code: P } });
      expectInert(await res.text(), 'device code posted');
    }
  });

  it('logout page and signed-out page stay inert with payload parameters', async () => {
    for (const q of [`state=${encodeURIComponent(P)}&ui_locales=en`, `post_logout_redirect_uri=${encodeURIComponent('javascript:alert(1)')}&client_id=${encodeURIComponent(P)}`, `ui_locales=${encodeURIComponent(P)}`]) {
      const res = await fetch(`${h.issuer}/session/end?${q}`, { redirect: 'manual' });
      expectInert(await res.text(), `logout ${q}`);
      const loc = res.headers.get('location') ?? '';
      expect(loc.toLowerCase().startsWith('javascript:')).toBe(false);
    }
    const done = await fetch(`${h.issuer}/session/end/success?ui_locales=${encodeURIComponent(P)}`, { redirect: 'manual' });
    expectInert(await done.text(), 'signed out');
  });

  it('verifier page: reflected request_id / result_token / ui_locales stay inert', async () => {
    for (const path of ['/verify', '/presentations', '/vp']) {
      const res = await fetch(`${h.issuer}${path}?ui_locales=${encodeURIComponent(P)}&request_id=${encodeURIComponent(P)}`, { redirect: 'manual' });
      expectInert(await res.text(), `verifier GET ${path}`);
    }
  });

  it('citizen portal: a name with markup stays inert on every portal page', async () => {
    const citizen = await tryOr(() => h.citizen({ name: `<svg onload=alert(2)>` }));
    if (citizen instanceof Error) {
      expect(citizen.message).not.toMatch(/longer than/);
      return;
    }
    const b = new ScriptedBrowser();
    const walked = await walkSignIn(b, new URL(`${h.issuer}/account?ui_locales=en`), citizen, () => false);
    const pages: string[] = [];
    for (const s of ['', '/credentials', '/sessions', '/apps', '/history', '/devices', '/certificates', '/wallet', `?notice=${encodeURIComponent(P)}`, `?ui_locales=${encodeURIComponent(P)}`]) {
      const step = await go(b, `${h.issuer}/account${s}`, h.issuer);
      if (step.kind === 'page') {
        pages.push(s);
        if (step.html.includes('&lt;svg')) pages.push('shows-name');
        expectInert(step.html, `portal ${s}`);
      }
    }
    expect(walked.url.href).toContain('/account');
    expect(pages).toContain('shows-name');
  });

  it('admin console: department name, client name and audit details stay inert', async () => {
    const tree = await nationalTree(h);
    const boot = h.yihao.admin.services.bootstrap;
    const dept = await tryOr(() => boot.createDepartment({ name: `Dept${P}${P2}`, level: 'province', parentId: tree.dept.nation.id }));
    const viaApi = await tree.superAdmin.api('POST', '/departments', { name: `ApiDept<svg onload=alert(2)>`, level: 'province', parent_id: tree.dept.nation.id });
    const made = await tree.deptAdmin.api('POST', '/clients', { department_id: tree.dept.nation.id, settings: { client_name: `ApiApp<svg onload=alert(2)>`, redirect_uris: ['http://127.0.0.1:9/cb?x="><svg onload=alert(2)>'] } });
    expect([201, 400, 422]).toContain(made.status);
    let changeId: string | undefined;
    if (made.status === 201) {
      changeId = made.body.change.id as string;
      const sent = await tree.deptAdmin.api('POST', `/client-changes/${changeId}/submit`);
      await tree.reviewer.api('POST', `/client-changes/${changeId}/reject`, { revision: sent.body?.revision, reason: `<svg onload=alert(2)>${P}` });
    }
    const evilClient = await tryOr(() => h.client({ name: `ConsoleApp${P}${P2}`, ...(dept instanceof Error ? {} : { departmentId: (dept as { id: string }).id }) } as never));
    const { browser } = await consoleBrowser(h, tree.superAdmin);
    let sawPayload = false;
    for (const s of ['/admin', '/admin/departments', '/admin/clients', '/admin/operators', '/admin/audit', '/admin/changes', '/admin/keys', `/admin/clients?q=${encodeURIComponent(P)}`, `/admin/audit?action=${encodeURIComponent(P)}`, `/admin?ui_locales=${encodeURIComponent(P)}`]) {
      const step = await go(browser, `${h.issuer}${s}`, h.issuer);
      if (step.kind === 'page') {
        expectInert(step.html, `console ${s}`);
        if (step.html.includes('&lt;script&gt;')) sawPayload = true;
      }
    }
    if (!(evilClient instanceof Error)) {
      const id = (evilClient as { client_id: string }).client_id;
      const step = await go(browser, `${h.issuer}/admin/clients/${encodeURIComponent(id)}`, h.issuer);
      if (step.kind === 'page') expectInert(step.html, 'console client detail');
    }
    void viaApi;
    if (changeId) {
      const step = await go(browser, `${h.issuer}/admin/changes/${changeId}`, h.issuer);
      if (step.kind === 'page') expectInert(step.html, 'console change detail');
      const cl = await go(browser, `${h.issuer}/admin/clients/${made.body.client.client_id}`, h.issuer);
      if (cl.kind === 'page') expectInert(cl.html, 'console client detail (api)');
    }
    if (!(dept instanceof Error)) expect(sawPayload).toBe(true);
  });

  it('form_post response mode: a reflected state stays inert (oidc-provider form_post page)', async () => {
    if (evilClientRefused) return;
    const b = new ScriptedBrowser();
    const asks: Record<string, string>[] = [{ response_mode: 'form_post', state: P, prompt: 'none' }, { response_mode: 'form_post', state: P, scope: 'openid bogus', prompt: 'none' }];
    for (const extra of asks) {
      const res = await b.request(await authorizationUrl(rp!, 'v'.repeat(43), extra));
      const html = await res.text();
      expectInert(html, `form_post ${JSON.stringify(extra)}`);
    }
  });

  it('a javascript: or data: redirect_uri / post_logout_redirect_uri / policy_uri / logo_uri is refused at registration', async () => {
    for (const bad of [{ redirectUris: ['javascript:alert(1)//'] }, { redirectUris: ['data:text/html,<script>alert(1)</script>'] }, { postLogoutRedirectUris: ['javascript:alert(1)//'] }, { logoUri: 'javascript:alert(1)' }, { policyUri: 'javascript:alert(1)' }, { tosUri: 'javascript:alert(1)' }]) {
      const r = await tryOr(() => h.client({ name: 'JsUri', ...bad } as never));
      const meta = r instanceof Error ? undefined : JSON.stringify(r);
      expect(r instanceof Error || !/javascript:|data:text/.test(meta ?? ''), `${JSON.stringify(bad)} -> ${meta}`).toBe(true);
    }
  });

  it('login failure with a markup identifier: the login page and the console audit log stay inert', async () => {
    if (evilClientRefused) return;
    const b = new ScriptedBrowser();
    const first = page(await go(b, await authorizationUrl(rp!, 'v'.repeat(43), { ui_locales: 'en' }), h.issuer));
    const res = await b.request(new URL(formAction(first.html, '/login')!, first.url), { form: { csrf: formField(first.html, 'csrf')!, identifier: P, password: P } });
    const after = res.status >= 300 && res.status < 400 ? await go(b, new URL(res.headers.get('location')!, first.url), h.issuer) : { kind: 'page' as const, html: await res.text() };
    if (after.kind === 'page') expectInert(after.html, 'login failure');
    const tree = await nationalTree(h);
    const { browser } = await consoleBrowser(h, tree.superAdmin);
    const audit = await go(browser, `${h.issuer}/admin/audit?action=${encodeURIComponent(P)}&actor=${encodeURIComponent(P)}`, h.issuer);
    if (audit.kind === 'page') expectInert(audit.html, 'console audit filter');
    const all = await go(browser, `${h.issuer}/admin/audit`, h.issuer);
    if (all.kind === 'page') expectInert(all.html, 'console audit');
  });

  it('device-flow confirmation page: a kiosk client_name with markup stays inert', async () => {
    const kiosk = await tryOr(() => simulatedKiosk(h, { name: `Kiosk<svg onload=alert(2)>${P}`, grantTypes: ['urn:ietf:params:oauth:grant-type:device_code' as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true }));
    if (kiosk instanceof Error) return; // refused at input: nothing to show
    const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile' });
    const phone = new ScriptedBrowser();
    const first = await phone.request(`${started.verification_uri_complete!}&ui_locales=en`);
    const autoPost = await first.text();
    expectInert(autoPost, 'device auto-post');
    const res = await phone.request(new URL(formAction(autoPost, '/device')!, h.issuer), { form: { xsrf: formField(autoPost, 'xsrf')!, user_code: formField(autoPost, 'user_code')! } });
    const html = await res.text();
    expect(html).toContain('&lt;svg');
    expectInert(html, 'device confirmation');
  });
});
