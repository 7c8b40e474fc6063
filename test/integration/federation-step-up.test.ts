/**
 * Found by a review (federation): an upstream capped at loa:1 (`maxAcr`, "no sign-in through this upstream is
 * worth more") and trusted for its amr says `pwd`. Yihao never checked that password: the portal
 * already refuses to count an upstream's `pwd` as the account's own (lasting-credential-gate.ts).
 * A loa:2 request in that browser must then be a full sign-in, not a "step-up in place" that asks
 * only the TOTP code and states `pwd` as Yihao's own first factor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { formAction, go, page, ScriptedBrowser, submit } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { addTotp } from '../support/second-factors.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const enabled = pgAvailable && redisAvailable;
const LOA2 = 'urn:yihao:loa:2';

describe('a federated loa:1 session and the TOTP step-up', () => {
  let h: Harness;
  let up: UpstreamOp;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: 'postgres+redis', overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'weak' });
    // Default cap: loa:1.
    await h.yihao.federation.upstreams.add({ name: 'weak', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', trustAmr: true }, up.clientSecret);
    rp = await relyingParty(h, await h.client({ name: 'review app', firstParty: true }));
  });
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  it.skipIf(!enabled)('does not step a session made by an upstream capped at loa:1 up to loa:2 with the TOTP code alone', async () => {
    const citizenId = syntheticCitizenId({ seq: 731 });
    const account = await h.yihao.accounts.create({ citizenId, name: '评审丁', password: `pw-${Math.random().toString(36).slice(2)}-Aa1` });
    const { secret } = await addTotp(h, (account as unknown as { id: string }).id);
    up.citizens.set('weak-user', { claims: { citizen_id: citizenId, name: '评审丁' }, amr: ['pwd'] });

    const browser = new ScriptedBrowser();
    const v1 = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(browser, h, up, 'weak', 'weak-user', await authorizationUrl(rp, v1, { scope: 'openid' }));
    expect(step.kind).toBe('rp');
    if (step.kind !== 'rp') return;
    const first = (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: v1 })).claims()!;
    expect(first).toMatchObject({ sub: account.sub, acr: 'urn:yihao:loa:1', amr: ['fed', 'pwd'] });

    const v2 = oidc.randomPKCECodeVerifier();
    const origin = new URL(h.issuer).origin;
    const stepUp = page(await go(browser, await authorizationUrl(rp, v2, { scope: 'openid', acr_values: LOA2 }), origin));
    const onlyCodeAsked = formAction(stepUp.html, '/login') === undefined && formAction(stepUp.html, '/second-factor') !== undefined;
    let claims: Record<string, unknown> | undefined;
    if (onlyCodeAsked) {
      const done = await submit(browser, stepUp, '/second-factor', { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }) }, origin);
      if (done.kind === 'rp') claims = (await oidc.authorizationCodeGrant(rp, done.url, { pkceCodeVerifier: v2 })).claims() as Record<string, unknown>;
    }
    // Before: the TOTP page alone, then acr loa:2 with amr ['fed','pwd','otp','mfa'] (or without 'fed').
    expect({ onlyCodeAsked, acr: claims?.acr, amr: claims?.amr }).toEqual({ onlyCodeAsked: false, acr: undefined, amr: undefined });
  });
});
