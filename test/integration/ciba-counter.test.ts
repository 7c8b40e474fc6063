/**
 * The counter channel through CIBA (poll mode), over HTTP: a counter system (a confidential client
 * authenticating with private_key_jwt, driven by openid-client) asks for a citizen by ID number with
 * a binding message; the simulated phone sees the message in its approvals inbox and approves or
 * denies it; the counter's tokens say channel counter, for the citizen's usual sub. And what must
 * NOT work: telling a known citizen from an unknown one, a denied or an expired request, a request
 * without a binding message; and the ID number never comes back or gets stored.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import type { ClientInput } from '../../src/clients/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { phoneWithDeviceKey, registerMobileApp, type MobileApp } from '../support/mobile-app.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { walkSignIn } from '../support/admin-operators.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { registerCounter } from '../support/counter-system.js';
import { hasOpenssl, makeCertificates } from '../support/certificates.js';

const CIBA = 'urn:openid:params:grant-type:ciba';
const LOA2 = 'urn:yihao:loa:2';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('counter channel: CIBA ($name)', ({ name, enabled }) => {
  let h: Harness;
  let app: { client_id: string };
  let counter: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    app = await registerMobileApp(h);
    counter = await registerCounter(h);
  });
  afterAll(async () => h?.close());

  const poll = (authReqId: string) => oidc.genericGrantRequest(counter, CIBA, { auth_req_id: authReqId });
  const pollError = async (authReqId: string) => {
    try {
      await poll(authReqId);
    } catch (e) {
      const { error, error_description } = e as { error?: string; error_description?: string };
      return { error, error_description };
    }
    throw new Error('expected an error');
  };
  const ask = (citizenId: string, extra: Record<string, string> = {}) =>
    oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: citizenId, binding_message: '窗口3-A7', ...extra });
  /** The approvals inbox entry for a CIBA request. */
  const inboxEntry = async (phone: MobileApp) => ((await phone.approvals()).json.requests as Record<string, unknown>[]).find((r) => r.kind === 'ciba');
  /** Time passes: the request's own expiry (its `exp`) is now behind us. */
  const expire = async (authReqId: string) => {
    const store = new h.yihao.services.Adapter('BackchannelAuthenticationRequest');
    const payload = (await store.find(authReqId))!;
    await store.upsert(authReqId, { ...payload, exp: Math.floor(Date.now() / 1000) - 1 }, 60);
  };

  it.skipIf(!enabled)('approved on the phone, where the binding message shows: tokens at loa:2 with amr swk and channel counter, for the sub the citizen has on the web and in the app', async () => {
    const { citizen, phone, firstClaims } = await phoneWithDeviceKey(h, app);
    const started = await ask(citizen.citizenId);
    expect(started.auth_req_id).toBeTruthy();
    expect(JSON.stringify(started)).not.toContain(citizen.citizenId);
    expect(await pollError(started.auth_req_id)).toMatchObject({ error: 'authorization_pending' });
    // The ID number was looked up, never kept with the request.
    const stored = await new h.yihao.services.Adapter('BackchannelAuthenticationRequest').find(started.auth_req_id);
    expect(stored).toBeDefined();
    expect(JSON.stringify(stored)).not.toContain(citizen.citizenId);

    const entry = await inboxEntry(phone);
    expect(entry).toMatchObject({ kind: 'ciba', client_name: '政务服务中心 3 号窗口', binding_message: '窗口3-A7', status: 'pending' });
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 200, json: { status: 'approved' } });

    const tokens = await poll(started.auth_req_id);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({ sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'counter' });
    // One person, one sub (public subjects): the same in the app's first sign-in.
    expect(claims.sub).toBe(firstClaims.sub);
    const userinfo = await oidc.fetchUserInfo(counter, tokens.access_token, citizen.sub);
    expect(userinfo).toMatchObject({ sub: citizen.sub, name: citizen.name, channel: 'counter' });
    expect(await oidc.tokenIntrospection(counter, tokens.access_token)).toMatchObject({ active: true, sub: citizen.sub, acr: LOA2, amr: ['swk'], channel: 'counter', auth_time: claims.auth_time });
    // Used once.
    expect(await pollError(started.auth_req_id)).toMatchObject({ error: 'invalid_grant' });

    // Nor in the audit log.
    const events = await h.yihao.services.audit.forAccount(citizen.sub);
    const audit = JSON.stringify(events);
    expect(audit).toContain('ciba.requested');
    expect(audit).not.toContain(citizen.citizenId);
    // The sign-in it made is audited as one, at the counter (metrics and the console's dashboard count it).
    expect(events.filter((e) => e.action === 'login.succeeded' && e.channel === 'counter')).toEqual([
      expect.objectContaining({ clientId: counter.clientMetadata().client_id, accountId: citizen.sub, details: expect.objectContaining({ method: 'ciba', amr: ['swk'], acr: LOA2 }) }),
    ]);
  });

  it.skipIf(!enabled)('removing the phone whose key approved a counter sign-in ends that sign-in: its tokens die at once', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const started = await ask(citizen.citizenId);
    const entry = await inboxEntry(phone);
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 200 });
    const tokens = await poll(started.auth_req_id);
    expect(await oidc.tokenIntrospection(counter, tokens.access_token)).toMatchObject({ active: true, sub: citizen.sub });

    expect((await phone.call('DELETE', `/mobile/device-keys/${phone.deviceKeyId}`)).status).toBe(204);
    expect(await oidc.tokenIntrospection(counter, tokens.access_token)).toMatchObject({ active: false });
    await expect(oidc.fetchUserInfo(counter, tokens.access_token, citizen.sub)).rejects.toBeDefined();
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).find((e) => e.action === 'session.ended' && e.details?.reason === 'device_key_revoked')).toMatchObject({ details: { grants: 1 } });
  });

  it.skipIf(!enabled)('takes only an ID number: an ID token kept from an earlier sign-in (id_token_hint) reaches nobody, so it neither skips the counter-channel check nor finds a citizen without their number', async () => {
    const keys = await generateKeyPair('ES256', { extractable: true });
    // A client that signs citizens in on the web, and may ask by CIBA, but not on the counter channel.
    const { client_id: clientId } = await h.yihao.clients.create({
      kind: 'ciba',
      name: '网上办事大厅',
      jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'web-1', use: 'sig', alg: 'ES256' }] },
      scope: 'openid profile',
      allowedChannels: ['web'],
      grantTypes: [CIBA, 'authorization_code'],
      redirectUris: [REDIRECT],
    } as ClientInput);
    const web = await oidc.discovery(new URL(h.issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: keys.privateKey, kid: 'web-1' }), { execute: [oidc.allowInsecureRequests] });
    const { citizen, phone, totpSecret } = await phoneWithDeviceKey(h, app);
    const verifier = oidc.randomPKCECodeVerifier();
    const { url, html } = await walkSignIn(new ScriptedBrowser(), await authorizationUrl(web, verifier, { scope: 'openid', ui_locales: 'en' }), { ...citizen, totpSecret }, (u) => u.href.startsWith(REDIRECT));
    expect(html).toBeUndefined();
    const idToken = (await oidc.authorizationCodeGrant(web, url, { pkceCodeVerifier: verifier })).id_token!;

    await expect(oidc.initiateBackchannelAuthentication(web, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A1' })).rejects.toMatchObject({ error: 'unauthorized_client' });
    await expect(oidc.initiateBackchannelAuthentication(web, { scope: 'openid', id_token_hint: idToken, binding_message: 'A1' })).rejects.toMatchObject({ error: 'unauthorized_client' });
    // A counter system too asks by the number of the citizen in front of it, never by a kept ID token.
    await expect(oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', id_token_hint: idToken, binding_message: 'A1' })).rejects.toMatchObject({ error: 'invalid_request' });
    expect(((await phone.approvals()).json.requests as unknown[]).length).toBe(0);
  });

  it.skipIf(!enabled)('denied on the phone: access_denied, and no tokens', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const started = await ask(citizen.citizenId);
    const entry = await inboxEntry(phone);
    expect(await phone.decide(entry!.id as string, 'deny')).toMatchObject({ status: 200, json: { status: 'denied' } });
    expect(await pollError(started.auth_req_id)).toMatchObject({ error: 'access_denied' });
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 409 });
    expect((await h.yihao.services.audit.forAccount(citizen.sub)).filter((e) => e.channel === 'counter' && e.action === 'login.succeeded')).toEqual([]);
  });

  it.skipIf(!enabled)('expired: expired_token, and the phone can no longer approve it', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    const started = await ask(citizen.citizenId);
    const entry = await inboxEntry(phone);
    await expire(started.auth_req_id);
    await h.yihao.stores.db('approval_requests').where({ id: entry!.id as string }).update({ expires_at: Date.now() - 1 });
    expect(await pollError(started.auth_req_id)).toMatchObject({ error: 'expired_token' });
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 410, json: { error: 'expired' } });
    expect((await phone.approvals()).json.requests).toEqual([]);
  });

  it.skipIf(!enabled)('an unknown citizen gets the same answers as a known one who does not respond: an auth_req_id, authorization_pending, then expired_token', async () => {
    const known = await phoneWithDeviceKey(h, app);
    const noPhone = await h.citizen();
    const unknownId = syntheticCitizenId();
    const runs = [];
    for (const citizenId of [known.citizen.citizenId, noPhone.citizenId, unknownId]) {
      const started = await ask(citizenId);
      const shape = Object.keys(started).sort();
      const pending = await pollError(started.auth_req_id);
      await expire(started.auth_req_id);
      const expired = await pollError(started.auth_req_id);
      runs.push({ shape, expiresIn: started.expires_in, pending, expired });
    }
    expect(runs[0]).toEqual({ shape: ['auth_req_id', 'expires_in'], expiresIn: expect.any(Number), pending: expect.objectContaining({ error: 'authorization_pending' }), expired: expect.objectContaining({ error: 'expired_token' }) });
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    // Nothing reached anyone's inbox for the unknown number or the citizen without a phone.
    const inbox = await h.yihao.stores.db('approval_requests').where({ kind: 'ciba', client_id: counter.clientMetadata().client_id }).whereNotNull('account_id');
    const accountIds = new Set(inbox.map((r: { account_id: string }) => r.account_id));
    const noPhoneAccount = await h.yihao.accounts.findBySub(noPhone.sub);
    expect(accountIds.has(noPhoneAccount!.id)).toBe(false);
  });

  it.skipIf(!enabled)('refuses a request without a binding message, and a malformed ID number without echoing it', async () => {
    const { citizen } = await phoneWithDeviceKey(h, app);
    await expect(oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: citizen.citizenId })).rejects.toMatchObject({ error: 'invalid_binding_message' });
    const malformed = `${citizen.citizenId.slice(0, 17)}${citizen.citizenId.endsWith('1') ? '2' : '1'}`;
    const refused = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: malformed, binding_message: 'A1' }).catch((e: unknown) => e as { error: string; error_description: string });
    expect(refused).toMatchObject({ error: 'invalid_request' });
    expect(JSON.stringify(refused)).not.toContain(malformed);
  });

  it.skipIf(!enabled)('answers malformed backchannel requests with OAuth errors, never a 5xx', async () => {
    const endpoint = new URL('/backchannel', h.issuer);
    expect((await fetch(endpoint)).status).toBeLessThan(500);
    const anonymous = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'scope=openid&login_hint=x' });
    expect(anonymous.status).toBe(400);
    expect(await anonymous.json()).toMatchObject({ error: 'invalid_request' });
    const { citizen } = await phoneWithDeviceKey(h, app);
    const cases: Record<string, string>[] = [{ scope: 'openid', binding_message: 'A1' }, { scope: 'openid', login_hint_token: 'x', binding_message: 'A1' }, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A1', user_code: '1234' }, { scope: 'openid', login_hint: 'x'.repeat(5000), binding_message: 'A1' }, { scope: 'openid', login_hint: citizen.citizenId, binding_message: '<script>' }];
    for (const params of cases) {
      const refused = await oidc.initiateBackchannelAuthentication(counter, params).catch((e: unknown) => e as { error?: string; status?: number });
      expect(refused).toMatchObject({ error: expect.stringMatching(/^invalid_/) });
    }
  });

  it.skipIf(!enabled)('discovery says what the backchannel endpoint does with user_code: not supported, and a request with one is refused', async () => {
    const meta = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.backchannel_user_code_parameter_supported).toBe(false);
    const { citizen } = await phoneWithDeviceKey(h, app);
    const refused = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A1', user_code: '1234' }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ error: 'invalid_request', error_description: 'user_code is not supported' });
  });

  it.skipIf(!enabled)('refuses a counter system that does not accept the counter channel (allowed_channels)', async () => {
    const webOnly = await registerCounter(h, { allowedChannels: ['web'] });
    const { citizen } = await phoneWithDeviceKey(h, app);
    await expect(oidc.initiateBackchannelAuthentication(webOnly, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'A1' })).rejects.toMatchObject({ error: 'unauthorized_client' });
  });

  it.skipIf(!enabled)('discovery advertises CIBA (poll and ping), the device-key grant, the acr values and the channels', async () => {
    const rp = await relyingParty(h, await h.client({ name: 'any' }));
    const meta = rp.serverMetadata();
    expect(meta.backchannel_authentication_endpoint).toBe(`${h.issuer}/backchannel`);
    expect(meta.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining([CIBA, 'urn:ietf:params:oauth:grant-type:jwt-bearer']));
    expect(meta.acr_values_supported).toEqual(expect.arrayContaining([LOA2]));
    expect(meta.channels_supported).toEqual(expect.arrayContaining(['web', 'mobile', 'counter']));
    expect(meta.device_key_challenge_endpoint).toBe(`${h.issuer}/mobile/challenge`);
    expect(meta.approvals_endpoint).toBe(`${h.issuer}/mobile/approvals`);
  });
});

