/**
 * Every kind of client, registered only with `yihao client create --kind ...` (the compiled CLI, on
 * the started server's own store) and then used over HTTP with openid-client: a mobile app (public,
 * PKCE, DPoP-bound, device-key login), a CIBA counter system in poll and ping mode, a kiosk
 * (private_key_jwt, device flow), a counter system (token exchange) and a service (client
 * credentials). And what the CLI must refuse, with exit code 2 and nothing stored.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';
import { phoneWithDeviceKey } from '../support/mobile-app.js';
import { buildCli, hostedYihao, type CliRun } from '../support/yihao-cli.js';
import { kioskOf } from '../support/simulated-kiosk.js';

const CIBA = 'urn:openid:params:grant-type:ciba';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const ID_CARD = 'urn:yihao:grant-type:id-card';
const PRESENTATION = 'urn:yihao:grant-type:presentation';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

let h: Harness;
let dir: string;

const yihao = (args: string[]): Promise<CliRun> => hostedYihao(args, h.env, '', 60_000);

/** `client create ... --json`, which must succeed: its JSON object. */
async function create(args: string[]): Promise<Record<string, unknown>> {
  const run = await yihao(['client', 'create', ...args, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

/** Exit code 2, one line on stderr, nothing on stdout. */
function expectBadInput(run: CliRun, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(2);
}

/** An ES256 key pair and a JWK Set file holding its public half, as an operator makes for a kiosk or counter. */
async function keyFile(name: string): Promise<{ file: string; privateKey: CryptoKey; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `${name}-1`;
  const file = join(dir, `${name}.jwks.json`);
  writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }));
  return { file, privateKey, kid };
}

const rpWithKey = (clientId: string, key: { privateKey: CryptoKey; kid: string }) =>
  oidc.discovery(new URL(h.issuer), clientId, undefined, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }), { execute: [oidc.allowInsecureRequests] });

