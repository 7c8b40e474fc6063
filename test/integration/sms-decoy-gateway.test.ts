/**
 * A stranger who asks for an SMS sign-in code cannot tell whether a number has an account by the
 * SMS gateway: neither by how long the answer takes (a real code waits for the gateway's round
 * trip, a decoy used to answer at once) nor by an outage (only real numbers used to get "SMS
 * unavailable"). The gateway here is a local webhook that takes 600 ms, and then fails.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, go as walk, page, ScriptedBrowser, submit as post, type PageStep } from '../support/scripted-browser.js';

const GATEWAY_MS = 600;
let phoneCounter = 0;
const freshPhone = () => `136${String(process.pid % 10_000).padStart(4, '0')}${String(++phoneCounter).padStart(4, '0')}`;

describe('SMS sign-in: the gateway tells a stranger nothing about whether a number has an account', () => {
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;
  let gateway: Server;
  let gatewayStatus = 200;
  let received = 0;

  beforeAll(async () => {
    gateway = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        setTimeout(() => {
          res.writeHead(gatewayStatus, { 'content-type': 'application/json' });
          res.end('{}');
        }, GATEWAY_MS);
      });
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/sms`;
    h = await startHarness({
      overrides: (c: Config) => ({
        ...c,
        outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] },
        sms: { ...c.sms, sender: { kind: 'webhook', url, timeoutMs: 3000, retries: 0, backoffMs: 0 }, limits: { ...c.sms.limits, perIp: { max: 100, windowSeconds: 3600 } } },
      }),
    });
    origin = new URL(h.issuer).origin;
    rp = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true }));
  });
  afterAll(async () => {
    await h?.close();
    gateway?.closeAllConnections();
    await new Promise<void>((resolve) => (gateway ? gateway.close(() => resolve()) : resolve()));
  });

  /** Asks for a code for `phone` in a fresh interaction; the answer's status and text, and how long it took. */
  async function ask(phone: string): Promise<{ answer: (string | number | undefined)[]; ms: number }> {
    const browser = new ScriptedBrowser();
    const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid', ui_locales: 'en' });
    const login = page(await walk(browser, url, origin));
    const link = /<a href="([^"]+\/sms)">/.exec(login.html)![1]!;
    const sms = page(await walk(browser, new URL(link, login.url), origin));
    const started = performance.now();
    const step: PageStep = page(await post(browser, sms, '/sms', { phone }, origin));
    const ms = performance.now() - started;
    const text = (alertOf(step.html) ?? /role="status"[^>]*>([^<]+)</.exec(step.html)?.[1])?.replace(/\d+/g, 'N');
    return { answer: [step.status, text], ms };
  }

  it('takes as long for a number with no account as the gateway takes for a real one', async () => {
    // Real sends first: the decoys' waits are drawn from how long the gateway has taken lately.
    for (let i = 0; i < 3; i++) {
      const phone = freshPhone();
      await h.citizen({ phone });
      const real = await ask(phone);
      expect(real.answer[0]).toBe(200);
      expect(real.ms).toBeGreaterThanOrEqual(GATEWAY_MS);
    }
    const sent = received;
    const decoy = await ask(freshPhone());
    expect(decoy.answer[0]).toBe(200);
    // A lower bound only (a wait cannot be shorter): holds however busy the machine is.
    expect(decoy.ms).toBeGreaterThanOrEqual(GATEWAY_MS * 0.8);
    expect(received).toBe(sent);
  });

  it('answers "SMS unavailable" for a number with no account too while the gateway is failing', async () => {
    gatewayStatus = 503;
    const phone = freshPhone();
    await h.citizen({ phone });
    const real = await ask(phone);
    expect(real.answer[0]).toBe(503);
    const decoy = await ask(freshPhone());
    expect(decoy.answer).toEqual(real.answer);
    expect(decoy.ms).toBeGreaterThanOrEqual(GATEWAY_MS * 0.8);

    // Once the gateway answers again, so do the decoys.
    gatewayStatus = 200;
    const again = freshPhone();
    await h.citizen({ phone: again });
    expect((await ask(again)).answer[0]).toBe(200);
    expect((await ask(freshPhone())).answer[0]).toBe(200);
  });
});
