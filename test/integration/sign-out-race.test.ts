/**
 * Signing out everywhere while someone else keeps using the session. Whoever holds a stolen session
 * cookie can keep requests in flight at every moment; each one loaded the session when it began
 * and saves it when it ends. A sign-out that lands in between must not be undone by that save: the
 * session and its grants stay gone, and a second sign-out still finds nothing to end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** Request loops the holder of the cookie keeps going at once, and sign-outs tried against them. */
const LOOPS = 4;
const ROUNDS = 3;

describe.each(backends)('sign-out everywhere against requests in flight ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    rp = await relyingParty(h, await h.client({ name: '社保查询', firstParty: true, grantTypes: ['authorization_code', 'refresh_token'] }));
  });
  afterAll(async () => h?.close());

  /** Codes the holder of the cookie got, with what redeems them. */
  type Issued = { callback: URL; verifier: string };

  /** A silent authorization with the browser's cookies: a code while the session lives, login_required after. */
  const silently = async (browser: ScriptedBrowser, codes: Issued[] = []) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const landed = await browser.follow(await authorizationUrl(rp, verifier, { prompt: 'none' }));
    if (!landed.url.searchParams.get('code')) return landed.url.searchParams.get('error') ?? `no code (${landed.res.status})`;
    codes.push({ callback: landed.url, verifier });
    return 'code';
  };

  it.skipIf(!enabled)('keeps the session and its grants gone although the holder of the cookie keeps using it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const citizen = await h.citizen();
      const stolen = new ScriptedBrowser();
      await scriptedSignIn(stolen, await authorizationUrl(rp, oidc.randomPKCECodeVerifier()), { identifier: citizen.citizenId, password: citizen.password });
      expect(await silently(stolen)).toBe('code');
      // The same browser in the citizen's portal, by single sign-on.
      expect((await stolen.follow(new URL('/account?ui_locales=en', h.issuer))).url.pathname).toBe('/account');
      // Login times are whole seconds, and a login within the sign-out's own second still counts
      // (a citizen signing straight back in): the stolen session is older than that, as in life.
      const signedInAt = Math.floor(Date.now() / 1000);
      while (Math.floor(Date.now() / 1000) === signedInAt) await new Promise((resolve) => setTimeout(resolve, 20));

      let stop = false;
      let inFlight = 0;
      const codes: Issued[] = [];
      const loops = Array.from({ length: LOOPS }, async () => {
        while (!stop) {
          inFlight++;
          await silently(stolen, codes).finally(() => inFlight--);
        }
      });
      // Once every loop has a request going, the citizen signs out everywhere.
      while (inFlight < LOOPS) await new Promise((resolve) => setTimeout(resolve, 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const ended = await h.yihao.signOut.everywhere(citizen.sub);
      expect(ended.sessions).toBe(1);
      stop = true;
      await Promise.all(loops);

      expect(await silently(stolen), `round ${round}: the session came back`).toBe('login_required');
      expect((await stolen.follow(new URL('/account?ui_locales=en', h.issuer))).url.pathname, `round ${round}: still in the portal`).not.toBe('/account');
      // A request in flight may still save its grant back after the sign-out, and with it the grant's
      // index row (seen once on a loaded machine): by design (accounts.not_before) what it holds is
      // refused, as the portal check above and the codes below show, so the index is not asserted empty.
      // No code from before or during the sign-out yields tokens: their grant is gone for good.
      for (const { callback, verifier } of codes) {
        const redeemed = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier }).then(
          () => 'tokens',
          (e: { error?: string }) => e.error,
        );
        expect(redeemed, `round ${round}: a code issued around the sign-out yielded tokens`).toBe('invalid_grant');
      }
    }
  });
});
