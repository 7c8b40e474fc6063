/**
 * A client's registered assurance requirements, end to end over HTTP with openid-client: its minimum
 * level (`min_acr`) steps a session up in place even when the request asks for less, and its allowed
 * channels (`allowed_channels`) send a session from another channel to sign in again (or get
 * `login_required` with prompt=none, and `unmet_authentication_requirements` when the web cannot
 * give what it accepts). Discovery advertises the levels and channels.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { generate } from 'otplib';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formField, go as walk, page, ScriptedBrowser, submit as post, type PageStep, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const LOA3 = 'urn:yihao:loa:3';

const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('client assurance requirements: min_acr and allowed_channels ($name)', ({ name, enabled }) => {
  let h: Harness;
  let origin: string;
  let plainApp: oidc.Configuration;
  const go = (browser: ScriptedBrowser, url: string | URL) => walk(browser, url, origin);
  const submit = (browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>) => post(browser, from, contains, fields, origin);

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    origin = new URL(h.issuer).origin;
    plainApp = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true }));
  });
  afterAll(async () => h?.close());

  async function begin(rp: oidc.Configuration, browser: ScriptedBrowser, extra: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid', state, ui_locales: 'en', ...extra });
    const redeem = async (step: Step) => {
      if (step.kind !== 'rp') throw new Error(`expected the relying party, got ${step.status} at ${step.url.pathname}: ${alertOf(step.html) ?? step.html.slice(0, 300)}`);
      return (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier, expectedState: state })).claims()!;
    };
    return { first: await go(browser, url), redeem };
  }

  /** A citizen with TOTP set up (through the same service the sign-in uses), signed in at loa:1 in `browser`. */
  async function signedInAtLoa1() {
    const citizen = await h.citizen();
    const mfa = h.yihao.services.secondFactors;
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const setup = `assurance-${citizen.sub}`;
    const record = await mfa.begin(setup, { accountId: account.id, sub: citizen.sub, stage: 'enrol', amr: ['pwd'], stepUp: false }, 60);
    const secret = (await mfa.enrolmentDisplay(setup, record, 'test')).secret.replace(/\s/g, '');
    expect((await mfa.confirmEnrolment(setup, record, await codeAt(secret, -1))).ok).toBe(true);
    await mfa.settle(setup);

    const browser = new ScriptedBrowser();
    const flow = await begin(plainApp, browser);
    const claims = await flow.redeem(await submit(browser, page(flow.first), '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA1, amr: ['pwd'], channel: 'web' });
    return { citizen, secret, browser };
  }

  it.skipIf(!enabled)("steps a loa:1 session up in place for a client whose registered minimum is loa:2, even when the request asks for loa:1", async () => {
    const { citizen, secret, browser } = await signedInAtLoa1();
    const strict = await relyingParty(h, await h.client({ name: '不动产登记', firstParty: true, minAcr: LOA2 }));

    const flow = await begin(strict, browser, { acr_values: LOA1 });
    const step = page(flow.first);
    expect(step.html).toContain('<h1>Two-step verification</h1>');
    expect(step.html).not.toContain('name="password"');
    const claims = await flow.redeem(await submit(browser, step, '/second-factor', { code: await codeAt(secret) }));
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['pwd', 'otp', 'mfa'], channel: 'web' });
    const events = (await h.yihao.services.audit.forAccount(citizen.sub)).map((e) => e.action);
    expect(events).toContain('login.step_up');
  });

  it.skipIf(!enabled)('answers login_required to prompt=none below the client minimum, and a client minimum of loa:3 with unmet_authentication_requirements on the web', async () => {
    const { browser } = await signedInAtLoa1();
    const strict = await relyingParty(h, await h.client({ name: '不动产登记', firstParty: true, minAcr: LOA2 }));
    const silent = await begin(strict, browser, { prompt: 'none' });
    expect(silent.first.kind).toBe('rp');
    expect(silent.first.url.searchParams.get('error')).toBe('login_required');

    const documentOnly = await relyingParty(h, await h.client({ name: '出入境', firstParty: true, minAcr: LOA3 }));
    const refused = await begin(documentOnly, browser);
    expect(refused.first.kind).toBe('rp');
    expect(refused.first.url.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(refused.first.url.searchParams.get('error_description')).toContain(LOA3);
  });

  it.skipIf(!enabled)("sends a web session to sign in again for a client that does not accept the web channel; with prompt=none it gets login_required", async () => {
    const { browser } = await signedInAtLoa1();
    const mobileOnly = await relyingParty(h, await h.client({ name: '掌上办', firstParty: true, allowedChannels: ['mobile'] }));

    const silent = await begin(mobileOnly, browser, { prompt: 'none' });
    expect(silent.first.url.searchParams.get('error')).toBe('login_required');

    // Signing in again goes straight to the mobile app's QR hand-off: the web forms cannot give a mobile session.
    const interactive = page((await begin(mobileOnly, browser)).first);
    expect(interactive.url.pathname).toMatch(/^\/interaction\/[^/]+\/qr$/);
    expect(interactive.status).toBe(200);
    // A password posted anyway ends the request: the client hears so instead of getting a web session.
    const posted = await browser.follow(new URL(interactive.url.pathname.replace(/\/qr$/, '/login'), h.issuer), {
      form: { csrf: formField(interactive.html, 'csrf')!, identifier: 'x', password: 'y' },
    });
    expect(posted.url.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(posted.url.searchParams.get('error_description')).toBe('this client accepts sign-ins only through: mobile');

    // A client that accepts the web gets the session as it is.
    const webApp = await relyingParty(h, await h.client({ name: '公积金', firstParty: true, allowedChannels: ['web', 'mobile'] }));
    const ok = await begin(webApp, browser);
    expect(ok.first.kind).toBe('rp');
    expect(await ok.redeem(ok.first)).toMatchObject({ acr: LOA1, channel: 'web' });
  });

  it.skipIf(!enabled)('sends a session from a channel the client does not accept to sign in again through one it accepts (web)', async () => {
    const { citizen, browser } = await signedInAtLoa1();
    // The browser's session as the QR hand-off would leave it: authenticated through the mobile app.
    const [session] = (await h.yihao.services.accountIndex.list(citizen.sub)).filter((e) => e.model === 'Session');
    const stored = new h.yihao.services.Adapter('SessionAuthentication');
    const auth = (await stored.find(session!.id))!;
    await stored.upsert(session!.id, { ...auth, channel: 'mobile', amr: ['hwk'], acr: LOA2 }, 3600);

    const webOnly = await relyingParty(h, await h.client({ name: '网上办事大厅', firstParty: true, allowedChannels: ['web'] }));
    const silent = await begin(webOnly, browser, { prompt: 'none' });
    expect(silent.first.url.searchParams.get('error')).toBe('login_required');

    const flow = await begin(webOnly, browser);
    const login = page(flow.first);
    expect(login.html).toContain('name="password"');
    const claims = await flow.redeem(await submit(browser, login, '/login', { identifier: citizen.citizenId, password: citizen.password }));
    expect(claims).toMatchObject({ sub: citizen.sub, channel: 'web', acr: LOA1, amr: ['pwd'] });

    // A client that accepts the mobile channel would have taken the session as it was; now it is a web one.
    const anyChannel = await relyingParty(h, await h.client({ name: '社保查询 2', firstParty: true }));
    const again = await begin(anyChannel, browser);
    expect(await again.redeem(again.first)).toMatchObject({ channel: 'web' });
  });

  it.skipIf(!enabled)('ends the interaction at once for a client that accepts only the kiosk: no web sign-in form is offered', async () => {
    const kioskOnly = await relyingParty(h, await h.client({ name: '自助终端应用', firstParty: true, allowedChannels: ['kiosk'] }));
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const res = await browser.request(await authorizationUrl(kioskOnly, verifier, { scope: 'openid' }));
    const interaction = new URL(res.headers.get('location')!, h.issuer);
    const show = await browser.request(interaction);
    expect(show.status).toBe(303);
    const back = await browser.follow(new URL(show.headers.get('location')!, h.issuer));
    expect(back.url.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it.skipIf(!enabled)('advertises the levels and channels in discovery', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.acr_values_supported).toEqual([LOA1, LOA2, LOA3]);
    expect(meta.channels_supported).toEqual(['web', 'mobile', 'kiosk', 'counter']);
  });

  it.skipIf(!enabled)('refuses bad registrations with a clear message', async () => {
    await expect(h.client({ minAcr: 'urn:yihao:loa:9' as never })).rejects.toThrow(/min_acr must be one of/);
    await expect(h.client({ allowedChannels: ['web', 'web'] as never })).rejects.toThrow(/^allowed_channels lists a channel twice$/);
    await expect(h.client({ allowedChannels: ['fax'] as never })).rejects.toThrow(/allowed_channels\.0 must be among web, mobile, kiosk, counter/);
  });
});

describe('yihao client create --min-acr --allowed-channel --jwks-file', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'yihao-assurance-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function yihao(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!(k === 'DATABASE_URL' || k === 'REDIS_URL' || k === 'LOG_LEVEL' || k.startsWith('YIHAO_'))) env[k] = v;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bin', 'yihao.js'), ...args], { cwd: root, env: { ...env, NODE_ENV: 'test', YIHAO_DATA_DIR: dir }, stdio: 'pipe' });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.stdin.end();
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('registers a kiosk with its keys, a minimum level and its channels; refuses bad values with exit code 2', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const jwksFile = join(dir, 'kiosk.jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256', use: 'sig', kid: 'k1' }] }));
    const made = await yihao([
      'client', 'create', '--name', '自助终端', '--grant-type', 'urn:yihao:grant-type:id-card', '--scope', 'openid profile',
      '--min-acr', LOA3, '--allowed-channel', 'kiosk', '--jwks-file', jwksFile, '--json',
    ]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const json = JSON.parse(made.stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ min_acr: LOA3, allowed_channels: ['kiosk'], token_endpoint_auth_method: 'private_key_jwt', grant_types: ['urn:yihao:grant-type:id-card'] });
    expect(json.client_secret).toBeUndefined();

    const badAcr = await yihao(['client', 'create', '--name', 'x', '--redirect-uri', 'https://a.example/cb', '--min-acr', 'loa2']);
    expect(badAcr.code).toBe(2);
    expect(badAcr.stderr).toContain(`yihao: --min-acr must be one of ${LOA1}, ${LOA2}, ${LOA3}\n`);
    const badChannel = await yihao(['client', 'create', '--name', 'x', '--redirect-uri', 'https://a.example/cb', '--allowed-channel', 'fax']);
    expect(badChannel.code).toBe(2);
    expect(badChannel.stderr).toContain('yihao: --allowed-channel must be among web, mobile, kiosk, counter\n');
  });
});
