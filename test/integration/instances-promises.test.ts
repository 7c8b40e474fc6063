/**
 * Promises across instances: two instances on one PostgreSQL schema and one Redis prefix. Each test
 * acts on instance A and then uses what it changed on instance B, which had it cached, asserting the
 * secure behaviour (with the bounded delay docs/security.md and docs/operations.md state, where one
 * is stated): a suspended client, a rotated secret, a changed redirect URI, a disabled or signed-out
 * account, rotated signing keys, an SMS code's tries, a removed device key, a deaf subscriber. All
 * held when a review wrote them.
 */
import { Redis } from 'ioredis';
import { REDIS_URL } from '../support/services.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Operator } from '../../src/admin/index.js';
import { latestOutboxCode, outboxPath } from '../../src/sms/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { REDIRECT, authorizationUrl } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { registerMobileApp, phoneWithDeviceKey, MobileApp } from '../support/mobile-app.js';

const enabled = pgAvailable && redisAvailable;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!enabled)('promises across two instances (postgres+redis)', () => {
  let a: Harness;
  let b: Harness;
  let ops: { deptAdmin: Operator; reviewer: Operator; superAdmin: Operator };
  let nationId: string;

  beforeAll(async () => {
    a = await startHarness({ backend: 'postgres+redis' });
    b = await startHarness({ share: a });
    const boot = a.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    nationId = nation.id;
    const mk = async (role: 'dept-admin' | 'reviewer' | 'super-admin', name: string) => {
      const c = await a.citizen({ name });
      await boot.grantRole({ identifier: c.sub, role, departmentId: nation.id });
      return boot.operatorFor(c.sub);
    };
    ops = { deptAdmin: await mk('dept-admin', '部门管理员'), reviewer: await mk('reviewer', '审核员'), superAdmin: await mk('super-admin', '总管理员') };
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
  }, 30_000);

  /** An active client registered and approved through A's admin services. */
  async function activeClient(settings: Record<string, unknown>): Promise<{ clientId: string; secret: string }> {
    const svc = a.yihao.admin.services.clients;
    const made = await svc.create(ops.deptAdmin, { department_id: nationId, settings: { client_name: '审查应用', scope: 'openid profile', ...settings } });
    const submitted = await svc.submit(ops.deptAdmin, made.change.id);
    const approved = await svc.approve(ops.reviewer, made.change.id, { revision: submitted.revision });
    expect(approved.client.status).toBe('active');
    return { clientId: made.client.clientId, secret: made.clientSecret! };
  }

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const ccToken = async (h: Harness, c: { clientId: string; secret: string }) =>
    fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(c.clientId, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=openid',
    });

  /** openid-client talking to instance `h` (same issuer). */
  async function rpAt(h: Harness, c: { clientId: string; secret?: string }): Promise<oidc.Configuration> {
    const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(a.issuer, h.url), options as RequestInit);
    const rp = await oidc.discovery(new URL(a.issuer), c.clientId, c.secret, undefined, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
    rp[oidc.customFetch] = toInstance;
    return rp;
  }

  /** A browser whose requests to the issuer go to `at.h` (switchable: a load balancer's choice). */
  const browserAt = (at: { h: Harness }) => new ScriptedBrowser((u, init) => fetch(new URL(u.href.replace(a.issuer, at.h.url)), init));

  async function signInAt(h: Harness, c: { clientId: string; secret: string }, citizen: { citizenId: string; password: string }) {
    const route = { h };
    const browser = browserAt(route);
    const rp = await rpAt(h, c);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier);
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    return { tokens: await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }), browser, route, rp };
  }

  const userinfoStatus = async (h: Harness, at: string) => (await fetch(`${h.url}/me`, { headers: { authorization: `Bearer ${at}` } })).status;
  const introspect = async (h: Harness, c: { clientId: string; secret: string }, token: string) =>
    (await (
      await fetch(`${h.url}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic(c.clientId, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      })
    ).json()) as { active: boolean };
  const refreshStatus = async (h: Harness, c: { clientId: string; secret: string }, rt: string) =>
    (
      await fetch(`${h.url}/token`, {
        method: 'POST',
        headers: { authorization: basic(c.clientId, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(),
      })
    ).status;
  /** prompt=none with the browser's SSO session (routed to B by the caller): whether a code came back. */
  async function silentCode(h: Harness, c: { clientId: string; secret: string }, browser: ScriptedBrowser): Promise<boolean> {
    const rp = await rpAt(h, c);
    const url = await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { prompt: 'none' });
    const { url: landed } = await browser.follow(url);
    return Boolean(landed.searchParams.get('code'));
  }

  it('a client suspended on A is refused by B at once (B had it cached)', async () => {
    const c = await activeClient({ grant_types: ['client_credentials'], redirect_uris: [] });
    expect((await ccToken(b, c)).status).toBe(200); // B caches the client
    expect((await ccToken(b, c)).status).toBe(200);
    await a.yihao.admin.services.clients.suspend(ops.deptAdmin, c.clientId, { reason: '密钥泄露' });
    expect((await ccToken(b, c)).status).toBe(401);
    expect((await ccToken(a, c)).status).toBe(401);
  }, 40_000);

  it('a client secret rotated on A without grace stops working on B at once', async () => {
    const c = await activeClient({ grant_types: ['client_credentials'], redirect_uris: [] });
    expect((await ccToken(b, c)).status).toBe(200);
    const rotated = await a.yihao.admin.services.clients.rotateSecret(ops.deptAdmin, c.clientId, { grace_seconds: 0 });
    expect((await ccToken(b, c)).status).toBe(401);
    expect((await ccToken(b, { clientId: c.clientId, secret: rotated.clientSecret })).status).toBe(200);
  }, 40_000);

  it('a redirect URI removed on A is refused by B at once', async () => {
    const c = await activeClient({ redirect_uris: [REDIRECT] });
    const rp = await rpAt(b, c);
    const authAtB = async () => {
      const url = new URL((await authorizationUrl(rp, oidc.randomPKCECodeVerifier())).href.replace(a.issuer, b.url));
      return fetch(url, { redirect: 'manual' });
    };
    const before = await authAtB();
    expect(before.status).toBeLessThan(400); // B knows the client (and caches it)
    const svc = a.yihao.admin.services.clients;
    const change = await svc.propose(ops.deptAdmin, c.clientId, { client_name: '审查应用', scope: 'openid profile', redirect_uris: ['http://127.0.0.1:9/other'] });
    const submitted = await svc.submit(ops.deptAdmin, change.id);
    await svc.approve(ops.reviewer, change.id, { revision: submitted.revision });
    const after = await authAtB();
    const location = after.headers.get('location') ?? '';
    // Refused: an error page, never a redirect to the removed URI.
    expect(location.startsWith(REDIRECT)).toBe(false);
    expect(after.status).toBe(400);
  }, 40_000);

  it.each([
    ['an account disabled on A', (sub: string) => a.yihao.admin.services.accounts.disable(ops.superAdmin, sub, { reason: 'fraud' })],
    ['signed out everywhere on A', (sub: string) => a.yihao.signOut.everywhere(sub)],
  ] as const)('%s: B refuses the refresh token, userinfo, introspection and SSO at once', async (_what, act) => {
    const c = await activeClient({ redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'] });
    const citizen = await a.citizen();
    const { tokens, browser, route } = await signInAt(a, c, citizen);
    route.h = b;
    expect(await silentCode(b, c, browser)).toBe(true);
    expect(await userinfoStatus(b, tokens.access_token)).toBe(200);
    expect((await introspect(b, c, tokens.access_token)).active).toBe(true);
    await act(citizen.sub);
    expect(await userinfoStatus(b, tokens.access_token)).toBe(401);
    expect((await introspect(b, c, tokens.access_token)).active).toBe(false);
    expect(await refreshStatus(b, c, tokens.refresh_token!)).toBe(400);
    expect(await silentCode(b, c, browser)).toBe(false);
  }, 40_000);

  it('a signing-key rotation on A: within keys.refreshSeconds B signs with the new key and trusts A’s tokens', async () => {
    const c = await activeClient({ redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'] });
    const citizen = await a.citizen();
    const rotated = await a.yihao.signingKeys.rotate();
    const newKid = rotated.find((k) => k.alg === 'ES256')!.kid;
    await sleep(a.config.keys.refreshSeconds * 1000 + 1_500);
    const jwksB = (await (await fetch(`${b.url}/jwks`)).json()) as JSONWebKeySet;
    expect(jwksB.keys.map((k) => k.kid)).toContain(newKid);
    const fromB = (await signInAt(b, c, citizen)).tokens.id_token!;
    expect(decodeProtectedHeader(fromB).kid).toBe(newKid);
    const fromA = (await signInAt(a, c, citizen)).tokens.id_token!;
    expect(decodeProtectedHeader(fromA).kid).toBe(newKid);
    await jwtVerify(fromA, createLocalJWKSet(jwksB));
  }, 40_000);

  it('an SMS code issued on A allows no more guesses across A and B than on one instance, and is used once', async () => {
    const phone = `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    await a.yihao.services.otp.issue({ phone, purpose: 'register', clientIp: '198.51.100.7' });
    const code = (await latestOutboxCode(outboxPath(a.config.dataDir), `+86${phone}`, 'register'))!;
    expect(code).toMatch(/^\d{6}$/);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++) expect(await (i % 2 ? a : b).yihao.services.otp.verify({ phone, purpose: 'register', code: wrong })).toBe('invalid');
    expect(await b.yihao.services.otp.verify({ phone, purpose: 'register', code })).toBe('too_many_attempts');

    const phone2 = `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    await a.yihao.services.otp.issue({ phone: phone2, purpose: 'register', clientIp: '198.51.100.8' });
    const code2 = (await latestOutboxCode(outboxPath(a.config.dataDir), `+86${phone2}`, 'register'))!;
    const both = await Promise.all([a.yihao.services.otp.verify({ phone: phone2, purpose: 'register', code: code2 }), b.yihao.services.otp.verify({ phone: phone2, purpose: 'register', code: code2 })]);
    expect(both.filter((x) => x === 'ok')).toHaveLength(1);
  }, 40_000);

  it('a device key removed on A no longer signs in on B', async () => {
    const app = await registerMobileApp(a);
    const { phone } = await phoneWithDeviceKey(a, app);
    const keyId = phone.deviceKeyId!;
    // A second phone session talking to B, with the same device key, signs in there once (B warms).
    const onB = await MobileApp.create(b, app);
    onB.deviceKeys = phone.deviceKeys;
    onB.deviceJwk = phone.deviceJwk;
    onB.deviceKeyId = keyId;
    const first = await onB.loginWithDeviceKey();
    expect(first.access_token).toBeTruthy();
    expect((await phone.call('DELETE', `/mobile/device-keys/${keyId}`)).status).toBe(204);
    let refused = false;
    try {
      await onB.loginWithDeviceKey();
    } catch {
      refused = true;
    }
    expect(refused).toBe(true);
    // B's earlier device-key login is dead too (its DPoP-bound token, through B's app API).
    onB.accessToken = first.access_token;
    expect((await onB.call('GET', '/mobile/device-keys')).status).toBe(401);
  }, 40_000);
  it('a client suspended on A while B’s pub/sub subscriber lost its connection is refused by B at once', async () => {
    const c = await activeClient({ grant_types: ['client_credentials'], redirect_uris: [] });
    expect((await ccToken(b, c)).status).toBe(200);
    expect((await ccToken(b, c)).status).toBe(200);
    const admin = new Redis(REDIS_URL);
    try {
      await admin.client('KILL', 'TYPE', 'pubsub');
      await a.yihao.admin.services.clients.suspend(ops.deptAdmin, c.clientId, { reason: '密钥泄露' });
      expect((await ccToken(b, c)).status).toBe(401);
      await sleep(1_000);
      expect((await ccToken(b, c)).status).toBe(401);
    } finally {
      await admin.quit();
    }
  }, 40_000);
});
