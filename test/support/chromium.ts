import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** The system Chromium (Debian's package). Tests never download browsers. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Whether browser suites can run. A missing Chromium skips them with a loud message, or fails
 * the run where CI sets YIHAO_REQUIRE_SERVICES=1 (the same rule as services.ts).
 */
export function chromiumIsAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  const msg = `Chromium is not installed at ${CHROMIUM_PATH}`;
  if (process.env.YIHAO_REQUIRE_SERVICES === '1') throw new Error(`${msg} and YIHAO_REQUIRE_SERVICES=1`);
  console.warn(`\n*** SKIPPING browser suites: ${msg} ***\n`);
  return false;
}

export const chromiumAvailable = chromiumIsAvailable();

/** One headless Chromium with nothing that phones home; callers open a fresh context per test. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A fresh browser context (cookies, storage) per test, with short default timeouts; opening the
 * next one closes the previous. `close()` in afterAll.
 */
export function freshPages(browser: () => Browser): { next(): Promise<Page>; close(): Promise<void> } {
  let context: BrowserContext | undefined;
  return {
    async next() {
      await context?.close();
      context = await browser().newContext();
      context.setDefaultTimeout(5_000);
      context.setDefaultNavigationTimeout(10_000);
      return context.newPage();
    },
    async close() {
      await context?.close();
      context = undefined;
    },
  };
}
