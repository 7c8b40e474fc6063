/**
 * The admin console in a real browser (the system Chromium): an operator signs in through Yihao
 * at loa:2 (setting up an authenticator app on the way), registers an app (first with mistakes,
 * shown beside their fields), submits it; a second operator, in Chinese, reviews the diff and
 * approves it, and the app is live: openid-client signs a citizen in through it. Pages are
 * checked with axe-core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import type { Department } from '../../src/admin/index.js';
import { CHROMIUM_SIGN_IN, consoleSignInInChromium } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';

const AXE_RULES = ['html-has-lang', 'document-title', 'label', 'color-contrast'];

describe.skipIf(!chromiumAvailable)('admin console in a real browser (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  let province: Department;
  let author: Awaited<ReturnType<Harness['citizen']>>;
  let reviewer: Awaited<ReturnType<Harness['citizen']>>;
  let created: { clientId: string; secret: string };

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    province = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: nation.id });
    author = await h.citizen({ name: '王应用' });
    reviewer = await h.citizen({ name: '李审核' });
    await boot.grantRole({ identifier: author.sub, role: 'dept-admin', departmentId: province.id });
    await boot.grantRole({ identifier: reviewer.sub, role: 'reviewer', departmentId: province.id });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  const signIn = (page: Page, who: { citizenId: string; password: string }, lang: 'en' | 'zh-CN') => consoleSignInInChromium(h, page, who, lang);

  it('an operator signs in at loa:2, registers an app (fixing inline errors) and submits it', async () => {
    const page = await pages.next();
    await signIn(page, author, 'en');
    await page.getByRole('heading', { name: 'Admin console', exact: true }).waitFor();
    expect(await page.getByRole('cell', { name: 'Department administrator' }).isVisible()).toBe(true);
    await expectNoSeriousAxeViolations(page, 'the console home', AXE_RULES.slice(0, 2));

    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Apps' }).click();
    await page.getByRole('link', { name: 'Register an app' }).click();
    await page.getByRole('heading', { name: 'Register an app', exact: true }).waitFor();

    // Mistakes first: each is named beside its field and in a summary that links to it.
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('not a url');
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.getByRole('alert').waitFor();
    const name = page.getByLabel('App name', { exact: true });
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${(await name.getAttribute('aria-describedby'))!}`).textContent()).toBe('is required');
    expect(await page.getByLabel('Redirect URIs (one per line)', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Redirect URIs (one per line)', { exact: true }).inputValue()).toBe('not a url'); // what was typed is kept
    await expectNoSeriousAxeViolations(page, 'the app form showing errors', AXE_RULES);

    await name.fill('社保查询');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill(REDIRECT);
    await page.getByLabel('Citizen ID release').selectOption('masked');
    await page.getByLabel('Web', { exact: true }).check();
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.getByRole('heading', { name: 'App registered as a draft' }).waitFor();
    created = { clientId: (await page.locator('[data-client-id]').textContent())!, secret: (await page.locator('[data-client-secret]').textContent())! };
    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await expectNoSeriousAxeViolations(page, 'the app-created page', AXE_RULES.slice(0, 2));

    await page.getByRole('link', { name: 'Go to the app' }).click();
    await page.getByRole('table', { name: 'What this change alters' }).waitFor();
    await page.getByRole('button', { name: 'Submit for review' }).click();
    await page.getByRole('status').filter({ hasText: 'The change was submitted for review.' }).waitFor();
    // The author cannot approve: there is no such button for them at all.
    await page.goto(`${h.issuer}/admin/changes?status=submitted`);
    expect(await page.getByRole('button', { name: 'Approve and make live' }).count()).toBe(0);
  });

  it('a second operator, in Chinese, reviews the diff and approves: the app goes live and a citizen signs in through it', async () => {
    expect(created, 'the first test registered the app').toBeDefined();
    const page = await pages.next();
    await signIn(page, reviewer, 'zh-CN');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await page.getByRole('link', { name: '变更审核' }).click();
    await page.getByRole('heading', { name: '变更审核', exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the zh-CN review list', AXE_RULES.slice(0, 2));
    await page.getByRole('link', { name: '社保查询' }).click();

    const diff = page.getByRole('table', { name: '此变更将修改的设置' });
    await diff.waitFor();
    const redirectRow = diff.locator('tr[data-field="redirect_uris"]');
    expect(await redirectRow.locator('ins').textContent()).toBe(REDIRECT);
    expect(await diff.locator('tr[data-field="citizen_id_release"] ins').textContent()).toBe('脱敏（如 110105********002X）');
    await expectNoSeriousAxeViolations(page, 'the zh-CN change review page', AXE_RULES);

    await page.getByLabel('审核意见（可选）').fill('材料齐全，同意上线');
    await page.getByRole('button', { name: '批准并上线' }).click();
    await page.getByRole('status').filter({ hasText: '变更已批准并生效。' }).waitFor();
    await page.getByRole('link', { name: created.clientId }).click();
    expect(await page.locator('[data-status]').first().getAttribute('data-status')).toBe('active');

    const citizen = await h.citizen();
    const rp = await relyingParty(h, { client_id: created.clientId, client_secret: created.secret });
    const verifier = oidc.randomPKCECodeVerifier();
    const back = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const claims = (await oidc.authorizationCodeGrant(rp, back, { pkceCodeVerifier: verifier })).claims()!;
    expect(claims.sub).toBe(citizen.sub);

    const approvals = await h.yihao.services.audit.query({ clientId: created.clientId, action: 'admin.client_change.approved', limit: 5 });
    expect(approvals.events[0]).toMatchObject({ actorId: reviewer.sub, details: { author: author.sub } });
  });

  it('a national super-admin manages departments and roles, reads and verifies the audit log, and sees the signing keys', async () => {
    const chief = await h.citizen({ name: '赵总管' });
    const nationId = province.parentId!;
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: chief.sub, role: 'super-admin', departmentId: nationId });
    const page = await pages.next();
    await signIn(page, chief, 'en');
    const nav = page.getByRole('navigation', { name: 'Admin console' });

    await nav.getByRole('link', { name: 'Departments' }).click();
    await page.getByRole('heading', { name: 'Departments', exact: true }).waitFor();
    await page.getByLabel('Parent department').selectOption(province.id);
    await page.getByLabel('Level', { exact: true }).selectOption('district'); // a district does not go straight under a province
    await page.getByLabel('Name', { exact: true }).fill('西湖区数据资源局');
    await page.getByRole('button', { name: 'Create' }).click();
    expect(await page.getByLabel('Level', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await expectNoSeriousAxeViolations(page, 'the departments page with an error', AXE_RULES);
    await page.getByLabel('Level', { exact: true }).selectOption('city');
    await page.getByLabel('Name', { exact: true }).fill('杭州市数据资源局');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('status').filter({ hasText: 'The department was created.' }).waitFor();
    expect(await page.getByRole('cell', { name: '杭州市数据资源局' }).isVisible()).toBe(true);

    await nav.getByRole('link', { name: 'Operators' }).click();
    const newcomer = await h.citizen({ name: '孙审计' });
    await page.getByLabel('Account (ID number, mobile number or sub)').fill(newcomer.citizenId);
    await page.getByLabel('Role', { exact: true }).selectOption('auditor');
    await page.getByLabel('Department', { exact: true }).selectOption(province.id);
    await page.getByRole('button', { name: 'Grant', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'The role was granted.' }).waitFor();
    expect(await page.getByRole('row').filter({ hasText: '孙审计' }).getByRole('cell', { name: 'Auditor', exact: true }).isVisible()).toBe(true);
    expect(await page.content()).not.toContain(newcomer.citizenId);
    await expectNoSeriousAxeViolations(page, 'the operators page', AXE_RULES.slice(0, 2));

    await nav.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action', { exact: true }).fill('admin.role.assigned');
    await page.getByRole('button', { name: 'Search' }).click();
    const rows = page.locator('tr[data-event]');
    expect(await rows.count()).toBeGreaterThanOrEqual(4);
    expect(await rows.first().textContent()).toContain(newcomer.sub);
    await page.getByRole('button', { name: 'Verify the hash chain' }).click();
    expect(await page.locator('[data-chain]').getAttribute('data-chain')).toBe('intact');
    await expectNoSeriousAxeViolations(page, 'the audit page', AXE_RULES.slice(0, 2));

    await nav.getByRole('link', { name: 'Signing keys' }).click();
    expect(await page.getByRole('cell', { name: 'ES256' }).first().isVisible()).toBe(true);
    await expectNoSeriousAxeViolations(page, 'the keys page', AXE_RULES.slice(0, 2));

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out of the admin console' }).waitFor();
    // The Yihao session ended too: the next person at this browser must sign in again.
    await page.getByRole('link', { name: 'Sign in again' }).click();
    await page.getByLabel(CHROMIUM_SIGN_IN.en.password, { exact: true }).waitFor();
    expect((await h.yihao.services.audit.forAccount(chief.sub, 1))[0]).toMatchObject({ action: 'session.ended', actorType: 'operator', details: { via: 'admin_console' } });
  });
});
