/**
 * The admin console over HTTP (a browser without JavaScript): it signs operators in through Yihao,
 * refuses accounts without roles, answers another department's things with the same page as
 * missing ones, wants its CSRF token on every change, searches and pages, and speaks Chinese by
 * default and English when asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { consoleBrowser, operator, type SignedInOperator } from '../support/admin-operators.js';
import { startHarness, type Harness } from '../support/harness.js';
import { REDIRECT } from '../support/relying-party.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';

describe('admin console over HTTP', () => {
  let h: Harness;
  let p1: Department;
  let adminP1: SignedInOperator;
  let theirs: { clientId: string; changeId: string };
  let browser: ScriptedBrowser;
  let home: string;

  const get = async (path: string) => {
    const res = await browser.request(`${h.issuer}${path}`);
    return { status: res.status, html: await res.text(), location: res.headers.get('location') };
  };
  const post = async (path: string, form: Record<string, string>) => {
    const res = await browser.request(`${h.issuer}${path}`, { form });
    return { status: res.status, html: await res.text(), location: res.headers.get('location') };
  };

  beforeAll(async () => {
    h = await startHarness();
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    const p2 = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: nation.id });
    adminP1 = await operator(h, [{ role: 'dept-admin', departmentId: p1.id }]);
    const adminP2 = await operator(h, [{ role: 'dept-admin', departmentId: p2.id }]);
    const made = await adminP2.api('POST', '/clients', { department_id: p2.id, settings: { client_name: '江苏不动产', redirect_uris: [REDIRECT] } });
    theirs = { clientId: made.body.client.client_id, changeId: made.body.change.id };
    for (let i = 1; i <= 23; i++) await adminP1.api('POST', '/clients', { department_id: p1.id, settings: { client_name: `应用 ${String(i).padStart(2, '0')}`, redirect_uris: [REDIRECT] } });
    await adminP1.api('POST', '/clients', { department_id: p1.id, settings: { client_name: '社保查询', redirect_uris: [REDIRECT] } });
    const signedIn = await consoleBrowser(h, { citizenId: adminP1.citizenId, password: adminP1.password, totpSecret: adminP1.totpSecret, step: 1 }, 'zh-CN');
    browser = signedIn.browser;
    expect(signedIn.landed.status).toBe(200);
    home = signedIn.landed.html!;
  });
  afterAll(async () => h?.close());

  it('sends a visitor without a console session to sign in at Yihao, asking for loa:2 and the admin resource', async () => {
    const res = await new ScriptedBrowser().request(`${h.issuer}/admin/clients`);
    expect(res.status).toBe(303);
    const to = new URL(res.headers.get('location')!);
    expect(to.pathname).toBe('/auth');
    expect(to.searchParams.get('acr_values')).toBe('urn:yihao:loa:2');
    expect(to.searchParams.get('resource')).toBe(`${h.issuer}/admin/api/v1`);
    expect(to.searchParams.get('client_id')).toBe('yihao-admin-console');
  });

  it('lands the operator on the console home, in Chinese by default and in English when asked', async () => {
    expect(home).toContain('<html lang="zh-CN">');
    expect(home).toContain('<h1>管理控制台</h1>');
    expect(home).toContain('部门管理员');
    // Only the sections the roles open are offered.
    const nav = /<nav aria-label="管理控制台导航">([\s\S]*?)<\/nav>/.exec(home)![1]!;
    expect([...nav.matchAll(/<a href="([^"]+)"/g)].map((m) => m[1])).toEqual(['/admin/clients', '/admin/changes', '/admin/departments', '/admin/operators', '/admin/certificates']);
    const en = await get('/admin?ui_locales=en');
    expect(en.html).toContain('<html lang="en">');
    expect(en.html).toContain('Department administrator');
    // The choice sticks.
    expect((await get('/admin/clients')).html).toContain('<h1>Apps</h1>');
    await get('/admin?ui_locales=zh-CN');
  });

  it('refuses an account that holds no role, with a page that says so', async () => {
    const citizen = await h.citizen();
    const { landed } = await consoleBrowser(h, citizen, 'en');
    expect(landed.status).toBe(403);
    expect(landed.html).toContain('This account holds no operator role.');
    const events = await h.yihao.services.audit.query({ actor: citizen.sub, action: 'admin.denied', limit: 5 });
    expect(events.events[0]?.details).toEqual({ operation: 'admin.sign_in', reason: 'not_operator' });
  });

  it('searches and pages the app list', async () => {
    const first = await get('/admin/clients');
    expect(first.status).toBe(200);
    expect(first.html.match(/<tr data-client=/g)).toHaveLength(20);
    expect(first.html).toContain('第 1 / 2 页，共 24 条');
    expect(first.html).toContain('href="/admin/clients?page=2" rel="next"');
    const second = await get('/admin/clients?page=2');
    expect(second.html.match(/<tr data-client=/g)).toHaveLength(4);
    const found = await get(`/admin/clients?q=${encodeURIComponent('社保')}`);
    expect(found.html.match(/<tr data-client=/g)).toHaveLength(1);
    expect(found.html).toContain('社保查询');
    expect(first.html).not.toContain('江苏不动产');
  });

  it('answers another department’s app and change like missing ones, naming nothing, and audits the attempt', async () => {
    for (const path of [`/admin/clients/${theirs.clientId}`, `/admin/changes/${theirs.changeId}`, '/admin/clients/yh_nothing_here']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(res.html).toContain('找不到该内容，或它不属于您管理的部门。');
      expect(res.html).not.toContain('江苏');
    }
    const denied = await h.yihao.services.audit.query({ actor: adminP1.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.some((e) => e.clientId === theirs.clientId && (e.details as { reason: string }).reason === 'scope')).toBe(true);
  });

  it('wants the CSRF token on every change', async () => {
    const list = await h.yihao.admin.services.stores.clients.list({ departmentIds: [p1.id], q: '社保', offset: 0, limit: 5 });
    const clientId = list.items[0]!.clientId;
    const page = await get(`/admin/clients/${clientId}`);
    const csrf = formField(page.html, 'csrf')!;
    const changeId = /action="\/admin\/changes\/([^/]+)\/submit"/.exec(page.html)![1]!;
    const forged = await post(`/admin/changes/${changeId}/submit`, { csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(forged.html).toContain('表单不是来自当前的控制台会话');
    const denied = await h.yihao.services.audit.query({ actor: adminP1.sub, action: 'admin.denied', limit: 1 });
    expect(denied.events[0]?.details).toEqual({ operation: 'console.changes', reason: 'csrf' });
    expect((await h.yihao.admin.services.stores.clients.findChange(changeId))!.status).toBe('draft');
    const ok = await post(`/admin/changes/${changeId}/submit`, { csrf });
    expect(ok.status).toBe(303);
    expect((await h.yihao.admin.services.stores.clients.findChange(changeId))!.status).toBe('submitted');
  });

  it('grants a role to an operator named by sub; a department admin who types an ID number is told to name the account by sub, and nothing is looked up', async () => {
    const colleague = await h.citizen({ name: '陈审计' });
    const page = await get('/admin/operators');
    const csrf = formField(page.html, 'csrf')!;
    const bySub = await post('/admin/operators', { csrf, identifier: colleague.sub, role: 'auditor', department_id: p1.id });
    expect(bySub.status).toBe(303);
    const account = (await h.yihao.accounts.findBySub(colleague.sub))!;
    expect(await h.yihao.admin.services.stores.assignments.forAccount(account.id)).toEqual([expect.objectContaining({ role: 'auditor', departmentId: p1.id })]);

    const other = await h.citizen({ name: '林路人' });
    const byNumber = await post('/admin/operators', { csrf, identifier: other.citizenId, role: 'auditor', department_id: p1.id });
    expect(byNumber.status).toBe(403);
    expect(byNumber.html).toContain('请填写对方的 sub');
    expect(byNumber.html).not.toContain(other.citizenId);
    expect(byNumber.html).not.toContain(other.sub);
  });

  it('edits a draft change from the app page, and keeps a public app public', async () => {
    const made = await adminP1.api('POST', '/clients', { department_id: p1.id, settings: { client_name: '掌上办事', redirect_uris: [REDIRECT], public: true } });
    const page = await get(`/admin/clients/${made.body.client.client_id}`);
    expect(page.html).toContain(`href="/admin/changes/${made.body.change.id}/edit"`);
    const form = await get(`/admin/changes/${made.body.change.id}/edit`);
    expect(form.status).toBe(200);
    expect(form.html).toContain('value="掌上办事"');
    const csrf = formField(form.html, 'csrf')!;
    const bad = await post(`/admin/changes/${made.body.change.id}/edit`, { csrf, client_name: '', redirect_uris: REDIRECT, grant_authorization_code: 'on' });
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('aria-invalid="true" aria-describedby="f-client_name-error"');
    const ok = await post(`/admin/changes/${made.body.change.id}/edit`, { csrf, client_name: '掌上办事 2.0', redirect_uris: REDIRECT, scope: 'openid profile', grant_authorization_code: 'on', channel_mobile: 'on' });
    expect(ok.status).toBe(303);
    const change = (await h.yihao.admin.services.stores.clients.findChange(made.body.change.id))!;
    expect(change.proposed).toMatchObject({ client_name: '掌上办事 2.0', public: true, allowed_channels: ['mobile'], grant_types: ['authorization_code'] });
    // Through the API, flipping it to confidential is refused.
    const flip = await adminP1.api('PUT', `/client-changes/${made.body.change.id}`, { client_name: '掌上办事', redirect_uris: [REDIRECT], public: false });
    expect(flip).toMatchObject({ status: 400, body: { fields: { public: 'cannot change' } } });
  });

  it('shows form problems beside their fields, in the page’s language, keeping what was typed', async () => {
    const form = await get('/admin/clients/new');
    const csrf = formField(form.html, 'csrf')!;
    const res = await post('/admin/clients', { csrf, department_id: p1.id, client_name: '', redirect_uris: 'not a url', grant_authorization_code: 'on' });
    expect(res.status).toBe(400);
    expect(res.html).toContain('role="alert"');
    expect(res.html).toMatch(/<input type="text" id="f-client_name" name="client_name" value="" aria-invalid="true" aria-describedby="f-client_name-error"><p class="field-error" id="f-client_name-error">必须填写<\/p>/);
    expect(res.html).toContain('必须是完整的网址');
    expect(res.html).toContain('>not a url</textarea>');
  });
});