beforeAll(async () => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'yihao-kinds-'));
  h = await startHarness({ backend: 'sqlite' });
}, 180_000);
afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('yihao client create --kind', { timeout: 120_000 }, () => {
  it('registers a mobile app that is public, native and DPoP-bound; it signs in, enrols a device key and logs in with it', async () => {
    const app = await create(['--kind', 'mobile', '--name', '一号 App', '--redirect-uri', 'http://127.0.0.1/callback', '--first-party', '--scope', 'openid profile offline_access']);
    expect(app).toMatchObject({ application_type: 'native', token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true, grant_types: ['authorization_code', 'refresh_token', JWT_BEARER] });
    expect(app).not.toHaveProperty('client_secret');
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: app.client_id as string });
    const tokens = await phone.loginWithDeviceKey();
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
    // The token is bound to the phone's DPoP key: presented as a Bearer token, it is refused.
    const { userinfo_endpoint } = (await (await fetch(`${h.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string };
    const asBearer = await fetch(userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
  });

  it('registers a CIBA client in poll mode with private_key_jwt; the counter system asks, the citizen approves in a CLI-made app, and the poll gets tokens', async () => {
    const key = await keyFile('ciba');
    const made = await create(['--kind', 'ciba', '--name', '政务服务中心 5 号窗口', '--jwks-file', key.file, '--scope', 'openid profile']);
    expect(made).toMatchObject({ grant_types: [CIBA], backchannel_token_delivery_mode: 'poll', token_endpoint_auth_method: 'private_key_jwt', redirect_uris: [] });
    const counter = await rpWithKey(made.client_id as string, key);
    const app = await create(['--kind', 'mobile', '--name', '一号 App', '--redirect-uri', 'http://127.0.0.1/callback', '--first-party', '--scope', 'openid profile offline_access']);
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: app.client_id as string });
    const started = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: citizen.citizenId, binding_message: 'K-1' });
    expect(started.auth_req_id).toBeTruthy();
    await expect(oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id })).rejects.toMatchObject({ error: 'authorization_pending' });
    const entry = ((await phone.approvals()).json.requests as Record<string, unknown>[]).find((r) => r.kind === 'ciba');
    expect(entry).toMatchObject({ client_name: '政务服务中心 5 号窗口', binding_message: 'K-1' });
    expect(await phone.decide(entry!.id as string, 'approve')).toMatchObject({ status: 200 });
    const tokens = await oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id });
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, channel: 'counter' });
  });

  it('registers a CIBA client in ping mode when given a notification endpoint', async () => {
    const key = await keyFile('ping');
    const made = await create(['--kind', 'ciba', '--name', 'Ping counter', '--jwks-file', key.file, '--notification-endpoint', 'https://counter.example.gov.cn/ciba']);
    expect(made).toMatchObject({ backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://counter.example.gov.cn/ciba' });
  });

  it('registers a kiosk for the device flow and the ID-card grant with private_key_jwt; it starts a device authorization and signs a citizen in by card', async () => {
    const key = await keyFile('kiosk');
    const made = await create(['--kind', 'kiosk', '--name', '政务自助终端', '--jwks-file', key.file, '--scope', 'openid profile']);
    expect(made).toMatchObject({ grant_types: [DEVICE_CODE, ID_CARD, PRESENTATION, 'refresh_token'], token_endpoint_auth_method: 'private_key_jwt', response_types: [] });
    expect(made).not.toHaveProperty('client_secret');
    const kiosk = await kioskOf(h, { client_id: made.client_id as string }, key);
    const device = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid' });
    expect(device).toMatchObject({ device_code: expect.any(String), user_code: expect.any(String), interval: 5 });
    // The card reader's sign-in: the kiosk's own key signs the card assertion, and the citizen gets loa:3 at the kiosk.
    const citizen = await h.citizen();
    const tokens = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, acr: 'urn:yihao:loa:3', channel: 'kiosk' });
  });

  it('registers a counter system for the staff code flow and token exchange, with a secret', async () => {
    const made = await create(['--kind', 'counter', '--name', 'Counter system', '--redirect-uri', 'https://counter.example.gov.cn/cb']);
    expect(made).toMatchObject({ grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE], token_endpoint_auth_method: 'client_secret_basic' });
    expect(made.client_secret).toEqual(expect.any(String));
  });

  it('registers a service that gets tokens with client credentials', async () => {
    const made = await create(['--kind', 'service', '--name', 'Back office', '--scope', 'openid']);
    expect(made).toMatchObject({ grant_types: ['client_credentials'], redirect_uris: [] });
    const rp = await oidc.discovery(new URL(h.issuer), made.client_id as string, made.client_secret as string, undefined, { execute: [oidc.allowInsecureRequests] });
    expect((await oidc.clientCredentialsGrant(rp)).access_token).toBeTruthy();
  });

  it('lets an explicit option override the kind and keeps the rest (a mobile app limited to the web channel stays DPoP-bound)', async () => {
    const made = await create(['--kind', 'mobile', '--name', 'Web-only app', '--redirect-uri', 'http://127.0.0.1/callback', '--allowed-channel', 'web']);
    expect(made).toMatchObject({ allowed_channels: ['web'], dpop_bound_access_tokens: true });
  });

  it('refuses an unknown kind, a kiosk without keys, ping without an endpoint, an endpoint for a non-CIBA client, a public CIBA client and a mobile app with keys', async () => {
    const key = await keyFile('bad');
    const clients = async () => Number((await h.yihao.stores.db('oidc_models').where({ model: 'Client' }).count({ n: '*' }))[0]?.n);
    const before = await clients();
    expectBadInput(await yihao(['client', 'create', '--kind', 'fridge', '--name', 'X']), /kind must be one of web, mobile, ciba, kiosk, counter, service/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'kiosk', '--name', 'X']), /--jwks-file or --jwks-uri/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'ciba', '--name', 'X', '--ciba-mode', 'ping']), /ping mode needs --notification-endpoint/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'web', '--name', 'X', '--redirect-uri', 'https://a.example/cb', '--notification-endpoint', 'https://a.example/n']), /CIBA|ping mode/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'ciba', '--name', 'X', '--public']), /cannot be public/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'mobile', '--name', 'X', '--redirect-uri', 'http://127.0.0.1/cb', '--jwks-file', key.file]), /public client has no keys/);
    expectBadInput(await yihao(['client', 'create', '--kind', 'ciba', '--name', 'X', '--notification-endpoint', 'not a url']), /--notification-endpoint must be an absolute URL/);
    expect(await clients()).toBe(before);
  });

  it('documents every flag of its --help in the README', async () => {
    const help = await yihao(['client', 'create', '--help']);
    const flags = new Set(help.stdout.match(/--[a-z][a-z-]+/g));
    expect(flags.size).toBeGreaterThan(15);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const table = readme.slice(readme.indexOf('`yihao client create` flags'));
    for (const flag of flags) expect(table, flag).toContain(`\`${flag}`);
  });

  it('puts a client under the root department by default, or the one named by id or path, audited; a wrong department creates nothing', async () => {
    const root = JSON.parse((await yihao(['department', 'create', '--name', '国家政务服务平台', '--level', 'national', '--json'])).stdout) as { id: string };
    const province = JSON.parse((await yihao(['department', 'create', '--name', '某省', '--level', 'province', '--parent', root.id, '--json'])).stdout) as { id: string };
    const registration = (clientId: string) => h.yihao.stores.db('client_registrations').where({ client_id: clientId }).first() as Promise<{ department_id: string; status: string } | undefined>;

    const byDefault = await create(['--kind', 'service', '--name', 'Root service']);
    expect(byDefault.department_id).toBe(root.id);
    expect(await registration(byDefault.client_id as string)).toMatchObject({ department_id: root.id, status: 'active' });
    const byId = await create(['--kind', 'service', '--name', 'Province service', '--department', province.id]);
    expect(await registration(byId.client_id as string)).toMatchObject({ department_id: province.id });
    const byPath = await create(['--kind', 'service', '--name', 'Province service 2', '--department', `/${root.id}/${province.id}/`]);
    expect(byPath.department_id).toBe(province.id);

    const events = await h.yihao.stores.db('audit_events').where({ action: 'admin.client.created' }).select('details');
    expect(events.map((e: { details: string }) => String(e.details)).join()).toContain(byId.client_id as string);

    const clients = async () => Number((await h.yihao.stores.db('oidc_models').where({ model: 'Client' }).count({ n: '*' }))[0]?.n);
    const before = await clients();
    expectBadInput(await yihao(['client', 'create', '--kind', 'service', '--name', 'X', '--department', 'dp_nosuchdepartment']), /no department has that --department/);
    expect(await clients()).toBe(before);
  });
});
