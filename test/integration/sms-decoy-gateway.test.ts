/**
 * A stranger who asks for an SMS sign-in code cannot tell whether a number has an account by the
 * SMS gateway: neither by how long the answer takes (a real code waited for the gateway's round
 * trip, a decoy answered at once) nor by an outage (only real numbers got "SMS unavailable"). Real
 * codes now go out after the answer, as a decoy sends nothing. The gateway here is a local webhook
 * that takes 5 s to answer, and then fails. Since no answer waits for the gateway, an operator sees
 * an outage in the metrics (`yihao_sms_sends_total{result="failed"}`) and the log.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep } from '../support/scripted-browser.js';

const GATEWAY_MS = 5000;
const METRICS_TOKEN = 'sms-gateway-test-metrics-token-0123456789abcdef';
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
        metricsToken: METRICS_TOKEN,
        outbound: { ...c.outbound, allowedNetworks: ['127.0.0.0/8'] },
        sms: { ...c.sms, sender: { kind: 'webhook', url, timeoutMs: 8000, retries: 0, backoffMs: 0 }, limits: { ...c.sms.limits, perIp: { max: 100, windowSeconds: 3600 } } },
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

  /** Waits (up to 15 s) until the gateway has been asked `n` times in all. */
  async function gatewayReached(n: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (received < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toBe(n);
  }

  /** `yihao_sms_sends_total` for one purpose and result, as a scrape of /metrics reads it. */
  async function smsSends(purpose: string, result: 'sent' | 'failed'): Promise<number> {
    const text = await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    return Number(new RegExp(`^yihao_sms_sends_total\\{purpose="${purpose}",result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  }

  /** Waits (up to 15 s: the gateway answers after 5) until the counter reaches `n`. */
  async function smsSendsReach(purpose: string, result: 'sent' | 'failed', n: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await smsSends(purpose, result)) < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await smsSends(purpose, result)).toBe(n);
  }

  it('answers a registered number without waiting for the gateway, as it answers one with no account, and the code still goes out', { timeout: 60_000 }, async () => {
    const phone = freshPhone();
    await h.citizen({ phone });
    const before = received;
    const real = await ask(phone);
    const decoy = await ask(freshPhone());
    expect(real.answer).toEqual(decoy.answer);
    expect(real.answer[0]).toBe(200);
    // The gateway takes 5 s: an answer before that did not wait for it (an upper bound that holds on
    // a loaded machine, where one page takes milliseconds to a few hundred).
    expect(real.ms).toBeLessThan(GATEWAY_MS);
    await gatewayReached(before + 1);
    await smsSendsReach('login', 'sent', 1);
    expect(await smsSends('login', 'failed')).toBe(0);
  });

  it('answers alike while the gateway is failing: no "SMS unavailable" for registered numbers only', { timeout: 60_000 }, async () => {
    gatewayStatus = 503;
    const phone = freshPhone();
    await h.citizen({ phone });
    const before = received;
    const real = await ask(phone);
    await gatewayReached(before + 1);
    // The operator sees the failure the citizen is not told of.
    await smsSendsReach('login', 'failed', 1);
    // After the failed send, too: nothing the gateway did shows in either answer.
    await new Promise((resolve) => setTimeout(resolve, GATEWAY_MS + 500));
    const decoy = await ask(freshPhone());
    expect(decoy.answer).toEqual(real.answer);
    const again = freshPhone();
    await h.citizen({ phone: again });
    expect((await ask(again)).answer).toEqual(real.answer);

    // A password reset asked for by ID number: alike too, with the gateway still failing.
    const resetAnswer = async (identifier: string) => {
      const browser = new ScriptedBrowser();
      const form = await browser.request(new URL('/password-reset?ui_locales=en', h.url));
      const csrf = formField(await form.text(), 'csrf')!;
      const sent = await browser.request(new URL('/password-reset?ui_locales=en', h.url), { form: { csrf, identifier } });
      const next = sent.status === 303 ? await browser.request(new URL(sent.headers.get('location')!, h.url)) : sent;
      const html = await next.text();
      return [sent.status, next.status, (alertOf(html) ?? /role="status"[^>]*>([^<]+)</.exec(html)?.[1])?.replace(/\d+/g, 'N')];
    };
    const registered = await h.citizen({ phone: freshPhone() });
    const known = await resetAnswer(registered.citizenId);
    expect(known[0]).toBe(303);
    expect(await resetAnswer(syntheticCitizenId())).toEqual(known);
    gatewayStatus = 200;
  });
});
