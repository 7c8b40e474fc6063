/**
 * The console's citizen-account pages in a real browser (the system Chromium): a national
 * super-admin finds an account by its ID number (shown only masked), disables it (a note holding an
 * ID number is refused beside its field and not drawn back), and asks to enable it again; a
 * national reviewer, in Chinese, finds the request and approves it. The account signs in again.
 * Every page is checked with axe-core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { consoleSignInInChromium } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';

const AXE_RULES = ['html-has-lang', 'document-title', 'label', 'color-contrast'];

describe.skipIf(!chromiumAvailable)('citizen accounts in the admin console (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  let superAdmin: Awaited<ReturnType<Harness['citizen']>>;
  let reviewer: Awaited<ReturnType<Harness['citizen']>>;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    superAdmin = await h.citizen({ name: '王主任' });
    reviewer = await h.citizen({ name: '李审核' });
    citizen = await h.citizen({ name: '周八' });
    await boot.grantRole({ identifier: superAdmin.sub, role: 'super-admin', departmentId: nation.id });
    await boot.grantRole({ identifier: reviewer.sub, role: 'reviewer', departmentId: nation.id });
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  const signIn = (page: Page, who: { citizenId: string; password: string }, lang: 'en' | 'zh-CN') => consoleSignInInChromium(h, page, who, lang);
  const masked = () => `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`;

  it('a national super-admin finds an account by ID number, disables it with a reason, and asks to enable it again', async () => {
    const page = await pages.next();
    await signIn(page, superAdmin, 'en');
    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Citizen accounts' }).click();
    await page.getByRole('heading', { name: 'Citizen accounts', exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the accounts page', AXE_RULES);

    await page.getByLabel('ID number', { exact: true }).fill(citizen.citizenId);
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.getByRole('heading', { name: 'Account: 周八', exact: true }).waitFor();
    expect(page.url()).not.toContain(citizen.citizenId);
    expect(await page.locator('[data-masked-id]').textContent()).toBe(masked());
    expect(await page.content()).not.toContain(citizen.citizenId);
    await expectNoSeriousAxeViolations(page, 'an active account', AXE_RULES);

    // A note with an ID number in it is refused beside its field, and not drawn back.
    await page.getByLabel('Reason', { exact: true }).selectOption('fraud');
    await page.getByLabel('Note (optional, up to 500 characters, no ID numbers)', { exact: true }).fill(`冒用 ${citizen.citizenId}`);
    await page.getByRole('button', { name: 'Disable account', exact: true }).click();
    const note = page.getByLabel('Note (optional, up to 500 characters, no ID numbers)', { exact: true });
    await page.locator('#d-note-error').waitFor();
    expect(await note.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#d-note-error').textContent()).toBe('must not contain an ID number');
    expect(await note.inputValue()).toBe('');
    expect(await page.content()).not.toContain(citizen.citizenId);
    await expectNoSeriousAxeViolations(page, 'the disable form showing an error', AXE_RULES);

    await page.getByLabel('Reason', { exact: true }).selectOption('fraud');
    await note.fill('公安机关通报冒用');
    await page.getByRole('button', { name: 'Disable account', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'The account was disabled' }).waitFor();
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('disabled');
    expect(await page.locator('[data-disabled]').textContent()).toContain('公安机关通报冒用');
    await expectNoSeriousAxeViolations(page, 'a disabled account', AXE_RULES);

    await page.getByLabel('Reason', { exact: true }).selectOption('identity_confirmed');
    await page.getByRole('button', { name: 'File the request', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'another operator reviews it' }).waitFor();
    // The operator who asked sees no approve button: another operator decides.
    expect(await page.getByText('You filed this request: another operator reviews it.').isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Approve: enable the account' }).count()).toBe(0);
    await expectNoSeriousAxeViolations(page, 'a pending request, seen by its author', AXE_RULES.slice(0, 2));
  });

  it('a national reviewer, in Chinese, finds the request and approves it; the citizen signs in again', async () => {
    const page = await pages.next();
    await signIn(page, reviewer, 'zh-CN');
    await page.getByRole('navigation', { name: '管理控制台导航' }).getByRole('link', { name: '公民账号' }).click();
    await page.getByRole('heading', { name: '等待审核的恢复启用申请' }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the accounts page in Chinese', AXE_RULES);
    await page.getByRole('link', { name: '周八' }).click();
    await page.getByRole('heading', { name: '账号：周八', exact: true }).waitFor();
    await expectNoSeriousAxeViolations(page, 'a pending request, for its reviewer', AXE_RULES);
    // A reviewer reviews; disabling is not theirs.
    expect(await page.getByRole('button', { name: '停用账号' }).count()).toBe(0);
    await page.getByLabel('审核意见（选填）').fill('本人到柜台核验');
    await page.getByRole('button', { name: '批准恢复启用' }).click();
    await page.getByRole('status').filter({ hasText: '账号已恢复启用' }).waitFor();
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('active');

    const client = await h.client({});
    const rp = await relyingParty(h, client);
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });
    expect(callback.searchParams.get('code')).toBeTruthy();
  });
});
