import { expect } from 'vitest';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import type { Harness } from './harness.js';
import { formField, type ScriptedBrowser } from './scripted-browser.js';

/** One citizen through the password reset pages, with the code sent to `phone`; the final page's status. */
export async function resetPasswordThroughPages(h: Harness, browser: ScriptedBrowser, identifier: string, phone: string, password: string): Promise<number> {
  let csrf = '';
  const req = async (path: string, form?: Record<string, string>) => {
    const res = await browser.request(new URL(path, h.url), form ? { form } : {});
    const html = await res.text();
    csrf = formField(html, 'csrf') ?? csrf;
    return res;
  };
  await req('/password-reset?ui_locales=en');
  const sent = await req('/password-reset?ui_locales=en', { csrf, identifier });
  expect(sent.status).toBe(303);
  await req(sent.headers.get('location')!);
  const code = await latestOutboxCode(outboxPath(h.config.dataDir), `+86${phone}`, 'reset_password');
  const done = await req('/password-reset/code?ui_locales=en', { csrf, code: code!, password, password_confirm: password });
  return done.status;
}
