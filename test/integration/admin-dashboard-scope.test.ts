/**
 * Whose apps the console's dashboard counts, over HTTP (a browser without JavaScript): a role
 * covers its department's subtree and nothing above or beside it, auditors (who read the log, not
 * apps) get their departments' figures too, and counter staff get no dashboard at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Role } from '../../src/admin/index.js';
import { consoleBrowser, operator } from '../support/admin-operators.js';
import { counterClientOf } from '../support/counter-staff.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';

describe('the dashboard’s department scope', () => {
  let h: Harness;
  let dept: Record<'nation' | 'x' | 'xCity' | 'y', { id: string }>;
  let cityApp: string;
  let yApp: string;

  beforeAll(async () => {
    h = await startHarness();
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const x = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    const xCity = await boot.createDepartment({ name: '杭州市数据资源局', level: 'city', parentId: x.id });
    const y = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: nation.id });
    dept = { nation, x, xCity, y };
    const app = async (name: string, departmentId: string, signIns: number) => {
      const client = await h.client({ name, redirectUris: [REDIRECT] });
      await counterClientOf(h, client, name, departmentId);
      const rp = await relyingParty(h, client);
      for (let i = 0; i < signIns; i++) {
        const c = await h.citizen();
        await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: c.citizenId, password: c.password });
      }
      return client.client_id;
    };
    cityApp = await app('杭州办事', xCity.id, 1);
    yApp = await app('江苏公积金查询', y.id, 2);
  });
  afterAll(async () => h?.close());

  /** The console home of a fresh operator holding `role` in `departmentId`, in English. */
  async function homeOf(role: Role, departmentId: string): Promise<string> {
    const op = await operator(h, [{ role, departmentId }]);
    const { landed } = await consoleBrowser(h, { citizenId: op.citizenId, password: op.password, totpSecret: op.totpSecret, step: 1 }, 'en');
    expect(landed.status).toBe(200);
    return landed.html!;
  }
  const figure = (html: string, key: string) => Number(new RegExp(`data-figure="${key.replace(/\./g, '\\.')}">([\\d,]+)<`).exec(html)?.[1]?.replace(/,/g, ''));
  const appsOf = (html: string) => [...html.matchAll(/<tr data-app="([^"]+)"/g)].map((m) => m[1]);

  it('a province’s administrator counts the city below it, not the other province', async () => {
    const html = await homeOf('dept-admin', dept.x.id);
    expect(html).toContain('data-scope="departments"');
    expect(figure(html, 'day.signIns')).toBe(1);
    expect(figure(html, 'week.signIns.web')).toBe(1);
    expect(appsOf(html)).toEqual([cityApp]);
    expect(html).not.toContain(yApp);
  });

  it('a city’s reviewer counts its own apps, and an auditor (who reads the log, not apps) counts its province’s', async () => {
    const city = await homeOf('reviewer', dept.xCity.id);
    expect(figure(city, 'day.signIns')).toBe(1);
    expect(appsOf(city)).toEqual([cityApp]);

    const auditor = await homeOf('auditor', dept.y.id);
    expect(figure(auditor, 'day.signIns')).toBe(2);
    expect(appsOf(auditor)).toEqual([yApp]);
    expect(auditor).not.toContain(cityApp);
    // Not the installation's sessions: those are no department's.
    expect(auditor).not.toContain('data-figure="sessions.');
  });

  it('counter staff see their roles and no dashboard', async () => {
    const html = await homeOf('counter-staff', dept.y.id);
    expect(html).not.toContain('data-dashboard');
    expect(html).toContain('Counter staff');
  });

  it('a national operator counts every app, and the console’s own sign-ins too', async () => {
    const html = await homeOf('auditor', dept.nation.id);
    expect(html).toContain('data-scope="all"');
    const consoleSignIns = Number((await h.yihao.stores.db('audit_events').where({ action: 'login.succeeded', client_id: 'yihao-admin-console' }).count({ n: '*' }))[0]!.n);
    expect(consoleSignIns).toBeGreaterThan(0);
    expect(figure(html, 'day.signIns')).toBe(1 + 2 + consoleSignIns);
    expect(appsOf(html)).toEqual(expect.arrayContaining([cityApp, yApp, 'yihao-admin-console']));
    expect(figure(html, 'sessions.browser')).toBeGreaterThanOrEqual(3);
  });
});
