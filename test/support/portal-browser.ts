import { expect } from 'vitest';
import type { Harness } from './harness.js';
import { formAction, formField, type ScriptedBrowser } from './scripted-browser.js';

/** Opens a portal page, signing in at Yihao's login page when the portal sends the browser there. */
export async function openPortal(h: Harness, browser: ScriptedBrowser, who: { citizenId: string; password: string }, path = '/account'): Promise<{ status: number; url: URL; page: string }> {
  let { res, url } = await browser.follow(`${h.issuer}${path}`);
  let page = await res.text();
  if (url.pathname.startsWith('/interaction/')) {
    const action = formAction(page, '/login');
    expect(action, 'the portal sends the browser to the login page').toBeTruthy();
    ({ res, url } = await browser.follow(new URL(action!, url), { form: { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } }));
    page = await res.text();
  }
  return { status: res.status, url, page };
}

/** Posts one of the portal's forms; `fields` are added to (or replace) the form's hidden fields. */
export async function submitPortalForm(h: Harness, browser: ScriptedBrowser, page: string, action: string, fields: Record<string, string> = {}): Promise<Response> {
  const csrf = formField(page, 'csrf');
  return browser.request(`${h.issuer}${action}`, { form: { ...(csrf ? { csrf } : {}), ...fields } });
}
