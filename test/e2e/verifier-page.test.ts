/**
 * The verifier's page for counters and kiosks in a real browser (the system Chromium): the counter
 * software opens it by posting the request id and result token; it shows the QR code and waits;
 * once the citizen's wallet presents, it shows by itself only the disclosed claims, or the refusal
 * in plain words. axe-core on each state, in both languages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, freshPages } from '../support/chromium.js';
import { expectNoSeriousAxeViolations } from '../support/axe.js';
import { present, startAsKiosk, startAsStaff, verifierSetup, type Started, type VerifierSetup } from '../support/presentations.js';
import { walletKey } from '../support/wallet.js';

describe.skipIf(!chromiumAvailable)('the verifier page in a real browser (Chromium)', () => {
  let s: VerifierSetup;
  let browser: Browser;
  const pages = freshPages(() => browser);

  beforeAll(async () => {
    [s, browser] = await Promise.all([verifierSetup('sqlite'), launchChromium()]);
  }, 60_000);
  afterAll(async () => {
    await pages.close();
    await browser?.close();
    await s?.h.close();
  });

  /** What the counter software does: posts the request id and result token to the page (never in a URL). */
  async function openPage(page: Page, req: Started, locale: 'en' | 'zh-CN'): Promise<void> {
    await page.setContent(
      `<form method="post" action="${s.h.url}/presentations/page"><input name="request_id" value="${req.request_id}"><input name="result_token" value="${req.result_token}"><input name="ui_locales" value="${locale}"><button>go</button></form>`,
    );
    await Promise.all([page.waitForURL(`${s.h.url}/presentations/page`), page.click('button')]);
  }

  it('shows the QR code, then only the disclosed claims once the wallet presents, in English', async () => {
    const req = (await (await startAsStaff(s.h, s.staffToken, { type: 'identity', claims: ['name', 'citizen_id_masked'] })).json()) as Started;
    const page = await pages.next();
    await openPage(page, req, 'en');
    await page.getByRole('heading', { level: 1, name: 'Present a credential' }).waitFor();
    await page.getByRole('img', { name: 'QR code to scan with the Yihao app to present a credential', exact: true }).waitFor();
    expect(await page.getByRole('link', { name: 'Open in the wallet on this device' }).getAttribute('href')).toBe(req.request_link);
    expect(page.url()).not.toContain(req.result_token);
    await expectNoSeriousAxeViolations(page, 'the en verifier page, waiting');

    expect((await present(s.presenter, req.request_link, s.held)).status).toBe(200);
    await page.getByRole('heading', { level: 1, name: 'The credential is valid' }).waitFor();
    expect(await page.locator('[data-claim="name"]').textContent()).toBe('孙七');
    expect(await page.locator('[data-claim]').count()).toBe(2);
    expect(await page.content()).not.toContain(s.citizen.citizenId);
    await expectNoSeriousAxeViolations(page, 'the en verifier page, verified');
  });

  it('shows the refusal in plain words, in Chinese', async () => {
    const req = (await (await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims: ['name'] })).json()) as Started;
    const page = await pages.next();
    await openPage(page, req, 'zh-CN');
    await page.getByRole('heading', { level: 1, name: '出示电子凭证' }).waitFor();
    await expectNoSeriousAxeViolations(page, 'the zh-CN verifier page, waiting');
    // Someone else's phone presents the citizen's credential: it is not the key it was issued to.
    expect((await present(s.presenter, req.request_link, { credential: s.held.credential, key: await walletKey() })).status).toBe(400);
    await page.getByRole('heading', { level: 1, name: '凭证未通过核验' }).waitFor();
    expect(await page.getByRole('alert').textContent()).toBe('出示凭证的设备不是该凭证的持有设备。');
    await expectNoSeriousAxeViolations(page, 'the zh-CN verifier page, refused');
  });

  it('shows nothing for a wrong result token', async () => {
    const req = (await (await startAsKiosk(s.h, s.kiosk, { type: 'identity', claims: ['name'] })).json()) as Started;
    const page = await pages.next();
    await openPage(page, { ...req, result_token: 'A'.repeat(43) }, 'en');
    await page.getByRole('heading', { level: 1, name: 'The request has expired' }).waitFor();
    expect(await page.locator('img').count()).toBe(0);
  });
});
