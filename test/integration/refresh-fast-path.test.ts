/**
 * The refresh_token grant on the token fast path (src/oidc/token-fast-path.ts) against oidc-provider's
 * own token pipeline: two instances on one store, the second without the fast paths, asked the same
 * things. A success is compared by what it grants (the response's members and headers, the ID
 * token's claims, what introspection says of the access token); a refusal must be the same byte for
 * byte, with the same `grant.error` record.
 *
 * A refresh is not safe to run twice: a refused one may already have spent its token, or revoked
 * the grant on reuse. So once the fast path has run the grant it answers, refused or not, from the
 * token route's own error handling. Had it handed a refused refresh on to the pipeline (as it hands
 * on a refused client_credentials grant), the pipeline would have run it again and refused it for
 * another reason: the reuse test below reads the reason each instance recorded.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import type { Backend, Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { basic, FORM, refreshOf, tokenFastPathPair, type Answer, type PairApp, type TokenRequest } from '../support/token-fast-path-pair.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('refresh_token on the token fast path ($backend)', ({ backend, enabled }) => {
  const pair = tokenFastPathPair(backend, enabled);
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

  const signIn = (client = rp, scope?: string) => pair.signIn(client, scope);

  /** What a refresh grants, without what makes each token its own. */
  async function granted(h: Harness, answer: Answer) {
    const { access_token: access, refresh_token: refresh, id_token: idToken, ...members } = JSON.parse(answer.body) as Record<string, string>;
    expect(typeof refresh).toBe('string');
    const { iat, exp, ...claims } = decodeJwt(idToken!);
    expect([typeof iat, typeof exp]).toEqual(['number', 'number']);
    const { jti, iat: _iat, exp: _exp, ...facts } = await pair.introspect(h, access!);
    expect(jti).toBeUndefined();
    return { members, claims, facts, headers: answer.headers };
  }

  /** What a refresh grants, without what tells two citizens' grants apart. */
  const ofAnyone = ({ claims, facts, ...rest }: Awaited<ReturnType<typeof granted>>) => {
    const { sub, auth_time: authTime, sid, ...claimsOfAnyone } = claims;
    const { sub: factsSub, auth_time: factsAuthTime, sid: factsSid, ...factsOfAnyone } = facts;
    expect([sub, factsSub, authTime, factsAuthTime]).not.toContain(undefined);
    void sid;
    void factsSid;
    return { ...rest, claims: claimsOfAnyone, facts: factsOfAnyone };
  };

  it.skipIf(!enabled)('answers an ordinary refresh itself, granting what oidc-provider grants: the secret in the header or the form, a narrower scope, a UTF-8 form', async () => {
    let token = await signIn();
    const variants: ((t: string) => TokenRequest)[] = [
      (t) => asApp(refreshOf(t)),
      (t) => ({ headers: { 'content-type': FORM }, body: `${refreshOf(t)}&client_id=${encodeURIComponent(app.client_id)}&client_secret=${encodeURIComponent(app.client_secret)}` }),
      (t) => asApp(refreshOf(t, '&scope=openid+profile')),
      (t) => asApp(refreshOf(t), { 'content-type': `${FORM};charset=UTF-8` }),
    ];
    for (const variant of variants) {
      // One grant's rotating token, used on one instance and then the other: the same grant each time.
      const onFast = await ask(fast, variant(token));
      expect({ status: onFast.status, seen: onFast.seen }, onFast.body).toEqual({ status: 200, seen: [{ by: 'fast path', outcome: 'success' }] });
      token = (JSON.parse(onFast.body) as { refresh_token: string }).refresh_token;
      const onReference = await ask(reference, variant(token));
      expect({ status: onReference.status, seen: onReference.seen }, onReference.body).toEqual({ status: 200, seen: [{ by: 'oidc-provider', outcome: 'success' }] });
      token = (JSON.parse(onReference.body) as { refresh_token: string }).refresh_token;
      expect(onFast.headers['cache-control']).toBe('no-store');
      expect(await granted(fast, onFast)).toEqual(await granted(reference, onReference));
    }
    // openid-client, as a relying party, takes it.
    const before = pair.seen(fast).length;
    const tokens = await oidc.refreshTokenGrant(rp, token);
    expect(tokens.claims()).toMatchObject({ aud: app.client_id, channel: 'web' });
    expect(pair.seen(fast).slice(before)).toEqual([{ by: 'fast path', outcome: 'success' }]);
  });

  it.skipIf(!enabled)('answers a refused refresh as oidc-provider does, byte for byte, after running it once: unknown, another app\'s, a scope not granted, asked for HTML', async () => {
    const other = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const othersToken = await signIn(await relyingParty(fast, other), 'openid profile');
    const cases: { request: TokenRequest; detail: string }[] = [
      { request: asApp(refreshOf('no-such-refresh-token-0123456789abcdefghijklmnopq')), detail: 'refresh token not found' },
      { request: asApp(refreshOf(othersToken)), detail: 'client mismatch' },
    ];
    for (const { request, detail } of cases) {
      const onFast = await ask(fast, request);
      const onReference = await ask(reference, request);
      expect(onFast.status, onFast.body).toBe(400);
      const { seen: fastSeen, ...fastAnswer } = onFast;
      const { seen: referenceSeen, ...referenceAnswer } = onReference;
      expect(fastAnswer).toEqual(referenceAnswer);
      expect({ fast: fastSeen, reference: referenceSeen }).toEqual({ fast: [{ by: 'fast path', outcome: 'error', detail }], reference: [{ by: 'oidc-provider', outcome: 'error', detail }] });
    }

    // A scope the token was not granted: the same grant's token, on each instance in turn.
    const token = await signIn();
    const onFast = await ask(fast, asApp(refreshOf(token, '&scope=openid+address')));
    const onReference = await ask(reference, asApp(refreshOf(token, '&scope=openid+address')));
    expect(JSON.parse(onFast.body)).toMatchObject({ error: 'invalid_scope' });
    expect({ ...onFast, seen: onFast.seen.map((s) => s.outcome) }).toEqual({ ...onReference, seen: onReference.seen.map((s) => s.outcome) });
    expect(onFast.seen.map((s) => s.by)).toEqual(['fast path']);

    // A refusal asked for as HTML is oidc-provider's error page.
    const html = { accept: 'text/html' };
    const pageFast = await ask(fast, asApp(refreshOf('no-such-refresh-token-0123456789abcdefghijklmnopq'), html));
    const pageReference = await ask(reference, asApp(refreshOf('no-such-refresh-token-0123456789abcdefghijklmnopq'), html));
    expect([pageFast.status, pageFast.headers['content-type']]).toEqual([pageReference.status, pageReference.headers['content-type']]);
    expect(pageFast.headers['content-type']).toMatch(/^text\/html/);
  });

  it.skipIf(!enabled)('runs a reused refresh token once: refused as reused, the grant revoked, as oidc-provider does it', async () => {
    for (const h of [fast, reference]) {
      const first = await signIn();
      const rotated = await ask(h, asApp(refreshOf(first)));
      expect(rotated.status).toBe(200);
      const successor = (JSON.parse(rotated.body) as { refresh_token: string }).refresh_token;

      // The used token again: a thief's copy. Refused for reuse, which revokes the grant.
      const reused = await ask(h, asApp(refreshOf(first)));
      expect({ status: reused.status, body: JSON.parse(reused.body) as unknown }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
      expect(reused.seen.map((s) => [s.outcome, s.detail])).toEqual([['error', 'refresh token already used']]);
      // The citizen's own successor died with the grant.
      const afterwards = await ask(h, asApp(refreshOf(successor)));
      expect(afterwards.status).toBe(400);
      expect(afterwards.seen.map((s) => s.detail)).toEqual(['refresh token not found']);
    }
  });

  it.skipIf(!enabled)('hands on, body intact, what it does not fully understand or cannot authenticate: a wrong secret, a resource, a key proof, a cross-origin call, duplicates', async () => {
    const requests: ((t: string) => TokenRequest)[] = [
      (t) => asApp(refreshOf(t), { authorization: basic(app.client_id, `${app.client_secret}x`) }),
      (t) => asApp(refreshOf(t), { authorization: basic('no-such-client', app.client_secret) }),
      (t) => asApp(refreshOf(t, '&resource=https%3A%2F%2Frecords.example.gov.cn%2Fapi')),
      (t) => asApp(refreshOf(t, '&unknown=1')),
      (t) => asApp(refreshOf(t, '&scope=openid%22')),
      (t) => asApp(`${refreshOf(t)}&grant_type=refresh_token`),
      (t) => asApp(refreshOf(t), { dpop: 'not-a-proof' }),
      (t) => asApp(refreshOf(t), { origin: 'https://elsewhere.example' }),
    ];
    for (const request of requests) {
      // A grant for each instance: some of these oidc-provider grants, and a grant spends its token.
      const onFast = await ask(fast, request(await signIn()));
      const onReference = await ask(reference, request(await signIn()));
      const what = request('T').body.slice(0, 80);
      expect(onFast.seen.map((s) => s.by), what).not.toContain('fast path');
      expect(onFast.seen.map((s) => s.detail), what).toEqual(onReference.seen.map((s) => s.detail));
      if (onFast.status === 200) expect(ofAnyone(await granted(fast, onFast)), what).toEqual(ofAnyone(await granted(reference, onReference)));
      else expect({ ...onFast, seen: [] }, what).toEqual({ ...onReference, seen: [] });
    }
  });
});
