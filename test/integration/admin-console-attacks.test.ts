/**
 * The admin console against a malicious operator or a web attacker (a review's probes, all holding):
 * security headers on every kind of page, sign-out (forged, replayed cookie, the Yihao session
 * behind it), another department's operators, certificates, changes and reviews reached through
 * the console's own forms, and an approval bound to the revision the page showed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department, Role } from '../../src/admin/index.js';
import { consoleBrowser, signInOperator, type SignedInOperator } from '../support/admin-operators.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { REDIRECT } from '../support/relying-party.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';

describe('the admin console under attack', () => {
  let h: Harness;
  let p1: Department;
  let p2: Department;
  let adminP1: SignedInOperator;
  let adminP2: SignedInOperator;
  let reviewerP1: SignedInOperator;
  let seq = 400;

  const account = async (name: string) => {
    const citizenId = syntheticCitizenId({ seq: seq++ });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const made = await h.yihao.accounts.create({ citizenId, name, password });
    return { citizenId, password, sub: made.sub, name };
  };
  const op = async (roles: { role: Role; departmentId: string }[], name: string) => {
    const a = await account(name);
    for (const r of roles) await h.yihao.admin.services.bootstrap.grantRole({ identifier: a.sub, role: r.role, departmentId: r.departmentId });
    return signInOperator(h, a);
  };
  const consoles = new Map<string, Awaited<ReturnType<typeof openConsole>>>();
  const consoleOf = async (o: SignedInOperator) => {
    if (!consoles.has(o.sub)) consoles.set(o.sub, await openConsole(o));
    return consoles.get(o.sub)!;
  };
  const openConsole = async (o: SignedInOperator) => {
    const signed = await consoleBrowser(h, { citizenId: o.citizenId, password: o.password, totpSecret: o.totpSecret, step: 1 }, 'en');
    expect(signed.landed.status).toBe(200);
    const b = signed.browser;
    const get = async (path: string) => {
      const res = await b.request(`${h.issuer}${path}`);
      return { status: res.status, html: await res.text(), location: res.headers.get('location'), headers: res.headers };
    };
    const post = async (path: string, form: Record<string, string>) => {
      const res = await b.request(`${h.issuer}${path}`, { form });
      return { status: res.status, html: await res.text(), location: res.headers.get('location'), headers: res.headers };
    };
    const csrf = formField((await get('/admin')).html, 'csrf')!;
    return { browser: b, get, post, csrf };
  };

  beforeAll(async () => {
    h = await startHarness();
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    p1 = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    p2 = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: nation.id });
    adminP1 = await op([{ role: 'dept-admin', departmentId: p1.id }], '浙江管理员');
    adminP2 = await op([{ role: 'dept-admin', departmentId: p2.id }], '江苏管理员');
    reviewerP1 = await op([{ role: 'reviewer', departmentId: p1.id }], '浙江审核员');
  }, 120_000);
  afterAll(async () => h?.close());

  it('sends frame-ancestors none and no-store on console pages, error pages and the callback failure page', async () => {
    const c = await consoleOf(adminP1);
    for (const path of ['/admin', '/admin/clients', '/admin/clients/cl_doesnotexist00000000', '/admin/keys']) {
      const res = await c.get(path);
      expect(res.headers.get('content-security-policy') ?? '', path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('cache-control') ?? '', path).toContain('no-store');
    }
    const cb = await new ScriptedBrowser().request(`${h.issuer}/admin/callback?code=x&state=y`);
    expect(cb.status).toBe(400);
    expect(cb.headers.get('content-security-policy') ?? '').toContain("frame-ancestors 'none'");
    expect(cb.headers.get('location')).toBeNull();
  });

  it('refuses a forged sign-out and keeps the session; a real one ends the console session for a replayed cookie and the Yihao session', async () => {
    const c = await consoleOf(await op([{ role: 'dept-admin', departmentId: p1.id }], '浙江管理员二'));
    const forged = await c.post('/admin/sign-out', { csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect((await c.get('/admin')).status).toBe(200);
    const cookie = c.browser.cookieHeader(new URL(`${h.issuer}/admin`));
    const out = await c.post('/admin/sign-out', { csrf: c.csrf });
    expect(out.status).toBe(200);
    // The old cookie, replayed from elsewhere, opens nothing.
    const replay = await fetch(`${h.issuer}/admin/clients`, { headers: { cookie }, redirect: 'manual' });
    expect(replay.status).toBe(303);
    expect(new URL(replay.headers.get('location')!).pathname).toBe('/auth');
    // Back in the same browser: Yihao asks for the password again (its session ended too).
    let res = await c.browser.request(`${h.issuer}/admin`);
    let url = new URL(`${h.issuer}/admin`);
    let htmlSeen = '';
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      url = new URL(res.headers.get('location')!, url);
      res = await c.browser.request(url);
    }
    htmlSeen = await res.text();
    expect(url.pathname).not.toBe('/admin');
    expect(htmlSeen).toMatch(/name="password"/);
  });

  it('does not let one department’s admin revoke another department’s role through the console', async () => {
    const target = await op([{ role: 'auditor', departmentId: p2.id }], '江苏审计员');
    const listed = await adminP2.api('GET', '/operators');
    const assignment = listed.body.items.find((x: { sub: string }) => x.sub === target.sub).assignments[0].id as string;
    const c = await consoleOf(adminP1);
    const res = await c.post('/admin/operators/revoke', { csrf: c.csrf, assignment_id: assignment });
    expect(res.status).toBe(404);
    const after = await adminP2.api('GET', '/operators');
    expect(after.body.items.find((x: { sub: string }) => x.sub === target.sub)?.assignments).toHaveLength(1);
  });

  it('answers another department’s certificates list like a missing one', async () => {
    const c = await consoleOf(adminP1);
    const res = await c.get(`/admin/certificates?department_id=${p2.id}`);
    expect(res.status).toBe(404);
    expect(res.html).not.toContain('江苏省政务办');
  });

  it('does not let another department’s admin edit, submit or review a change through the console', async () => {
    const made = await adminP2.api('POST', '/clients', { department_id: p2.id, settings: { client_name: '江苏社保', redirect_uris: [REDIRECT] } });
    const changeId = made.body.change.id as string;
    const c = await consoleOf(adminP1);
    const edit = await c.post(`/admin/changes/${changeId}/edit`, { csrf: c.csrf, client_name: 'pwned', redirect_uris: 'https://evil.example/cb', scope: 'openid' });
    expect(edit.status).toBe(404);
    const submit = await c.post(`/admin/changes/${changeId}/submit`, { csrf: c.csrf });
    expect(submit.status).toBe(404);
    const r = await consoleOf(reviewerP1);
    await adminP2.api('POST', `/client-changes/${changeId}/submit`);
    const review = await r.post(`/admin/changes/${changeId}/review`, { csrf: r.csrf, decision: 'approve', revision: '2' });
    expect(review.status).toBe(404);
    const now = await adminP2.api('GET', `/client-changes/${changeId}`);
    expect(now.body.status).toBe('submitted');
    expect(now.body.proposed.client_name).toBe('江苏社保');
  });

  it('binds a console approval to the revision shown: an edit after the page was drawn is refused', async () => {
    const made = await adminP1.api('POST', '/clients', { department_id: p1.id, settings: { client_name: '浙江医保', redirect_uris: [REDIRECT] } });
    const changeId = made.body.change.id as string;
    await adminP1.api('POST', `/client-changes/${changeId}/submit`);
    const r = await consoleOf(reviewerP1);
    const page = await r.get(`/admin/changes/${changeId}`);
    const shown = formField(page.html, 'revision')!;
    const cur = await adminP1.api('GET', `/client-changes/${changeId}`);
    await adminP1.api('PUT', `/client-changes/${changeId}`, { ...cur.body.proposed, redirect_uris: ['https://evil.example/cb'] });
    await adminP1.api('POST', `/client-changes/${changeId}/submit`);
    const res = await r.post(`/admin/changes/${changeId}/review`, { csrf: r.csrf, decision: 'approve', revision: shown });
    expect(res.status).toBe(409);
    // With no revision at all (a crafted form): refused too.
    const bare = await r.post(`/admin/changes/${changeId}/review`, { csrf: r.csrf, decision: 'approve' });
    expect(bare.status).toBe(400);
    const after = await adminP1.api('GET', `/client-changes/${changeId}`);
    expect(after.body.status).toBe('submitted');
  });

  it('does not register an app in another department, nor rotate signing keys, from the console', async () => {
    const c = await consoleOf(adminP1);
    const made = await c.post('/admin/clients', { csrf: c.csrf, department_id: p2.id, client_name: '冒名应用', redirect_uris: REDIRECT, scope: 'openid', kind: 'web' });
    expect(made.status).toBe(404);
    expect((await adminP2.api('GET', '/clients?q=冒名')).body.items).toHaveLength(0);
    const rotate = await c.post('/admin/keys/rotate', { csrf: c.csrf });
    expect(rotate.status).toBe(403);
  });
});
