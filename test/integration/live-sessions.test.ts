/**
 * The dashboard's count of live sessions (the account index), with the sessions themselves in SQL
 * and in Redis: a browser sign-in and a kiosk login each count, and every way a kiosk login ends
 * (the card taken out, logging out everywhere) takes it off the count at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { simulatedKiosk, type SimulatedKiosk } from '../support/simulated-kiosk.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('live sessions for the dashboard ($name)', ({ name, enabled }) => {
  let h: Harness;
  let kiosk: SimulatedKiosk;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    kiosk = await simulatedKiosk(h);
  });
  afterAll(async () => h?.close());

  const live = () => h.yihao.services.accountIndex.countLive();

  it.skipIf(!enabled)('counts a browser sign-in and a kiosk login; the card taken out and logging out everywhere each take the kiosk login off at once', async () => {
    const before = await live();
    const citizen = await h.citizen();
    const rp = await relyingParty(h, await h.client({ name: '社保查询' }));
    await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });
    expect(await live()).toEqual({ browser: before.browser + 1, channel: before.channel });

    const first = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    const second = await kiosk.cardLogin({ citizenId: citizen.citizenId });
    expect(await live()).toEqual({ browser: before.browser + 1, channel: before.channel + 2 });
    // A login that expired is no longer live, though its row may linger until the sweeper runs.
    expect((await h.yihao.services.accountIndex.countLive(Date.now() + 400 * 86_400_000)).channel).toBe(0);

    const end = (token: string, path: string) => fetch(`${h.url}/kiosk/session/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect((await end(first.access_token, 'end')).status).toBe(204);
    expect(await live()).toEqual({ browser: before.browser + 1, channel: before.channel + 1 });

    expect((await end(second.access_token, 'end-everywhere')).status).toBe(204);
    expect(await live()).toEqual(before);
    // The citizen's own list of sessions and grants is what it was: channel logins are counted, not listed twice.
    expect(await h.yihao.services.accountIndex.list(citizen.sub)).toEqual([]);
  });
});
