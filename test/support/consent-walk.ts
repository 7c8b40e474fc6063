import * as oidc from 'openid-client';
import { expect } from 'vitest';
import type { Harness } from './harness.js';
import { authorizationUrl, relyingParty } from './relying-party.js';
import { formAction, formField, ScriptedBrowser } from './scripted-browser.js';

type Citizen = Awaited<ReturnType<Harness['citizen']>>;

/** What a citizen saw on the way to the app: the consent page's text each time it came (and was allowed), and the tokens. */
export interface Walk {
  consentPages: string[];
  tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
}

/** Signs in at the app in `browser` (a new one by default), pressing Allow whenever the consent page comes. */
export async function signInAllowing(h: Harness, client: { client_id: string; client_secret?: string }, who: Citizen, extra: Record<string, string> = {}, browser = new ScriptedBrowser()): Promise<Walk> {
  const rp = await relyingParty(h, client);
  const verifier = oidc.randomPKCECodeVerifier();
  let { res, url } = await browser.follow(await authorizationUrl(rp, verifier, extra), {}, h.issuer);
  const consentPages: string[] = [];
  for (let step = 0; step < 5 && url.origin === h.issuer; step++) {
    const page = await res.text();
    expect(res.status, page.slice(0, 300)).toBe(200);
    const login = formAction(page, '/login');
    const confirm = formAction(page, '/confirm');
    if (confirm) consentPages.push(page);
    const action = login ?? confirm;
    expect(action, `a login or consent form at ${url.pathname}`).toBeTruthy();
    const form: Record<string, string> = { csrf: formField(page, 'csrf')!, ...(login ? { identifier: who.citizenId, password: who.password } : {}) };
    ({ res, url } = await browser.follow(new URL(action!, url), { form }, h.issuer));
  }
  expect(url.origin).not.toBe(h.issuer);
  const tokens = await oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck, ...(extra.nonce !== undefined ? { expectedNonce: extra.nonce } : {}) });
  return { consentPages, tokens };
}
