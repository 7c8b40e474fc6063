import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';

/**
 * WebAuthn binds a passkey to a host name (the RP ID); a browser refuses an IP address. With an
 * IP-address issuer Yihao says so at start and on the portal page, instead of offering a button
 * that can only end in "The passkey was not added".
 */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info', base: { service: 'yihao' } }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, warnings: () => lines.filter((l) => l.level === 40 && String(l.msg).includes('passkey')) };
}

async function credentialsPage(h: Harness, browser: ScriptedBrowser, who: Awaited<ReturnType<Harness['citizen']>>): Promise<string> {
  let { res, url } = await browser.follow(`${h.issuer}/account/credentials?ui_locales=en`);
  let page = await res.text();
  if (url.pathname.startsWith('/interaction/')) {
    ({ res, url } = await browser.follow(new URL(formAction(page, '/login')!, url), { form: { csrf: formField(page, 'csrf')!, identifier: who.citizenId, password: who.password } }));
    page = await res.text();
  }
  return page;
}

describe('a passkey needs a host name', () => {
  const ip = capturingLogger();
  const named = capturingLogger();
  let atIp: Harness;
  let atName: Harness;

  beforeAll(async () => {
    atIp = await startHarness({ logger: ip.logger });
    atName = await startHarness({ host: 'localhost', logger: named.logger });
  });
  afterAll(async () => {
    await atIp?.close();
    await atName?.close();
  });

  it('warns once at start when the issuer is an IP address, and not when it is a host name', () => {
    expect(ip.warnings()).toHaveLength(1);
    expect(String(ip.warnings()[0]!.msg)).toContain('host name');
    expect(named.warnings()).toHaveLength(0);
  });

  it('says on the portal page why passkeys cannot be added, offers no button, and refuses the ceremony', async () => {
    const citizen = await atIp.citizen();
    const browser = new ScriptedBrowser();
    const page = await credentialsPage(atIp, browser, citizen);
    expect(page).toContain('Passkeys need the service to be reached by a host name');
    expect(page).not.toContain('data-passkey="register"');
    const res = await browser.request(`${atIp.issuer}/account/passkeys/options`, { form: { csrf: formField(page, 'csrf')! } });
    expect(res.status).toBe(403);
  });

  it('offers the button at a host name', async () => {
    const citizen = await atName.citizen();
    const page = await credentialsPage(atName, new ScriptedBrowser(), citizen);
    expect(page).toContain('data-passkey="register"');
    expect(page).not.toContain('Passkeys need the service to be reached by a host name');
  });
});
