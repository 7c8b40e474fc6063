/**
 * The authorization_code grant on the token fast path (src/oidc/token-fast-path.ts) against
 * oidc-provider's own token pipeline: two instances on one store, the second without the fast
 * paths, asked the same things. A success is compared by what it grants; a refusal must be the
 * same byte for byte, with the same `grant.error` record.
 *
 * A code is spent once, and its reuse revokes the grant (the tokens issued for it die): a code
 * grant that has run must never run again. So the fast path answers every code grant it ran,
 * refused or not, from the token route's own error handling.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Backend, Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { basic, FORM, tokenFastPathPair, type Answer, type PairApp, type TokenRequest } from '../support/token-fast-path-pair.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Authorized = { callback: URL; code: string; verifier: string };
const redirectOf = (a: Authorized) => `${a.callback.origin}${a.callback.pathname}`;
const codeBody = (a: Authorized, extra = '') =>
  `grant_type=authorization_code&code=${encodeURIComponent(a.code)}&redirect_uri=${encodeURIComponent(redirectOf(a))}&code_verifier=${encodeURIComponent(a.verifier)}${extra}`;

describe.each(backends)('authorization_code on the token fast path ($backend)', ({ backend, enabled }) => {
  const pair = tokenFastPathPair(backend, enabled, 'authorization_code');
  const { ask, asApp } = pair;
  let fast: Harness;
  let reference: Harness;
  let app: PairApp;
  let rp: oidc.Configuration;

  beforeAll(() => {
    if (!enabled) return;
    ({ fast, reference, app } = pair);
    rp = app.rp;
  });

  const authorize = (client = rp, scope?: string) => pair.authorize(client, scope);

  /** What an exchange grants, without what makes each token, citizen and login its own. */
  async function granted(h: Harness, answer: Answer) {
    const { access_token: access, refresh_token: refresh, id_token: idToken, ...members } = JSON.parse(answer.body) as Record<string, string>;
    expect(typeof refresh).toBe('string');
    const { iat, exp, sub, auth_time: authTime, sid, ...claims } = decodeJwt(idToken!);
    expect([iat, exp, sub, authTime]).not.toContain(undefined);
    void sid;
    const { iat: _iat, exp: _exp, sub: factsSub, auth_time: _authTime, sid: _sid, ...facts } = await pair.introspect(h, access!);
    expect([facts.active, factsSub]).toEqual([true, sub]);
    return { members, claims, facts, headers: answer.headers };
  }

  it.skipIf(!enabled)('answers an ordinary code exchange itself, granting what oidc-provider grants: the secret in the header or in the form', async () => {
    const variants: ((a: Authorized) => TokenRequest)[] = [
      (a) => asApp(codeBody(a)),
      (a) => ({ headers: { 'content-type': FORM }, body: `${codeBody(a)}&client_id=${encodeURIComponent(app.client_id)}&client_secret=${encodeURIComponent(app.client_secret)}` }),
    ];
    for (const variant of variants) {
      const onFast = await ask(fast, variant(await authorize()));
      expect({ status: onFast.status, seen: onFast.seen }, onFast.body).toEqual({ status: 200, seen: [{ by: 'fast path', outcome: 'success' }] });
      const onReference = await ask(reference, variant(await authorize()));
      expect({ status: onReference.status, seen: onReference.seen }, onReference.body).toEqual({ status: 200, seen: [{ by: 'oidc-provider', outcome: 'success' }] });
      expect(onFast.headers['cache-control']).toBe('no-store');
      expect(await granted(fast, onFast)).toEqual(await granted(reference, onReference));
    }
    // openid-client, as a relying party, takes it.
    const before = pair.seen(fast).length;
    const { callback, verifier, state } = await pair.authorize(rp);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()).toMatchObject({ aud: app.client_id, channel: 'web', acr: 'urn:yihao:loa:1' });
    expect(pair.seen(fast).slice(before)).toEqual([{ by: 'fast path', outcome: 'success' }]);
  });

  it.skipIf(!enabled)("answers a refused exchange as oidc-provider does, byte for byte, after running it once: unknown, another app's, a wrong verifier, none, another redirect", async () => {
    const other = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const otherRp = await relyingParty(fast, other);
    const cases: { request: (a: Authorized) => TokenRequest; from?: oidc.Configuration; detail: string }[] = [
      { request: (a) => asApp(codeBody({ ...a, code: 'no-such-code-0123456789abcdefghijklmnopqrstuvw' })), detail: 'authorization code not found' },
      // Another app's code: oidc-provider says no more than that it found no such code for this app.
      { request: (a) => asApp(codeBody(a)), from: otherRp, detail: 'authorization code not found' },
      { request: (a) => asApp(codeBody({ ...a, verifier: `${a.verifier.slice(0, -1)}${a.verifier.endsWith('A') ? 'B' : 'A'}` })), detail: 'code_verifier does not match code_challenge' },
      { request: (a) => asApp(codeBody(a).replace(/&code_verifier=[^&]*/, '')), detail: 'code_verifier must be provided' },
      { request: (a) => asApp(codeBody({ ...a, callback: new URL('/elsewhere', a.callback) })), detail: 'authorization code redirect_uri mismatch' },
    ];
    for (const { request, from, detail } of cases) {
      const onFast = await ask(fast, request(await authorize(from)));
      const onReference = await ask(reference, request(await authorize(from)));
      const what = detail;
      expect(onFast.status, onFast.body).toBe(400);
      const { seen: fastSeen, ...fastAnswer } = onFast;
      const { seen: referenceSeen, ...referenceAnswer } = onReference;
      expect(fastAnswer, what).toEqual(referenceAnswer);
      expect({ fast: fastSeen.map((s) => [s.by, s.outcome]), reference: referenceSeen.map((s) => [s.by, s.outcome]) }, what).toEqual({
        fast: [['fast path', 'error']],
        reference: [['oidc-provider', 'error']],
      });
      expect({ fast: fastSeen.map((s) => s.detail), reference: referenceSeen.map((s) => s.detail) }, what).toEqual({ fast: [detail], reference: [detail] });
    }
  });

  it.skipIf(!enabled)('runs a reused code once: refused, and the tokens of its first use revoked, as oidc-provider does it', async () => {
    for (const h of [fast, reference]) {
      const a = await authorize();
      const first = await ask(h, asApp(codeBody(a)));
      expect(first.status, first.body).toBe(200);
      const { access_token: access, refresh_token: refresh } = JSON.parse(first.body) as { access_token: string; refresh_token: string };

      // The same code again: an intercepted copy. Refused, and the grant revoked.
      const reused = await ask(h, asApp(codeBody(a)));
      expect(reused.status).toBe(400);
      expect(JSON.parse(reused.body)).toMatchObject({ error: 'invalid_grant' });
      expect(reused.seen.map((s) => s.outcome)).toEqual(['error']);
      expect(reused.seen[0]!.detail).toMatch(/already (used|consumed)/);

      expect(await pair.introspect(h, access)).toEqual({ active: false });
      const refreshed = await fetch(new URL('/token', h.url), {
        method: 'POST',
        headers: { authorization: basic(app.client_id, app.client_secret), 'content-type': FORM },
        body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(refresh)}`,
      });
      expect(refreshed.status).toBe(400);
    }
  });

  it.skipIf(!enabled)('hands on, body intact, what it does not fully understand or cannot authenticate: a wrong secret, a resource, a key proof, a cross-origin call, duplicates, another parameter', async () => {
    const requests: ((a: Authorized) => TokenRequest)[] = [
      (a) => asApp(codeBody(a), { authorization: basic(app.client_id, `${app.client_secret}x`) }),
      (a) => asApp(codeBody(a), { authorization: basic('no-such-client', app.client_secret) }),
      (a) => asApp(codeBody(a, '&resource=https%3A%2F%2Frecords.example.gov.cn%2Fapi')),
      (a) => asApp(codeBody(a, '&scope=openid')),
      (a) => asApp(codeBody(a, '&unknown=1')),
      (a) => asApp(`${codeBody(a)}&code=${encodeURIComponent(a.code)}`),
      (a) => asApp(`${codeBody(a)}&grant_type=authorization_code`),
      (a) => asApp(codeBody(a), { dpop: 'not-a-proof' }),
      (a) => asApp(codeBody(a), { origin: 'https://elsewhere.example' }),
    ];
    for (const request of requests) {
      // A code for each instance: some of these oidc-provider grants, and a grant spends its code.
      const onFast = await ask(fast, request(await authorize()));
      const onReference = await ask(reference, request(await authorize()));
      const what = request({ callback: new URL('https://rp.example/cb'), code: 'C', verifier: 'V' }).body.slice(0, 160);
      expect(onFast.seen.map((s) => s.by), what).not.toContain('fast path');
      expect(onFast.seen.map((s) => s.detail), what).toEqual(onReference.seen.map((s) => s.detail));
      if (onFast.status === 200) expect(await granted(fast, onFast), what).toEqual(await granted(reference, onReference));
      else expect({ ...onFast, seen: [] }, what).toEqual({ ...onReference, seen: [] });
    }
  });
});
