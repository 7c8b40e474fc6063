/**
 * Found by a review (kiosk): a kiosk that signs citizens in with the phone (device flow) and the wallet, but has
 * no card reader (registered without the ID-card grant), is still a kiosk: the verifier API takes it
 * as one (`verifier-starters.ts`: ID-card OR presentation grant). Its device-flow sessions must end
 * on idle and on the kiosk's "end session", like every kiosk session (docs/channels/kiosk.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const PRESENTATION = 'urn:yihao:grant-type:presentation';
const IDLE_SECONDS = 120;
const enabled = pgAvailable && redisAvailable;

describe('device-flow sessions of a kiosk without a card reader', () => {
  let h: Harness;
  let walletKiosk: SimulatedKiosk;
  let phoneKiosk: SimulatedKiosk;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: 'postgres+redis' });
    // A kiosk with no card reader: the phone and the wallet only.
    walletKiosk = await simulatedKiosk(h, { grantTypes: [DEVICE_CODE as never, PRESENTATION as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
    // And one with the phone alone (a second review found it uncapped under the first fix).
    phoneKiosk = await simulatedKiosk(h, { grantTypes: [DEVICE_CODE as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
  });
  afterAll(async () => h?.close());

  async function deviceLogin(kiosk: SimulatedKiosk, seq: number) {
    const citizenId = syntheticCitizenId({ seq });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name: '评审乙', password });
    const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile' });
    const phone = new ScriptedBrowser();
    const first = await phone.request(started.verification_uri_complete!);
    const autoPost = await first.text();
    const conf = await phone.request(new URL(formAction(autoPost, '/device')!, started.verification_uri_complete!), { form: { xsrf: formField(autoPost, 'xsrf')!, user_code: formField(autoPost, 'user_code')! } });
    const confirmation = await conf.text();
    const { res, url } = await phone.follow(new URL('/device', h.issuer), { form: { xsrf: formField(confirmation, 'xsrf')!, user_code: formField(confirmation, 'user_code')!, confirm: 'yes' } });
    const login = await res.text();
    const done = await phone.follow(new URL(formAction(login, '/login')!, url), { form: { csrf: formField(login, 'csrf')!, identifier: citizenId, password } });
    expect(done.res.status).toBe(200);
    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, started);
    expect(tokens.claims()!.sub).toBe(account.sub);
    return tokens;
  }

  it.skipIf(!enabled).each([
    ['the phone and the wallet', () => walletKiosk, 711],
    ['the phone alone', () => phoneKiosk, 712],
  ] as const)('caps the device-flow tokens of a kiosk with %s at the idle time, and lets the kiosk end the session', async (_what, kiosk, seq) => {
    const tokens = await deviceLogin(kiosk(), seq);
    const ended = await fetch(`${h.url}/kiosk/session/end`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    const after = (await oidc.tokenIntrospection(kiosk().rp, tokens.access_token)).active;
    // Before: expires_in is the default access-token lifetime, the refresh token lives its full
    // lifetime, and /kiosk/session/end answers 401 "not a live kiosk session token" and ends nothing.
    expect({ expiresIn: tokens.expires_in! <= IDLE_SECONDS, endStatus: ended.status, activeAfterEnd: after }).toEqual({ expiresIn: true, endStatus: 204, activeAfterEnd: false });
  });
});