describe.skipIf(!hasOpenssl)('counter channel: CIBA in ping mode (https notification endpoint, the operator trusts its CA)', () => {
  let dir: string;
  let receiver: https.Server;
  let h: Harness;
  const pings: { authorization: string | undefined; body: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-ciba-ping-'));
    const pems = makeCertificates(dir);
    writeFileSync(join(dir, 'trusted-ca.pem'), pems.ca);
    receiver = https.createServer({ key: pems.serverKey, cert: pems.serverCert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        pings.push({ authorization: req.headers.authorization, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    h = await startHarness({ overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'], trustedCaFile: join(dir, 'trusted-ca.pem') } }) });
  });
  afterAll(async () => {
    await h?.close();
    receiver?.closeAllConnections();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('pings the counter system once the citizen approves; its token request then gets channel counter', async () => {
    const { citizen, phone } = await phoneWithDeviceKey(h, await registerMobileApp(h));
    const endpoint = `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/ciba-ping`;
    const counter = await registerCounter(h, { cibaMode: 'ping', notificationEndpoint: endpoint });
    const notificationToken = randomBytes(24).toString('base64url');
    const started = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid', login_hint: citizen.citizenId, binding_message: 'B-12', client_notification_token: notificationToken });
    expect(await oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id }).catch((e: unknown) => (e as { error: string }).error)).toBe('authorization_pending');
    const entry = ((await phone.approvals()).json.requests as Record<string, unknown>[]).find((r) => r.kind === 'ciba');
    expect(entry).toMatchObject({ binding_message: 'B-12' });
    expect(pings).toEqual([]);
    await phone.decide(entry!.id as string, 'approve');
    for (let i = 0; i < 50 && pings.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(pings).toHaveLength(1);
    expect(pings[0]!.authorization).toBe(`Bearer ${notificationToken}`);
    expect(JSON.parse(pings[0]!.body)).toEqual({ auth_req_id: started.auth_req_id });
    const tokens = await oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id });
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: LOA2, channel: 'counter' });
  });
});
