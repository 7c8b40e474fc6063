/**
 * The admin API and the console register every kind of client through the same schema as
 * `yihao client create --kind`, with the same defaults and checks: a mobile app (public, native,
 * DPoP-bound, device-key grant) and a kiosk (device flow and ID-card grant, private_key_jwt) are
 * drafted, reviewed and then used for real, with openid-client and the simulated phone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { consoleBrowser, nationalTree } from '../support/admin-operators.js';
import { startHarness, type Harness } from '../support/harness.js';
import { phoneWithDeviceKey } from '../support/mobile-app.js';
import { formField } from '../support/scripted-browser.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const ID_CARD = 'urn:yihao:grant-type:id-card';
const PRESENTATION = 'urn:yihao:grant-type:presentation';

describe('registering clients by kind through the admin API and the console', { timeout: 120_000 }, () => {
  let h: Harness;
  let tree: Awaited<ReturnType<typeof nationalTree>>;
  let kioskKey: { privateKey: CryptoKey; jwks: { keys: Record<string, unknown>[] } };

  /** Drafted by the dept-admin, submitted, approved by the national super-admin (first-party apps need one). */
  async function registered(settings: Record<string, unknown>): Promise<{ clientId: string; clientSecret?: string }> {
    const made = await tree.deptAdmin.api('POST', '/clients', { department_id: tree.dept.nation.id, settings });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const submitted = await tree.deptAdmin.api('POST', `/client-changes/${made.body.change.id}/submit`);
    expect(submitted.status).toBe(200);
    const approved = await tree.superAdmin.api('POST', `/client-changes/${made.body.change.id}/approve`, { revision: submitted.body.revision });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    return { clientId: made.body.client.client_id, ...(made.body.client_secret ? { clientSecret: made.body.client_secret } : {}) };
  }
  const served = async (clientId: string) => (await new h.yihao.services.Adapter('Client').find(clientId)) as Record<string, unknown>;

  beforeAll(async () => {
    h = await startHarness();
    tree = await nationalTree(h);
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    kioskKey = { privateKey, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'kiosk-1', alg: 'ES256', use: 'sig' }] } };
  }, 180_000);
  afterAll(async () => h?.close());

  it('registers a mobile app by kind: public, native, DPoP-bound, with the device-key grant; the phone signs in and logs in with its key', async () => {
    const app = await registered({ kind: 'mobile', client_name: '一号 App', redirect_uris: ['http://127.0.0.1/callback'], first_party: true, scope: 'openid profile offline_access' });
    expect(app.clientSecret).toBeUndefined();
    expect(await served(app.clientId)).toMatchObject({
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      dpop_bound_access_tokens: true,
      grant_types: ['authorization_code', 'refresh_token', JWT_BEARER],
    });
    const detail = await tree.deptAdmin.api('GET', `/clients/${app.clientId}`);
    expect(detail.body.client.settings).toMatchObject({ kind: 'mobile', public: true, application_type: 'native', dpop_bound_access_tokens: true });
    const { citizen, phone } = await phoneWithDeviceKey(h, { client_id: app.clientId });
    const tokens = await phone.loginWithDeviceKey();
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    expect(tokens.claims()).toMatchObject({ sub: citizen.sub, channel: 'mobile' });
  });

  it('registers a kiosk by kind with its keys (private_key_jwt, no secret); it starts a device authorization', async () => {
    const kiosk = await registered({ kind: 'kiosk', client_name: '政务自助终端', jwks: kioskKey.jwks, scope: 'openid profile' });
    expect(kiosk.clientSecret).toBeUndefined();
    expect(await served(kiosk.clientId)).toMatchObject({ grant_types: [DEVICE_CODE, ID_CARD, PRESENTATION, 'refresh_token'], token_endpoint_auth_method: 'private_key_jwt', response_types: [] });
    const rp = await oidc.discovery(new URL(h.issuer), kiosk.clientId, undefined, oidc.PrivateKeyJwt({ key: kioskKey.privateKey, kid: 'kiosk-1' }), { execute: [oidc.allowInsecureRequests] });
    expect(await oidc.initiateDeviceAuthorization(rp, { scope: 'openid' })).toMatchObject({ device_code: expect.any(String), user_code: expect.any(String) });
  });

  it('refuses what the CLI refuses, with the field named: a kiosk without keys, a public CIBA client, an unknown kind', async () => {
    const refused = async (settings: Record<string, unknown>) => {
      const res = await tree.deptAdmin.api('POST', '/clients', { department_id: tree.dept.nation.id, settings: { client_name: 'X', ...settings } });
      expect(res.status).toBe(400);
      return res.body as { message: string; fields: Record<string, string> };
    };
    expect((await refused({ kind: 'kiosk' })).fields).toEqual({ 'settings.jwks': 'a kiosk authenticates with its own keys: give jwks or jwks_uri' });
    expect((await refused({ kind: 'ciba', public: true })).fields['settings.public']).toMatch(/cannot be public/);
    expect((await refused({ kind: 'fridge' })).fields['settings.kind']).toMatch(/must be one of web, mobile, ciba, kiosk, counter, service/);
    // A kiosk cannot later trade its keys for a secret or become public.
    const kiosk = await registered({ kind: 'kiosk', client_name: '第二台终端', jwks: kioskKey.jwks });
    const toPublic = await tree.deptAdmin.api('POST', `/clients/${kiosk.clientId}/changes`, { kind: 'kiosk', client_name: '第二台终端', jwks: kioskKey.jwks, public: true });
    expect(toPublic).toMatchObject({ status: 400, body: { fields: { public: 'a public client has no keys to authenticate with' } } });
    const toSecret = await tree.deptAdmin.api('POST', `/clients/${kiosk.clientId}/changes`, { client_name: '第二台终端', grant_types: ['client_credentials'] });
    expect(toSecret).toMatchObject({ status: 400, body: { message: expect.stringMatching(/cannot change how it authenticates/), fields: { public: 'cannot change' } } });
  });

  it('registers a kiosk from the console form by kind, with its keys pasted in', async () => {
    const { browser } = await consoleBrowser(h, { citizenId: tree.deptAdmin.citizenId, password: tree.deptAdmin.password, totpSecret: tree.deptAdmin.totpSecret, step: 1 }, 'en');
    const page = await (await browser.request(`${h.issuer}/admin/clients/new`)).text();
    expect(page).toContain('<option value="kiosk">Kiosk (device flow and card reader; needs its public keys)</option>');
    const form = { csrf: formField(page, 'csrf')!, department_id: tree.dept.nation.id, kind: 'kiosk', client_name: '控制台终端', scope: 'openid profile' };
    const missing = await browser.request(`${h.issuer}/admin/clients`, { form });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain('id="f-jwks-error"');
    const made = await browser.request(`${h.issuer}/admin/clients`, { form: { ...form, jwks: JSON.stringify(kioskKey.jwks) } });
    const html = await made.text();
    expect(made.status, html.slice(0, 500)).toBe(201);
    const clientId = /data-client-id>([^<]+)</.exec(html)![1]!;
    expect(html).not.toContain('data-client-secret');
    const detail = await tree.deptAdmin.api('GET', `/clients/${clientId}`);
    expect(detail.body.pending.proposed).toMatchObject({ kind: 'kiosk', grant_types: [DEVICE_CODE, ID_CARD, PRESENTATION, 'refresh_token'], jwks: kioskKey.jwks, public: false });
  });
});
