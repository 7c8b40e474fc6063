/**
 * Reuse detection under a race (RFC 9700 §4.14.2 for refresh tokens, RFC 6749 §4.1.2 for codes).
 * oidc-provider revokes the whole grant when a used refresh token or authorization code comes back;
 * the storage layer's compare-and-set consume decides a race between concurrent uses of one. Whoever
 * loses that race is a reuse just the same: an attacker racing the legitimate client with a stolen
 * refresh token must not be left holding a live token chain because it happened to win.
 * On SQLite (synchronous, one process) a request's read and consume never interleave with another's,
 * so there the losers meet oidc-provider's own check; on PostgreSQL + Redis they lose the consume.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, oauthError, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** Requests fired at once per round, and rounds per case: enough that some rounds are true races. */
const AT_ONCE = 4;
const ROUNDS = 3;

describe.each(backends)('a consumed artifact raced by several requests ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    rp = await relyingParty(h, await h.client({ name: '社保查询', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' }));
  });
  afterAll(async () => h?.close());

  /** A fresh citizen signs in through the browser; returns the redirect to the relying party and how to redeem it. */
  async function authorize() {
    const citizen = await h.citizen();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = await authorizationUrl(rp, verifier, { state, nonce });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    return { redeem: () => oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }) };
  }

  /** Runs `use` AT_ONCE times concurrently: exactly one must win, every other one gets invalid_grant. */
  async function race<T>(use: () => Promise<T>): Promise<T> {
    const results = await Promise.allSettled(Array.from({ length: AT_ONCE }, use));
    const won = results.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const lost of results.filter((r) => r.status === 'rejected')) expect(lost.reason).toMatchObject({ error: 'invalid_grant' });
    return won[0]!.value;
  }

  /** Every token the winner got is dead: its grant was revoked. */
  async function expectRevoked(won: oidc.TokenEndpointResponse) {
    expect(await oauthError(oidc.refreshTokenGrant(rp, won.refresh_token!))).toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, won.access_token)).active).toBe(false);
    expect(await oauthError(oidc.fetchUserInfo(rp, won.access_token, oidc.skipSubjectCheck))).toMatchObject({ error: 'invalid_token' });
  }

  it.skipIf(!enabled)('refuses every loser of a refresh-token race with invalid_grant and revokes the grant the winner got tokens from', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const tokens = await (await authorize()).redeem();
      const won = await race(() => oidc.refreshTokenGrant(rp, tokens.refresh_token!));
      expect(won.refresh_token).toBeDefined();
      await expectRevoked(won);
      // The tokens of the sign-in itself went with the grant.
      expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    }
  });

  it.skipIf(!enabled)('refuses every loser of an authorization-code race with invalid_grant and revokes the grant the winner got tokens from', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { redeem } = await authorize();
      const won = await race(redeem);
      expect(won.refresh_token).toBeDefined();
      await expectRevoked(won);
    }
  });
});
