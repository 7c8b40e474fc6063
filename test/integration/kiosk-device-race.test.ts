/**
 * Found holding by a review (kiosk): a stranger photographs the user code (or QR) on the next kiosk's screen. The citizen
 * at that kiosk confirms and signs in on their phone first. The stranger, who opened the same code,
 * then signs in as themself. Once the citizen approved, the request is theirs: a later approval must
 * not replace it, and the kiosk must get the citizen's tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { formAction, formField, ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { ID_CARD_GRANT, simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const enabled = pgAvailable && redisAvailable;

describe('two phones approving one kiosk code', () => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: 'postgres+redis' });
    kiosk = await simulatedKiosk(h, { grantTypes: [DEVICE_CODE as never, ID_CARD_GRANT as never, 'refresh_token'], allowedChannels: ['web', 'mobile', 'kiosk'], firstParty: true });
  });
  afterAll(async () => h?.close());

  const person = async (seq: number) => {
    const citizenId = syntheticCitizenId({ seq });
    const password = `pw-${Math.random().toString(36).slice(2)}-Aa1`;
    const account = await h.yihao.accounts.create({ citizenId, name: '评审丙', password });
    return { citizenId, password, sub: account.sub };
  };

  /** Opens the code on a phone and confirms it: the login page the phone lands on. */
  async function openAndConfirm(phone: ScriptedBrowser, link: string) {
    const first = await phone.request(link);
    const autoPost = await first.text();
    const conf = await phone.request(new URL(formAction(autoPost, '/device')!, link), { form: { xsrf: formField(autoPost, 'xsrf')!, user_code: formField(autoPost, 'user_code')! } });
    const confirmation = await conf.text();
    const { res, url } = await phone.follow(new URL('/device', h.issuer), { form: { xsrf: formField(confirmation, 'xsrf')!, user_code: formField(confirmation, 'user_code')!, confirm: 'yes' } });
    return { url, html: await res.text() };
  }
  const signIn = async (phone: ScriptedBrowser, login: { url: URL; html: string }, who: { citizenId: string; password: string }) => {
    const done = await phone.follow(new URL(formAction(login.html, '/login')!, login.url), { form: { csrf: formField(login.html, 'csrf')!, identifier: who.citizenId, password: who.password } });
    return { status: done.res.status, html: await done.res.text() };
  };

  it.skipIf(!enabled)('gives the kiosk the citizen who approved first, not a stranger who approved the same code after', async () => {
    const citizen = await person(721);
    const stranger = await person(722);
    const started = await oidc.initiateDeviceAuthorization(kiosk.rp, { scope: 'openid profile' });
    const citizenPhone = new ScriptedBrowser();
    const strangerPhone = new ScriptedBrowser();
    // Both open and confirm the code; the citizen signs in first.
    const citizenLogin = await openAndConfirm(citizenPhone, started.verification_uri_complete!);
    const strangerLogin = await openAndConfirm(strangerPhone, started.verification_uri_complete!);
    const first = await signIn(citizenPhone, citizenLogin, citizen);
    expect(first.html).toContain('已登录');
    const second = await signIn(strangerPhone, strangerLogin, stranger);
    const tokens = await oidc.pollDeviceAuthorizationGrant(kiosk.rp, started);
    expect({ kioskSignedInAs: tokens.claims()!.sub === citizen.sub ? 'citizen' : tokens.claims()!.sub === stranger.sub ? 'stranger' : 'other', strangerSawSignedIn: second.html.includes('已登录') }).toEqual({
      kioskSignedInAs: 'citizen',
      strangerSawSignedIn: false,
    });
  });
});
