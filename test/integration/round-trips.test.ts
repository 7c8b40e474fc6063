/**
 * Round trips by design (issue 10): how many SQL statements and Redis commands the hot path costs,
 * counted on the real app over HTTP with the same counter the bench uses. Counting statements is
 * deterministic, so these are behaviour tests, not timed ones. Also the promise that makes carrying
 * the login's facts on tokens safe: a token keeps the acr/amr/channel it was issued with after the
 * session is stepped up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, go as walk, page, ScriptedBrowser, scriptedSignIn, submit as post, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { countRoundTrips } from '../../src/storage/round-trips.js';

const LOA1 = 'urn:yihao:loa:1';
const LOA2 = 'urn:yihao:loa:2';
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

/** Budgets per operation on PostgreSQL + Redis (issue 10). SQLite is counted and printed only. */
const BUDGET = {
  // 3 audit appends among them, none a round trip of its own: the login's goes out with the
  // credential's last use, the consent's and the authorization's with the grant.
  signIn: { sql: 10, redis: 20 },
  refresh: { sql: 2, redis: 3 },
  userinfo: { sql: 1, redis: 1 },
  // oidc-provider looks an access token up as an AccessToken and as ClientCredentials at once.
  introspection: { sql: 1, redis: 2 },
};

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

interface Cost {
  sql: number;
  redis: number;
  auditEvents: number;
}

