/**
 * An upstream that is down or slow: the login page says so clearly (zh-CN and en), the refusal is
 * audited, and password sign-in keeps working on the same page. Also: requests to upstreams obey
 * the outbound allowlist like every other outbound request.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { freePort, startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, formField, go, page, ScriptedBrowser, submit } from '../support/scripted-browser.js';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const MESSAGES = {
  'zh-CN': (name: string) => `暂时无法连接「${name}」，请稍后重试，或使用密码等其他方式登录。`,
  en: (name: string) => `${name} cannot be reached right now. Try again later, or sign in another way, such as with your password.`,
};

describe('federation: an upstream that is down or slow', () => {
  let h: Harness;
  let silent: net.Server;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] }, federation: { ...c.federation, timeoutMs: 700 } }) });
    // Accepts connections and never answers: a hung upstream.
    silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const closedPort = await freePort();
    const add = (name: string, displayNameEn: string, issuer: string) =>
      h.yihao.federation.upstreams.add({ name, displayName: `${displayNameEn}（中文）`, displayNameEn, issuer, clientId: 'yihao', citizenIdClaim: 'citizen_id' }, 's3cret-value');
    await add('down', 'Down Province', `http://127.0.0.1:${closedPort}`);
    await add('slow', 'Slow Province', `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    silent?.close();
    await h?.close();
  });

  for (const [upstream, label, reason, state] of [
    ['down', 'Down Province', 'unreachable', 'unreachable'],
    ['slow', 'Slow Province', 'timeout', 'too slow (times out)'],
  ] as const) {
    it(`says so in zh-CN and en when the upstream is ${state}, audits it, and password sign-in still works`, async () => {
      const citizen = await h.citizen();
      const rp = await relyingParty(h, await h.client({}));
      const origin = new URL(h.issuer).origin;
      for (const lang of ['zh-CN', 'en'] as const) {
        const browser = new ScriptedBrowser();
        const verifier = oidc.randomPKCECodeVerifier();
        const login = page(await go(browser, await authorizationUrl(rp, verifier, lang === 'en' ? { ui_locales: 'en' } : {}), origin));
        const started = Date.now();
        const res = await browser.request(new URL(formAction(login.html, `/federation/${upstream}`)!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(res.status).toBe(503);
        const html = await res.text();
        expect(alertOf(html)).toBe(MESSAGES[lang](lang === 'en' ? label : `${label}（中文）`));
        expect(html).toContain(`lang="${lang}"`);
        // The same page still signs in with a password.
        const after = { ...login, html };
        const done = await submit(browser, after, '/login', { identifier: citizen.citizenId, password: citizen.password }, origin);
        const finished = done.kind === 'page' && formAction(done.html, '/confirm') ? await submit(browser, done, '/confirm', {}, origin) : done;
        expect(finished.kind).toBe('rp');
        const tokens = await oidc.authorizationCodeGrant(rp, finished.url, { pkceCodeVerifier: verifier });
        expect(tokens.claims()!.sub).toBe(citizen.sub);
      }
      const rows = await h.yihao.stores.db('audit_events').where({ action: 'federation.unavailable' }).select('details');
      expect(rows.map((r: { details: string }) => JSON.parse(r.details)).filter((d: { upstream: string }) => d.upstream === upstream)).toEqual([
        { upstream, reason },
        { upstream, reason },
      ]);
    });
  }
});

describe('federation: requests to upstreams obey the outbound allowlist', () => {
  let h: Harness;
  let up: UpstreamOp;
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  it('refuses to reach an upstream on loopback when outbound.allowedNetworks does not name it', async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['10.0.0.0/8'] } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'province' });
    await h.yihao.federation.upstreams.add({ name: 'province', displayNameEn: 'Province', issuer: up.issuer, clientId: up.clientId, citizenIdClaim: 'citizen_id' }, up.clientSecret);
    const rp = await relyingParty(h, await h.client({}));
    const browser = new ScriptedBrowser();
    const login = page(await go(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { ui_locales: 'en' }), new URL(h.issuer).origin));
    const res = await browser.request(new URL(formAction(login.html, '/federation/province')!, login.url), { form: { csrf: formField(login.html, 'csrf')! } });
    expect(res.status).toBe(503);
    expect(alertOf(await res.text())).toBe(MESSAGES.en('Province'));
  });
});
