/**
 * The mobile API takes only the citizen's own device's sessions: never a counter's (token exchange,
 * CIBA) nor a kiosk's, whatever grants the client holding the token has. The registry refuses the
 * device-key grant beside a kiosk's or a counter's; a client stored before that rule is still turned
 * away at the API. Found by a third review of the mobile API fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { ID_CARD_GRANT, simulatedKiosk } from '../support/simulated-kiosk.js';
import { JWT_BEARER, MobileApp, phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { CIBA, registerCounter } from '../support/counter-system.js';
import { counterClientOf, staffSignIn } from '../support/counter-staff.js';
import { REDIRECT, relyingParty } from '../support/relying-party.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const CITIZEN_ID_TYPE = 'urn:yihao:token-type:citizen-id';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

describe('the mobile API against counter and kiosk sessions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  /** A client stored before the registry refused the device-key grant beside a counter's or a kiosk's: its settings gain it behind the registry's back. */
  const withDeviceKeyGrantStored = async (clientId: string) => {
    const clients = new h.yihao.services.Adapter('Client');
    const metadata = (await clients.find(clientId)) as { grant_types: string[] };
    await clients.upsert(clientId, { ...metadata, grant_types: [...metadata.grant_types, JWT_BEARER] } as never);
  };
  const dpopKeysOf = (app: MobileApp) => (app as unknown as { dpopKeys: oidc.CryptoKeyPair }).dpopKeys;
  const liveKeys = async (sub: string) => {
    const account = (await h.yihao.accounts.findBySub(sub))!;
    return h.yihao.stores.db('device_keys').where({ account_id: account.id }).whereNull('revoked_at').select('id');
  };

  // ---- the mobile API -----------------------------------------------------------------------------

  it('does not let a counter’s token-exchange session (act = staff) enrol a device key for the citizen, even from a first-party counter stored with the JWT-bearer grant', async () => {
    const counterGrants = { name: '柜台 + 设备密钥', redirectUris: [REDIRECT], scope: 'openid profile', firstParty: true };
    await expect(h.client({ ...counterGrants, grantTypes: ['authorization_code', TOKEN_EXCHANGE as never, JWT_BEARER as never] })).rejects.toThrow(/cannot be combined with a kiosk's or a counter's grants/);
    const client = await h.client({ ...counterGrants, grantTypes: ['authorization_code', TOKEN_EXCHANGE as never] });
    await withDeviceKeyGrantStored(client.client_id);
    const rp = await relyingParty(h, client);
    const departmentId = await counterClientOf(h, client, '柜台部门甲');
    const staff = await h.citizen({ name: '李柜员' });
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: staff.sub, role: 'counter-staff', departmentId });
    const app = await MobileApp.create(h, client);
    const dpop = oidc.getDPoPHandle(rp, dpopKeysOf(app));
    const staffToken = (await staffSignIn(h, rp, staff, { dpop })).access_token;
    const citizen = await h.citizen({ name: '王大爷' });
    const tokens = await oidc.genericGrantRequest(
      rp,
      TOKEN_EXCHANGE,
      { subject_token: citizen.citizenId, subject_token_type: CITIZEN_ID_TYPE, actor_token: staffToken, actor_token_type: ACCESS_TOKEN_TYPE, document_check: 'in_person', scope: 'openid profile' },
      { DPoP: dpop },
    );
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    app.accessToken = tokens.access_token;
    const enrolled = await app.enrolDeviceKey({ name: 'counter-implant' });
    expect.soft(await liveKeys(citizen.sub), 'the counter enrolled a device key of its own for the citizen').toEqual([]);
    expect(enrolled.status).toBe(401);
  });

  it('does not let a counter’s CIBA token (a first-party CIBA client stored with the JWT-bearer grant) reach the mobile API', async () => {
    const app = await registerMobileApp(h);
    const { citizen, phone } = await phoneWithDeviceKey(h, app);
    await expect(registerCounter(h, { firstParty: true, grantTypes: [CIBA as never, JWT_BEARER as never] })).rejects.toThrow(/cannot be combined/);
    const counter = await registerCounter(h, { firstParty: true });
    await withDeviceKeyGrantStored(counter.clientMetadata().client_id);
    const started = await oidc.initiateBackchannelAuthentication(counter, { scope: 'openid profile', login_hint: citizen.citizenId, binding_message: '窗口3-A7' });
    const entry = ((await phone.approvals()).json.requests as Record<string, unknown>[]).find((r) => r.kind === 'ciba')!;
    expect((await phone.decide(entry.id as string, 'approve')).status).toBe(200);
    const counterApp = await MobileApp.create(h, { client_id: counter.clientMetadata().client_id });
    const tokens = await oidc.genericGrantRequest(counter, CIBA, { auth_req_id: started.auth_req_id }, { DPoP: oidc.getDPoPHandle(counter, dpopKeysOf(counterApp)) });
    counterApp.accessToken = tokens.access_token;
    const listed = await counterApp.call('GET', '/mobile/device-keys', undefined, { noSignature: true });
    const enrolled = await counterApp.enrolDeviceKey({ name: 'ciba-implant' });
    expect.soft(enrolled.status, JSON.stringify(enrolled.json)).not.toBe(201);
    expect(listed.status, JSON.stringify(listed.json)).toBe(401);
  });

  it('keeps a kiosk card session’s token a kiosk token after a refresh (gty survives rotation): a first-party kiosk stored with the JWT-bearer grant still cannot enrol', async () => {
    const citizen = await h.citizen();
    const kiosk = await simulatedKiosk(h, { name: '设备密钥终端', firstParty: true, grantTypes: [ID_CARD_GRANT as never, 'refresh_token'] });
    await withDeviceKeyGrantStored(kiosk.client.client_id);
    const app = await MobileApp.create(h, kiosk.client);
    const dpop = oidc.getDPoPHandle(kiosk.rp, dpopKeysOf(app));
    const first = await oidc.genericGrantRequest(kiosk.rp, ID_CARD_GRANT, { assertion: await kiosk.assertion({ citizenId: citizen.citizenId }), scope: 'openid profile' }, { DPoP: dpop });
    app.accessToken = first.access_token;
    expect((await app.enrolDeviceKey()).status).toBe(401);
    expect(first.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(kiosk.rp, first.refresh_token!, undefined, { DPoP: dpop });
    app.accessToken = refreshed.access_token;
    const enrolled = await app.enrolDeviceKey({ name: 'refreshed-kiosk' });
    expect(enrolled.status).toBe(401);
    expect(await liveKeys(citizen.sub)).toEqual([]);
  });
});