describe.each(backends)('round trips on the hot path ($name)', ({ name, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  let origin: string;
  const inFlight = new Set<Promise<unknown>>();
  let appended = 0;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    origin = new URL(h.issuer).origin;
    rp = await relyingParty(
      h,
      await h.client({ name: '社保查询', grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone' }),
    );
    // Provider events append to the audit log after the response has gone out: every append is
    // tracked, so a measurement can wait for them instead of racing them.
    const audit = h.yihao.services.audit;
    const append = audit.append.bind(audit);
    audit.append = (e, options) => {
      appended++;
      const p = append(e, options).finally(() => inFlight.delete(p));
      inFlight.add(p);
      return p;
    };
  });
  afterAll(async () => h?.close());

  /** Waits until nothing the request started is still writing. */
  async function settle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      const before = appended;
      await Promise.allSettled([...inFlight]);
      await new Promise((r) => setTimeout(r, 25));
      quiet = before === appended && inFlight.size === 0 ? quiet + 1 : 0;
    }
  }

  async function measure<T>(run: () => Promise<T>): Promise<{ result: T; cost: Cost }> {
    await settle();
    const counter = countRoundTrips(h.yihao.stores);
    const auditBefore = appended;
    const result = await run();
    await settle();
    counter.stop();
    const { sql, redis } = counter.read();
    return { result, cost: { sql, redis, auditEvents: appended - auditBefore } };
  }

  /**
   * For a request that can be repeated as it is (userinfo, introspection): measured again once if
   * over its budget, and the lower count kept. On a loaded machine an answer slower than the stores'
   * resend window sends a command twice, now and then; a request that really costs more does so
   * both times.
   */
  async function measureRepeatable<T>(what: keyof typeof BUDGET, run: () => Promise<T>): Promise<{ result: T; cost: Cost }> {
    const first = await measure(run);
    const within = (c: Cost) => sqlOf(c) <= BUDGET[what].sql && c.redis <= BUDGET[what].redis;
    if (name !== 'postgres+redis' || within(first.cost)) return first;
    const second = await measure(run);
    console.log(`${name} ${what}: over budget once (${sqlOf(first.cost)} SQL, ${first.cost.redis} Redis), measured again`);
    return sqlOf(second.cost) + second.cost.redis < sqlOf(first.cost) + first.cost.redis ? second : first;
  }

  /** Every statement a request costs, its audit appends (one INSERT each) included; the sealer's work is background. */
  const sqlOf = (cost: Cost) => cost.sql;

  function expectWithin(what: keyof typeof BUDGET, cost: Cost) {
    console.log(`${name} ${what}: ${sqlOf(cost)} SQL (${cost.sql} counted, ${cost.auditEvents} audit events), ${cost.redis} Redis`);
    if (name !== 'postgres+redis') return;
    expect.soft({ what, sql: sqlOf(cost), redis: cost.redis }).toEqual({
      what,
      sql: Math.min(sqlOf(cost), BUDGET[what].sql),
      redis: Math.min(cost.redis, BUDGET[what].redis),
    });
  }

  /** The bench's walk: /auth -> login page -> POST login -> consent page -> POST confirm -> code -> /token with PKCE. */
  async function signIn(citizen: { citizenId: string; password: string }) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid profile phone', state });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
  }

  it.skipIf(!enabled)('a complete sign-in stays within its SQL and Redis budget', async () => {
    await signIn(await h.citizen()); // warm: keys, client cache, compiled statements
    const citizen = await h.citizen();
    const { result: tokens, cost } = await measure(() => signIn(citizen));
    expect(tokens.claims()).toMatchObject({ acr: LOA1, amr: ['pwd'], channel: 'web' });
    expectWithin('signIn', cost);
  });

  it.skipIf(!enabled)('a refresh, a userinfo and an introspection each stay within their budget', async () => {
    const tokens = await signIn(await h.citizen({ phone: '13800138011' }));
    const refreshed = await measure(() => oidc.refreshTokenGrant(rp, tokens.refresh_token!));
    expect(refreshed.result.claims()).toMatchObject({ acr: LOA1, channel: 'web' });
    expectWithin('refresh', refreshed.cost);

    const access = refreshed.result.access_token;
    const userinfo = await measureRepeatable('userinfo', () => oidc.fetchUserInfo(rp, access, oidc.skipSubjectCheck));
    expect(userinfo.result).toMatchObject({ channel: 'web', phone_number: '+8613800138011' });
    expectWithin('userinfo', userinfo.cost);

    const introspection = await measureRepeatable('introspection', () => oidc.tokenIntrospection(rp, access, { token_type_hint: 'access_token' }));
    expect(introspection.result).toMatchObject({ active: true, acr: LOA1, channel: 'web' });
    expectWithin('introspection', introspection.cost);
  });

  it.skipIf(!enabled)('lets exactly one of two concurrent refreshes with the same refresh token succeed', async () => {
    const tokens = await signIn(await h.citizen());
    const results = await Promise.allSettled([oidc.refreshTokenGrant(rp, tokens.refresh_token!), oidc.refreshTokenGrant(rp, tokens.refresh_token!)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected');
    expect((refused as PromiseRejectedResult).reason).toMatchObject({ error: 'invalid_grant' });
    // And the used token cannot be used a third time.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it.skipIf(!enabled)('a token keeps the acr, amr and channel it was issued with after its session is stepped up', async () => {
    const citizen = await h.citizen();
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const mfa = h.yihao.services.secondFactors;
    const setup = `round-trips-${citizen.sub}`;
    const record = await mfa.begin(setup, { accountId: account.id, sub: citizen.sub, stage: 'enrol', amr: ['pwd'], stepUp: false }, 60);
    const secret = (await mfa.enrolmentDisplay(setup, record, 'test')).secret.replace(/\s/g, '');
    expect((await mfa.confirmEnrolment(setup, record, await codeAt(secret, -1))).ok).toBe(true);
    await mfa.settle(setup);

    const browser = new ScriptedBrowser();
    const go = (url: string | URL) => walk(browser, url, origin);
    const redeem = async (step: Step, verifier: string, state: string) => {
      if (step.kind !== 'rp') throw new Error(`expected the relying party, got ${step.status} at ${step.url.pathname}: ${alertOf(step.html) ?? step.html.slice(0, 300)}`);
      return oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier, expectedState: state });
    };
    const start = async (extra: Record<string, string>) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const first = await go(await authorizationUrl(rp, verifier, { scope: 'openid profile', state, ui_locales: 'en', ...extra }));
      return { first, verifier, state };
    };

    // loa:1 with the password.
    const one = await start({});
    let step = await post(browser, page(one.first), '/login', { identifier: citizen.citizenId, password: citizen.password }, origin);
    if (step.kind === 'page' && step.html.includes('/confirm')) step = await post(browser, step, '/confirm', {}, origin);
    const early = await redeem(step, one.verifier, one.state);
    expect(early.claims()).toMatchObject({ acr: LOA1, amr: ['pwd'], channel: 'web' });

    // The same session stepped up to loa:2 with the second factor.
    const two = await start({ acr_values: LOA2 });
    step = await post(browser, page(two.first), '/second-factor', { code: await codeAt(secret) }, origin);
    if (step.kind === 'page' && step.html.includes('/confirm')) step = await post(browser, step, '/confirm', {}, origin);
    const later = await redeem(step, two.verifier, two.state);
    expect(later.claims()).toMatchObject({ acr: LOA2 });

    // The earlier tokens still speak of the loa:1 login.
    expect(await oidc.tokenIntrospection(rp, early.access_token)).toMatchObject({ active: true, acr: LOA1, amr: ['pwd'], channel: 'web' });
    expect(await oidc.fetchUserInfo(rp, early.access_token, citizen.sub)).toMatchObject({ sub: citizen.sub, channel: 'web' });
    const refreshed = await oidc.refreshTokenGrant(rp, early.refresh_token!);
    expect(refreshed.claims()).toMatchObject({ acr: LOA1, amr: ['pwd'], channel: 'web' });
    expect(await oidc.tokenIntrospection(rp, refreshed.access_token)).toMatchObject({ active: true, acr: LOA1, amr: ['pwd'], channel: 'web' });
    // And the later ones of the stepped-up one.
    expect(await oidc.tokenIntrospection(rp, later.access_token)).toMatchObject({ active: true, acr: LOA2 });
  });
});

