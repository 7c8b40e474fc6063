/**
 * A first passkey on an account without a second factor needs a portal sign-in that used the
 * account's own password (src/portal/lasting-credential-gate.ts). An upstream whose amr Yihao passes
 * on (`trust_amr`) may say `pwd` of its own password: that is the upstream's login, which lasts only
 * as long as the upstream is trusted, not the account's password. Bound through it, a passkey would
 * outlast the upstream's disabling and sign the citizen in at loa:2 for good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { formField, type ScriptedBrowser, ScriptedBrowser as Browser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('a first passkey after an upstream sign-in ($name)', ({ name, enabled }) => {
  let h: Harness;
  let up: UpstreamOp;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, host: 'localhost', overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'province' });
    await h.yihao.federation.upstreams.add(
      { name: 'province', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', trustAmr: true },
      up.clientSecret,
    );
  });
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  /** The portal's credentials page, signed in through the upstream, which says the citizen used a password there. */
  async function signedInThroughUpstream(): Promise<{ browser: ScriptedBrowser; html: string }> {
    const citizen = await h.citizen();
    const login = `fed-${Math.random().toString(36).slice(2)}`;
    up.citizens.set(login, { claims: { citizen_id: citizen.citizenId, name: citizen.name }, amr: ['pwd'] });
    const browser = new Browser();
    const { step } = await federatedWalk(browser, h, up, 'province', login, new URL(`${h.issuer}/account/credentials?ui_locales=en`));
    if (step.kind !== 'page' || step.url.pathname !== '/account/credentials') throw new Error('the portal did not open');
    return { browser, html: step.html };
  }

  it.skipIf(!enabled)("binds no passkey on the upstream's word that a password was used: the account's own password is asked for", async () => {
    const { browser, html } = await signedInThroughUpstream();
    const options = await browser.request(`${h.issuer}/account/passkeys/options`, { form: { csrf: formField(html, 'csrf')! } });
    expect(options.status).toBe(403);
    const bind = await browser.request(`${h.issuer}/account/passkeys`, { form: { csrf: formField(html, 'csrf')!, credential: '{}' } });
    expect(bind.status).toBe(303);
    expect(bind.headers.get('location')).toBe('/account/credentials');
  });
});
