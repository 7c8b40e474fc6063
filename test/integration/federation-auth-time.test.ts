/**
 * When the citizen logged in at an upstream (its ID token's auth_time), and what Yihao does when the
 * upstream does not say: against real second OpenID Providers on 127.0.0.1 that state it only when
 * asked with max_age (as OpenID Connect allows), or never. The relying party is openid-client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { alertOf, formAction, go, page, ScriptedBrowser, submit, type Step } from '../support/scripted-browser.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { federatedWalk, startUpstreamOp, type UpstreamOp } from '../support/upstream-op.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('federation: the upstream login time ($name)', ({ name: backend, enabled }) => {
  let h: Harness;
  let rp: oidc.Configuration;
  /** States auth_time only when the request has max_age. */
  let asked: UpstreamOp;
  /** Never states auth_time. */
  let silent: UpstreamOp;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.0/8'] } }) });
    asked = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'asked', authTime: 'when_asked' });
    silent = await startUpstreamOp({ yihaoIssuer: h.issuer, name: 'silent', authTime: 'never' });
    for (const [name, up] of [['asked', asked], ['silent', silent]] as const) {
      await h.yihao.federation.upstreams.add(
        { name, displayNameEn: `Province ${name}`, issuer: up.issuer, clientId: up.clientId, scope: 'openid profile citizen_id', citizenIdClaim: 'citizen_id' },
        up.clientSecret,
      );
    }
    rp = await relyingParty(h, await h.client({ name: '社保查询', scope: 'openid profile' }));
  });
  afterAll(async () => {
    await asked?.close();
    await silent?.close();
    await h?.close();
  });

  /**
   * An app's sign-in through an upstream, logging in there as `login` each time Yihao sends the
   * browser there; `backAgain` has every URL with which Yihao sent it back to the upstream.
   */
  async function signIn(up: UpstreamOp, name: string, login: string, extra: Record<string, string> = {}) {
    const browser = new ScriptedBrowser();
    const verifier = oidc.randomPKCECodeVerifier();
    const origin = new URL(h.issuer).origin;
    const upOrigin = new URL(up.issuer).origin;
    let { step } = await federatedWalk(browser, h, up, name, login, await authorizationUrl(rp, verifier, extra));
    const backAgain: URL[] = [];
    while (step.kind === 'rp' && step.url.origin === upOrigin && backAgain.length < 3) {
      backAgain.push(step.url);
      const form = await (await browser.follow(step.url, {}, upOrigin)).res.text();
      const back = await browser.follow(new URL(formAction(form, '/login')!, up.issuer), { form: { login } }, upOrigin);
      step = await go(browser, back.url, origin);
      if (step.kind === 'page' && formAction(step.html, '/confirm')) step = await submit(browser, step, '/confirm', {}, origin);
    }
    const claims = step.kind === 'rp' ? (await oidc.authorizationCodeGrant(rp, step.url, { pkceCodeVerifier: verifier })).claims()! : undefined;
    return { step, backAgain, claims };
  }

  const refusals = async (sub?: string) =>
    (await h.yihao.stores.db('audit_events').where({ action: 'federation.refused', ...(sub ? { account_id: sub } : {}) }).select('details')).map(
      (r: { details: string }) => (JSON.parse(r.details) as { reason: string }).reason,
    );
  const refusedPage = (step: Step) => {
    const refused = page(step);
    expect(refused.status).toBe(403);
    return alertOf(refused.html);
  };

  it.skipIf(!enabled)('after a sign-out everywhere, asks an upstream that did not say when the citizen logged in once more, and refuses it when it still does not say', async () => {
    silent.citizens.set('old-sso', { claims: { citizen_id: syntheticCitizenId(), name: '周二' }, authTime: Math.floor(Date.now() / 1000) - 3600 });
    const first = await signIn(silent, 'silent', 'old-sso');
    expect(first.step.kind).toBe('rp');
    await h.yihao.signOut.everywhere(first.claims!.sub);

    const { step, backAgain, claims } = await signIn(silent, 'silent', 'old-sso', { ui_locales: 'en' });
    expect(claims).toBeUndefined();
    expect(backAgain).toHaveLength(1);
    expect([backAgain[0]!.searchParams.get('prompt'), backAgain[0]!.searchParams.get('max_age')]).toEqual(['login', '0']);
    expect(refusedPage(step)).toBe('Province silent did not say when you signed in, so Yihao cannot tell whether you signed in just now. Please sign in another way.');
    expect(await refusals(first.claims!.sub)).toEqual(['upstream_login_time_unknown', 'upstream_login_time_unstated']);
  });

  it.skipIf(!enabled)('after a sign-out everywhere, signs the citizen in through an upstream that, asked again, says it authenticated them afresh', async () => {
    asked.citizens.set('fresh', { claims: { citizen_id: syntheticCitizenId(), name: '吴三' } });
    const first = await signIn(asked, 'asked', 'fresh');
    await h.yihao.signOut.everywhere(first.claims!.sub);
    const again = await signIn(asked, 'asked', 'fresh');
    expect(again.backAgain).toHaveLength(1);
    expect(again.claims?.sub).toBe(first.claims!.sub);
    expect(await refusals(first.claims!.sub)).toEqual(['upstream_login_time_unknown']);

    // Asked again, an upstream that states its old single sign-on is refused as before.
    const stale = syntheticCitizenId();
    asked.citizens.set('stale', { claims: { citizen_id: stale, name: '郑四' }, authTime: Math.floor(Date.now() / 1000) - 3600 });
    const before = await signIn(asked, 'asked', 'stale');
    await h.yihao.signOut.everywhere(before.claims!.sub);
    const refused = await signIn(asked, 'asked', 'stale');
    expect(refused.claims).toBeUndefined();
    expect(refusedPage(refused.step)).toContain('未要求您重新登录');
    expect(await refusals(before.claims!.sub)).toEqual(['upstream_login_time_unknown', 'upstream_login_stale']);
  });

  it.skipIf(!enabled)('refuses an upstream that does not say when the citizen logged in when the app asks for a fresh sign-in (prompt=login or max_age)', async () => {
    silent.citizens.set('demanded', { claims: { citizen_id: syntheticCitizenId(), name: '王五' } });
    // Already asked with prompt=login (and max_age=0, which obliges an upstream to state auth_time): no second try.
    const login = await signIn(silent, 'silent', 'demanded', { prompt: 'login' });
    expect(login.backAgain).toHaveLength(0);
    expect(refusedPage(login.step)).toContain('未说明您的登录时间');
    expect((await refusals()).at(-1)).toBe('upstream_login_time_unstated');

    const maxAge = await signIn(silent, 'silent', 'demanded', { max_age: '300' });
    expect(maxAge.backAgain).toHaveLength(1);
    expect([maxAge.backAgain[0]!.searchParams.get('prompt'), maxAge.backAgain[0]!.searchParams.get('max_age')]).toEqual(['login', '300']);
    expect(refusedPage(maxAge.step)).toContain('未说明您的登录时间');
    expect((await refusals()).slice(-2)).toEqual(['upstream_login_time_unknown', 'upstream_login_time_unstated']);
  });

  it.skipIf(!enabled)("holds the upstream to the app's max_age: its own login time when it is recent enough, a refusal when it is older", async () => {
    asked.citizens.set('recent', { claims: { citizen_id: syntheticCitizenId(), name: '赵六' } });
    const recent = await signIn(asked, 'asked', 'recent', { max_age: '300' });
    expect(recent.backAgain).toHaveLength(0);
    expect(typeof recent.claims?.auth_time).toBe('number');

    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    asked.citizens.set('hour-old', { claims: { citizen_id: syntheticCitizenId(), name: '钱七' }, authTime: hourAgo });
    const old = await signIn(asked, 'asked', 'hour-old', { max_age: '300', ui_locales: 'en' });
    expect(old.claims).toBeUndefined();
    expect(refusedPage(old.step)).toBe('Your sign-in at Province asked is older than this app allows, and Province asked did not ask you to sign in again. Sign out at Province asked first, or sign in another way.');
    expect((await refusals()).at(-1)).toBe('upstream_login_too_old');
  });

  it.skipIf(!enabled)('without a sign-out everywhere or a freshness demand, signs the citizen in, stating a login time no freshness check takes for recent', async () => {
    silent.citizens.set('plain', { claims: { citizen_id: syntheticCitizenId(), name: '孙八' } });
    const { step, backAgain, claims } = await signIn(silent, 'silent', 'plain');
    expect(step.kind).toBe('rp');
    expect(backAgain).toHaveLength(0);
    // As old as the oldest login a Yihao session can carry: apps, the portal and device-key
    // enrolment ask for a fresh sign-in before anything that needs one.
    expect(claims!.auth_time).toBeLessThanOrEqual(claims!.iat - h.config.ttl.sessionSeconds);
    // And a sign-out everywhere still ends what it started.
    await h.yihao.signOut.everywhere(claims!.sub);
    const next = await signIn(silent, 'silent', 'plain');
    expect(next.claims).toBeUndefined();
  });
});
