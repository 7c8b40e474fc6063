/**
 * The citizen's department certificates in the portal (docs/credentials.md), in the system
 * Chromium: reached by the navigation's link, in both languages, with the type's name, the issuing
 * department, the validity and the status, never a claim; axe-clean.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startHarness, type Harness } from '../support/harness.js';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';

describe.skipIf(!chromiumAvailable)('certificates in the portal (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
  });
  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  it('lists the citizen’s certificates with issuer, validity and status, in zh-CN and en, axe-clean', async () => {
    const citizen = await h.citizen({ name: '钱七' });
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const police = await h.yihao.admin.services.bootstrap.createDepartment({ name: '浙江省公安厅', level: 'national' });
    const store = h.yihao.credentials.certificates.store;
    await store.insertType({ id: 'driving_licence', departmentId: police.id, vct: `${h.issuer}/credentials/types/driving_licence`, names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' }, claims: { licence_number: { type: 'string', required: true } }, validityDays: 2190, createdBy: 'test', createdAt: Date.now(), approvedAt: Date.now(), approvedBy: 'cli' });
    await store.insertType({ id: 'residence_permit', departmentId: police.id, vct: `${h.issuer}/credentials/types/residence_permit`, names: { 'zh-CN': '居住证', en: 'Residence permit' }, claims: { permit_number: { type: 'string', required: true } }, validityDays: 365, createdBy: 'test', createdAt: Date.now(), approvedAt: Date.now(), approvedBy: 'cli' });
    const at = Date.UTC(2026, 0, 5);
    const push = (typeId: string, claims: Record<string, string>, createdAt: number) =>
      h.yihao.stores.db.transaction((trx) => store.insert({ typeId, departmentId: police.id, accountId: account.id, claims, validFrom: at, validUntil: Date.UTC(2032, 0, 5), pushedBy: 'police-system', createdAt, idempotencyKey: undefined }, trx));
    const licence = await push('driving_licence', { licence_number: '330100200099' }, Date.now() - 1000);
    const permit = await push('residence_permit', { permit_number: 'R-77' }, Date.now());
    await h.yihao.stores.db.transaction((trx) => store.revoke(permit.certificate.id, Date.now(), trx));

    const page = await pages.next();
    await page.goto(`${h.url}/account`);
    await page.getByLabel('身份证号或手机号', { exact: true }).fill(citizen.citizenId);
    await page.getByLabel('密码', { exact: true }).fill(citizen.password);
    await page.getByRole('button', { name: '登录', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/account');
    await page.getByRole('navigation').getByRole('link', { name: '电子证照', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: '电子证照' }).waitFor();

    const card = page.locator(`[data-certificate="${licence.certificate.id}"]`);
    await expect(card.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('机动车驾驶证');
    expect(await card.textContent()).toContain('浙江省公安厅');
    expect(await card.textContent()).toContain('2026年1月5日');
    expect(await card.locator('[data-status]').textContent()).toBe('有效');
    expect(await page.locator(`[data-certificate="${permit.certificate.id}"] [data-status]`).textContent()).toBe('已撤销');
    const content = await page.content();
    // The claims are the wallet's to show, not the portal's.
    for (const secret of ['330100200099', 'R-77', citizen.citizenId]) expect(content).not.toContain(secret);
    // A valid certificate can go to the app's wallet; a revoked one offers nothing.
    expect(await card.getByRole('button', { name: '将「机动车驾驶证」添加到一号 App' }).count()).toBe(1);
    expect(await page.locator(`[data-certificate="${permit.certificate.id}"] button`).count()).toBe(0);
    await expectNoSeriousAxeViolations(page, 'the zh-CN certificates page');

    await page.getByRole('link', { name: 'English', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Certificates' }).waitFor();
    expect(await card.getByRole('heading', { level: 2 }).textContent()).toBe('Driving licence');
    expect(await card.textContent()).toContain('5 January 2026');
    expect(await page.locator(`[data-certificate="${permit.certificate.id}"] [data-status]`).textContent()).toBe('Revoked');
    await expectNoSeriousAxeViolations(page, 'the en certificates page');
  });
});
