/**
 * Found by a review (federation): the level and methods of a sign-in through an upstream are
 * statements about the authentication, which only the upstream's signed ID token makes. An upstream whose ID token
 * carries no acr/amr (counted as loa:1, docs/federation.md step 5) must not have them filled in from
 * its unsigned userinfo profile, which Yihao reads whenever the ID token lacks the citizen ID claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { decodeJwt } from 'jose';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const enabled = pgAvailable && redisAvailable;

describe('the level and methods of a federated sign-in come from the upstream ID token only', () => {
  let h: Harness;
  let up: UpstreamOp;
  let rp: { config: oidc.Configuration };
  const upstreamIdTokens: Record<string, unknown>[] = [];

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: 'postgres+redis', overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    // Claims of the scopes in userinfo only (as many provincial platforms do): Yihao must read userinfo for the citizen ID.
    up = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'uinfo', idTokenClaims: 'minimal' });
    await h.yihao.federation.upstreams.add(
      { name: 'uinfo', issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id', maxAcr: 'urn:yihao:loa:2', trustAmr: true },
      up.clientSecret,
    );
    // Record the ID tokens the upstream issues to Yihao, to show what it signed.
    up.provider.on('grant.success', (ctx) => {
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (typeof body?.id_token === 'string') upstreamIdTokens.push(decodeJwt(body.id_token));
    });
    const client = await h.client({ name: 'review app', scope: 'openid profile' });
    rp = { config: await relyingParty(h, client) };
  });
  afterAll(async () => {
    await up?.close();
    await h?.close();
  });

  it.skipIf(!enabled)('counts a login whose ID token states no acr as loa:1, whatever the userinfo profile says', async () => {
    const citizenId = syntheticCitizenId({ seq: 701 });
    // The upstream's login states no acr and no amr (its ID token has neither); its profile store holds "acr"/"amr" fields.
    up.citizens.set('profile-acr', { claims: { citizen_id: citizenId, name: '评审甲', acr: 'urn:yihao:loa:3', amr: ['pwd', 'otp'] } });
    const verifier = oidc.randomPKCECodeVerifier();
    const { step } = await federatedWalk(new ScriptedBrowser(), h, up, 'uinfo', 'profile-acr', await authorizationUrl(rp.config, verifier));
    expect(step.kind).toBe('rp');
    if (step.kind !== 'rp') return;
    const tokens = await oidc.authorizationCodeGrant(rp.config, step.url, { pkceCodeVerifier: verifier });
    const claims = tokens.claims()!;
    // What the upstream signed: no acr, no amr.
    expect(upstreamIdTokens.at(-1)).toBeDefined();
    expect(upstreamIdTokens.at(-1)!.acr).toBeUndefined();
    expect(upstreamIdTokens.at(-1)!.amr).toBeUndefined();
    expect({ acr: claims.acr, amr: claims.amr }).toEqual({ acr: 'urn:yihao:loa:1', amr: ['fed'] });
    // Before: acr urn:yihao:loa:2 (the profile's loa:3, capped) and amr ['fed','pwd','otp'] taken from userinfo.
    expect(claims.amr).toEqual(['fed']);
    expect(claims.acr).toBe('urn:yihao:loa:1');
  });
});
