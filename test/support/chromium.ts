import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
