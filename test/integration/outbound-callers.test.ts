/**
 * Every outbound caller goes through the one guarded client (src/outbound): a target on loopback,
 * a private network, the link-local metadata address, an IPv4 address written as IPv6, or a name
 * that resolves to loopback is refused before any connection is made, unless
 * `outbound.allowedNetworks` (YIHAO_OUTBOUND_ALLOW) names it. Each caller is driven through the
 * running app: jwks_uri (a kiosk's card login), sector_identifier_uri, back-channel logout,
 * federation discovery, the population registry, the SMS webhook and the audit export webhook.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as oidc from 'openid-client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, formField, go, page, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { parseCitizenId } from '../../src/identity/index.js';

const CALLERS = ['jwks', 'sector', 'backchannel', 'federation', 'registry', 'sms', 'audit'] as const;
type Caller = (typeof CALLERS)[number];

/** One receiver per caller, on every local address (IPv4 and IPv6), counting what reaches it. */
interface Receiver {
  port: number;
  hits: string[];
  server: Server;
}
const receivers = {} as Record<Caller, Receiver>;

const TARGETS = [
  { kind: 'loopback', host: '127.0.0.1', reachable: true },
  { kind: 'IPv4-mapped IPv6 loopback', host: '[::ffff:127.0.0.1]', reachable: true },
  { kind: 'a name that resolves to loopback', host: 'localhost', reachable: true },
  { kind: 'private (10/8)', host: '10.0.0.1', reachable: false },
  { kind: 'link-local metadata service', host: '169.254.169.254', reachable: false },
] as const;
type Target = (typeof TARGETS)[number];

const url = (t: Target, caller: Caller, path = '/', scheme = 'http') => `${scheme}://${t.host}:${receivers[caller].port}${path}`;

beforeAll(async () => {
  for (const caller of CALLERS) {
    const hits: string[] = [];
    const server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => res.writeHead(caller === 'registry' ? 200 : 204, { 'content-type': 'application/json' }).end(caller === 'registry' ? '{"result":"unknown"}' : undefined));
    });
    await new Promise<void>((r) => server.listen(0, '::', r));
    receivers[caller] = { port: (server.address() as AddressInfo).port, hits, server };
  }
});
afterAll(async () => {
  for (const r of Object.values(receivers)) {
    r.server.closeAllConnections();
    r.server.close();
  }
});

/** The app's log lines, to see the guard's own refusal (the unreachable targets cannot testify). */
function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const refusedFor = (lines: Record<string, unknown>[], caller: Caller) => lines.filter((l) => l.event === 'outbound.refused' && String(l.host).endsWith(`:${receivers[caller].port}`));

async function harnessFor(t: Target, allowedNetworks: string[], logger: pino.Logger): Promise<Harness> {
  const h = await startHarness({
    logger,
    overrides: (c) => ({
      ...c,
      outbound: { allowedNetworks },
      registry: { kind: 'http', endpoint: url(t, 'registry', '/verify'), timeoutMs: 1500, retries: 0, backoffMs: 0, phoneCheck: true },
      sms: { ...c.sms, sender: { kind: 'webhook', url: url(t, 'sms', '/sms'), timeoutMs: 1500, retries: 0, backoffMs: 0 } },
      audit: { ...c.audit, sealIntervalMs: 100, idleCheckpointSeconds: 1, export: { webhookUrl: url(t, 'audit', '/checkpoints') } },
      federation: { ...c.federation, timeoutMs: 1500 },
    }),
  });
  // Before any login page lists the upstreams (the list is cached for a few seconds).
  await h.yihao.federation.upstreams.add({ name: 'upstream', displayNameEn: 'Upstream', issuer: url(t, 'federation', '/op'), clientId: 'yihao', citizenIdClaim: 'citizen_id' }, 'secret-secret-secret');
  return h;
}

/** Drives each caller once at target `t`; returns nothing, the receivers and the log tell. */
const drive: Record<Caller, (h: Harness, t: Target) => Promise<unknown>> = {
  async jwks(h, t) {
    const citizen = await h.citizen();
    const kiosk = await simulatedKiosk(h, { jwks: undefined, jwksUri: url(t, 'jwks', '/jwks') });
    return kiosk.cardLogin(await kiosk.assertion({ citizenId: citizen.citizenId })).catch((e: unknown) => e);
  },
  async sector(h, t) {
    return h.client({ subjectType: 'pairwise', sectorIdentifierUri: url(t, 'sector', '/sector.json', 'https') }).catch((e: unknown) => e);
  },
  async backchannel(h, t) {
    const citizen = await h.citizen();
    const client = await h.client({ backchannelLogoutUri: url(t, 'backchannel', '/bc') });
    const rp = await relyingParty(h, client);
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(browser, await authorizationUrl(rp, verifier), { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    const confirm = await browser.request(oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token! }));
    const html = await confirm.text();
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    return browser.follow(new URL(/action="([^"]+)"/.exec(html)![1]!, h.issuer), { form: { xsrf, logout: 'yes' } });
  },
  async federation(h) {
    const rp = await relyingParty(h, await h.client({}));
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { ui_locales: 'en' }), new URL(h.issuer).origin));
    return browser.request(new URL(formAction(login.html, '/federation/upstream')!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
  },
  async registry(h) {
    return h.yihao.services.registry.verify({ citizenId: parseCitizenId(syntheticCitizenId()) as never, name: '张三' }).catch((e: unknown) => e);
  },
  async sms(h) {
    return h.yihao.services.otp.issue({ phone: '+8613800138000', purpose: 'login', clientIp: '192.0.2.7' }).catch((e: unknown) => e);
  },
  async audit(h) {
    // The sealer exports each checkpoint in the background; `settle` waits for it.
    await h.yihao.services.audit.append({ action: 'admin.test.exported', actorType: 'system' });
  },
};

/** Waits for a background caller (back-channel logout, audit export) to have acted. */
async function settle(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe.each(TARGETS)('outbound requests to $kind ($host)', (t) => {
  describe('refused when outbound.allowedNetworks does not name it', () => {
    let h: Harness;
    const log = captureLog();
    beforeAll(async () => {
      for (const r of Object.values(receivers)) r.hits.length = 0;
      h = await harnessFor(t, ['192.0.2.0/24'], log.logger);
    }, 60_000);
    afterAll(async () => h?.close());

    it.each(CALLERS)('%s: no connection is made, and the guard says why', async (caller) => {
      await drive[caller](h, t);
      await settle(() => refusedFor(log.lines, caller).length > 0);
      expect(receivers[caller].hits).toEqual([]);
      expect(refusedFor(log.lines, caller)[0]).toMatchObject({ event: 'outbound.refused', range: expect.any(String) });
    }, 60_000);
  });

  describe.runIf(t.reachable)('allowed when outbound.allowedNetworks names it', () => {
    let h: Harness;
    const log = captureLog();
    beforeAll(async () => {
      for (const r of Object.values(receivers)) r.hits.length = 0;
      h = await harnessFor(t, ['127.0.0.0/8', '::1/128'], log.logger);
    }, 60_000);
    afterAll(async () => h?.close());

    // sector_identifier_uri is https only, and this receiver speaks http: reaching it is the point.
    it.each(CALLERS.filter((c) => c !== 'sector'))('%s: the request arrives', async (caller) => {
      await drive[caller](h, t);
      await settle(() => receivers[caller].hits.length > 0);
      expect(receivers[caller].hits.length).toBeGreaterThan(0);
      expect(refusedFor(log.lines, caller)).toEqual([]);
    }, 60_000);
  });
});
