import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page and fails on any serious or critical violation, listing them readably.
 * `mustPass` names rules that must have been checked, so that a page axe could not examine does
 * not pass vacuously.
 */
export async function expectNoSeriousAxeViolations(page: Page, what: string, mustPass = ['html-has-lang', 'color-contrast', 'document-title']): Promise<AxeResults> {
  // The pages send `default-src 'none'`; evaluating through the DevTools protocol is not subject to it.
  if ((await page.evaluate<string>('typeof window.axe')) !== 'object') await page.evaluate(axeSource);
  const results = await page.evaluate<AxeResults>(`axe.run(document, { resultTypes: ['violations'] })`);
  expect(results.passes.map((r) => r.id)).toEqual(expect.arrayContaining(mustPass));
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad
    .map((v) => [`- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`, ...v.nodes.map((n) => `    at ${n.target.join(' ')}: ${n.failureSummary?.replace(/\n\s*/g, ' ')}\n      ${n.html}`)].join('\n'))
    .join('\n');
  if (bad.length) console.error(`axe found serious/critical problems on ${what}:\n${report}`);
  expect(bad.length, `axe serious/critical violations on ${what}:\n${report}`).toBe(0);
  return results;
}
