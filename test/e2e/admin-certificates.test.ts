/**
 * The console's certificates section in a real browser (the system Chromium), in English and
 * Chinese, axe-clean: a department's operator sees its certificate types and its certificates
 * (the holder by masked ID number, never the number or a claim), suspends one with a reason,
 * resumes it and revokes it, each step audited. First the attacker: an operator of another
 * department sees nothing of it and can do nothing to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { Department } from '../../src/admin/index.js';
import { consoleSignInInChromium } from '../support/admin-operators.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { chromiumAvailable, freshPages, launchChromium } from '../support/chromium.js';
import { startHarness, type Harness } from '../support/harness.js';

describe.skipIf(!chromiumAvailable)('certificates in the admin console (Chromium)', () => {
  let h: Harness;
  let browser: Browser;
  const pages = freshPages(() => browser);
  const dept = {} as Record<'nation' | 'police' | 'social', Department>;
  let policeAdmin: Awaited<ReturnType<Harness['citizen']>>;
  let socialAdmin: Awaited<ReturnType<Harness['citizen']>>;
  let holder: Awaited<ReturnType<Harness['citizen']>>;
  const certificates: string[] = [];

  beforeAll(async () => {
    [h, browser] = await Promise.all([startHarness({ backend: 'sqlite' }), launchChromium()]);
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.police = await boot.createDepartment({ name: '浙江省公安厅', level: 'province', parentId: dept.nation.id });
    dept.social = await boot.createDepartment({ name: '浙江省人力社保厅', level: 'province', parentId: dept.nation.id });
    [policeAdmin, socialAdmin, holder] = await Promise.all([h.citizen({ name: '公安管理员' }), h.citizen({ name: '社保管理员' }), h.citizen({ name: '周九' })]);
    await boot.grantRole({ identifier: policeAdmin.sub, role: 'dept-admin', departmentId: dept.police.id });
    await boot.grantRole({ identifier: socialAdmin.sub, role: 'dept-admin', departmentId: dept.social.id });
    const store = h.yihao.credentials.certificates.store;
    await store.insertType({ id: 'driving_licence', departmentId: dept.police.id, vct: `${h.issuer}/credentials/types/driving_licence`, names: { 'zh-CN': '机动车驾驶证', en: 'Driving licence' }, claims: { licence_number: { type: 'string', required: true } }, validityDays: 2190, createdBy: 'test', createdAt: Date.now(), approvedAt: Date.now(), approvedBy: 'cli' });
    const account = (await h.yihao.accounts.findBySub(holder.sub))!;
    for (const [i, n] of ['LIC-7001', 'LIC-7002'].entries()) {
      const { certificate } = await h.yihao.stores.db.transaction((trx) =>
        store.insert({ typeId: 'driving_licence', departmentId: dept.police.id, accountId: account.id, claims: { licence_number: n }, validFrom: Date.now() - 86_400_000, validUntil: Date.UTC(2031, 2, 2), pushedBy: 'police-system', createdAt: Date.now() - 1000 + i, idempotencyKey: undefined }, trx),
      );
      certificates.push(certificate.id);
    }
  });

  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await h?.close();
  });

  it("an operator of another department sees none of the department's types or certificates and cannot act on one", async () => {
    const page = await pages.next();
    await consoleSignInInChromium(h, page, socialAdmin, 'en');
    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Certificates' }).click();
    await page.getByRole('heading', { level: 1, name: 'Certificates' }).waitFor();
    expect(await page.getByRole('table', { name: 'Certificate types' }).count()).toBe(0);
    expect(await page.locator('#department_id option').allTextContents()).toEqual(['浙江省人力社保厅']);
    let content = await page.content();
    for (const id of certificates) expect(content).not.toContain(id);

    const listed = await page.goto(`${h.issuer}/admin/certificates?department_id=${dept.police.id}`);
    expect(listed!.status()).toBe(404);
    const shown = await page.goto(`${h.issuer}/admin/certificates/${certificates[0]}`);
    expect(shown!.status()).toBe(404);
    content = await page.content();
    expect(content).not.toContain('浙江省公安厅');
    // A forged form to another department's certificate: refused like a missing one, and nothing changes.
    const csrf = await page.goto(`${h.issuer}/admin/certificates`).then(() => page.locator('input[name=csrf]').first().getAttribute('value'));
    const forged = await page.request.post(`${h.issuer}/admin/certificates/${certificates[0]}/revoke`, { form: { csrf: csrf!, reason: 'x' } });
    expect(forged.status()).toBe(404);
    expect((await h.yihao.credentials.certificates.store.find(certificates[0]!))!.status).toBe('valid');
    const denied = await h.yihao.services.audit.query({ actor: socialAdmin.sub, action: 'admin.denied', limit: 10 });
    expect(denied.events.map((e) => (e.details as { operation: string }).operation).sort()).toEqual(['certificate.get', 'certificate.list', 'certificate.revoke']);
  });

  it('its own operator lists types and certificates (masked holder), suspends with a reason, resumes and revokes; in en and zh-CN; axe-clean; audited', async () => {
    const page = await pages.next();
    await consoleSignInInChromium(h, page, policeAdmin, 'en');
    await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: 'Certificates' }).click();
    await page.getByRole('table', { name: 'Certificate types' }).waitFor();
    expect(await page.locator('[data-type="driving_licence"]').textContent()).toContain('Driving licence');
    const masked = `${holder.citizenId.slice(0, 6)}********${holder.citizenId.slice(14)}`;
    for (const id of certificates) expect(await page.locator(`[data-certificate="${id}"]`).textContent()).toContain(masked);
    let content = await page.content();
    for (const secret of [holder.citizenId, 'LIC-7001', 'LIC-7002']) expect(content).not.toContain(secret);
    await expectNoSeriousAxeViolations(page, 'the en certificates list');

    await page.getByLabel('Status', { exact: true }).selectOption('suspended');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No certificates match.').waitFor();
    await page.getByLabel('Status', { exact: true }).selectOption('');
    await page.getByRole('button', { name: 'Search' }).click();

    await page.getByRole('link', { name: `View certificate ${certificates[0]}` }).click();
    await page.getByRole('heading', { level: 1, name: 'Certificate · Driving licence' }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the en certificate page');
    // A reason that holds a NUL (PostgreSQL refuses it) or reads as another is refused as at the
    // admin API, and changes nothing (found by a review: the console passed it on unchecked).
    const csrf = await page.locator('input[name=csrf]').first().getAttribute('value');
    for (const reason of ['reported lost\u0000', 'reported \u202Etsol']) {
      const refused = await page.request.post(`${h.issuer}/admin/certificates/${certificates[0]}/suspend`, { form: { csrf: csrf!, reason } });
      expect(refused.status(), reason).toBe(400);
    }
    expect((await h.yihao.credentials.certificates.store.find(certificates[0]!))!.status).toBe('valid');
    await page.locator('#reason-suspend').fill('reported lost');
    await page.getByRole('button', { name: 'Suspend this certificate' }).click();
    await page.getByRole('status').filter({ hasText: 'The certificate is suspended.' }).waitFor();
    expect(await page.locator('dd[data-status]').textContent()).toBe('Suspended');
    await page.getByRole('button', { name: 'Resume this certificate' }).click();
    await page.getByRole('status').filter({ hasText: 'The certificate is valid again.' }).waitFor();

    await page.getByRole('link', { name: '中文', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: '电子证照 · 机动车驾驶证' }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the zh-CN certificate page');
    await page.locator('#reason-revoke').fill('驾驶证被吊销');
    await page.getByRole('button', { name: '撤销这张证照' }).click();
    await page.getByRole('status').filter({ hasText: '证照已撤销。' }).waitFor();
    expect(await page.locator('dd[data-status]').textContent()).toBe('已撤销');
    expect(await page.getByRole('button').filter({ hasText: '证照' }).count()).toBe(0);
    await page.getByRole('link', { name: '返回电子证照列表' }).click();
    await page.getByRole('table', { name: '证照类型' }).waitFor();
    content = await page.content();
    for (const secret of [holder.citizenId, 'LIC-7001']) expect(content).not.toContain(secret);
    await expectNoSeriousAxeViolations(page, 'the zh-CN certificates list');

    expect((await h.yihao.credentials.certificates.store.find(certificates[0]!))!.status).toBe('revoked');
    const events = await h.yihao.services.audit.query({ actor: policeAdmin.sub, action: 'admin.certificate.', limit: 10 });
    expect(events.events.map((e) => [e.action, (e.details as { reason?: string }).reason]).reverse()).toEqual([
      ['admin.certificate.suspended', 'reported lost'],
      ['admin.certificate.resumed', undefined],
      ['admin.certificate.revoked', '驾驶证被吊销'],
    ]);
  });
});
