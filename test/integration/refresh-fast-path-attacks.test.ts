/**
 * An attacker's tries at the refresh_token grant on the token fast path (src/oidc/token-fast-path.ts),
 * and at the Client instance found by the client cache's object (src/oidc/internals.ts
 * clientsByPayload, src/storage/oidc-adapter.ts), from a review of the change that brought them
 * (twenty-third session). Each answer is compared with a second instance without the fast paths
 * on the same store. All of these held when written:
 * - client authentication: expired secrets, encodings of Basic, mixed mechanisms, a public client
 *   posing with a secret;
 * - parameter smuggling: duplicates, encoded names, byte-order marks, charsets, chunked bodies;
 * - concurrent refreshes of one token: exactly one gets tokens; a refused refresh runs once;
 * - a client changed while cached is served as changed at once;
 * - refusals by Yihao's refresh policy record the same grant.error on both.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Harness } from '../support/harness.js';
import { relyingParty } from '../support/relying-party.js';
import { rawRequest } from '../support/raw-http.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { basic, FORM, refreshOf, tokenFastPathPair, type TokenRequest as Request } from '../support/token-fast-path-pair.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('refresh fast path under attack ($backend)', ({ backend, enabled }) => {
  const pair = tokenFastPathPair(backend, enabled);
  const { ask } = pair;
  let fast: Harness;
  let reference: Harness;
  beforeAll(() => {
    if (!enabled) return;
    fast = pair.fast;
    reference = pair.reference;
  });

  async function app(input: Parameters<Harness['client']>[0] = {}) {
    const made = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone', ...input });
    return { id: made.client_id, secret: made.client_secret!, rp: await relyingParty(fast, made) };
  }
  type App = Awaited<ReturnType<typeof app>>;
  const asApp = (a: App, body: string, headers: Record<string, string> = {}): Request => ({ headers: { authorization: basic(a.id, a.secret), 'content-type': FORM, ...headers }, body });

  const signIn = (a: App, scope?: string) => pair.signIn(a.rp, scope);


  /** The same request (each with a token of its own grant) on both instances: the same answer and the same reason, or both granted. */
  const sameOnBoth = async (a: App, request: (token: string) => Request, what: string) => pair.sameOnBoth(request(await signIn(a)), request(await signIn(a)), what);

  /** Rewrites a live client's metadata through an instance's own store (as liveClients.publish does); each instance's own cache drops it. */
  async function rewrite(clientId: string, change: (m: Record<string, unknown>) => Record<string, unknown> | undefined, through: Harness[] = [fast, reference]) {
    for (const h of through) {
      const store = new h.yihao.services.Adapter('Client');
      const current = (await store.find(clientId)) as Record<string, unknown> | undefined;
      const base = current ? structuredClone(current) : undefined;
      const next = base ? change(base) : undefined;
      if (next === undefined) await store.destroy(clientId);
      else await store.upsert(clientId, next as never);
    }
  }

  it.skipIf(!enabled)('1. client authentication: an expired secret, encoding tricks, mixed mechanisms, a public client posing with a secret: as oidc-provider answers', async () => {
    const a = await app();
    const cases: [string, (t: string) => Request][] = [
      // Basic whose client_id is percent-encoded character by character: the same client.
      ['client_id percent-encoded in Basic', (t) => ({ headers: { authorization: `Basic ${Buffer.from(`${[...a.id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}:${encodeURIComponent(a.secret)}`).toString('base64')}`, 'content-type': FORM }, body: refreshOf(t) })],
      ['lower-case scheme', (t) => asApp(a, refreshOf(t), { authorization: basic(a.id, a.secret).replace('Basic', 'basic') })],
      ['client_id in the body differs from Basic', (t) => asApp(a, refreshOf(t, '&client_id=someone-else'))],
      ['client_id in the body equals Basic', (t) => asApp(a, refreshOf(t, `&client_id=${encodeURIComponent(a.id)}`))],
      ['Basic and client_secret both', (t) => asApp(a, refreshOf(t, `&client_secret=${encodeURIComponent(a.secret)}`))],
      ['empty Authorization with the secret in the body', (t) => ({ headers: { authorization: '', 'content-type': FORM }, body: refreshOf(t, `&client_id=${encodeURIComponent(a.id)}&client_secret=${encodeURIComponent(a.secret)}`) })],
      ['Basic with an empty secret', (t) => asApp(a, refreshOf(t), { authorization: `Basic ${Buffer.from(`${a.id}:`).toString('base64')}` })],
      ['Basic secret with a control character', (t) => asApp(a, refreshOf(t), { authorization: `Basic ${Buffer.from(`${a.id}:${a.secret}%0A`).toString('base64')}` })],
      ['Basic base64 without padding', (t) => asApp(a, refreshOf(t), { authorization: basic(a.id, a.secret).replace(/=+$/, '') })],
    ];
    for (const [what, request] of cases) await sameOnBoth(a, request, what);

    // A secret past its client_secret_expires_at.
    const tokenFast = await signIn(a);
    const tokenReference = await signIn(a);
    await rewrite(a.id, (m) => ({ ...m, client_secret_expires_at: Math.floor(Date.now() / 1000) - 3600 }));
    const expiredFast = await ask(fast, asApp(a, refreshOf(tokenFast)));
    const expiredReference = await ask(reference, asApp(a, refreshOf(tokenReference)));
    expect(expiredFast.status, expiredFast.body).not.toBe(200);
    expect({ ...expiredFast, seen: [] }).toEqual({ ...expiredReference, seen: [] });
    expect(expiredFast.seen.map((s) => s.by)).not.toContain('fast path');
  });

  it.skipIf(!enabled)('1b. a public client\'s id with a made-up secret (Basic or form): the pipeline answers, as on the reference', async () => {
    const pub = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile', public: true, applicationType: 'native', redirectUris: ['http://127.0.0.1/cb'] });
    const bogus = 'no-such-refresh-token-0123456789abcdefghijklmnopq';
    const requests: [string, Request][] = [
      ['form', { headers: { 'content-type': FORM }, body: refreshOf(bogus, `&client_id=${encodeURIComponent(pub.client_id)}&client_secret=made-up`) }],
      ['basic', { headers: { 'content-type': FORM, authorization: basic(pub.client_id, 'made-up') }, body: refreshOf(bogus) }],
      ['none', { headers: { 'content-type': FORM }, body: refreshOf(bogus, `&client_id=${encodeURIComponent(pub.client_id)}`) }],
    ];
    for (const [what, request] of requests) {
      const onFast = await ask(fast, request);
      const onReference = await ask(reference, request);
      expect(onFast.status, what).not.toBe(200);
      expect({ ...onFast, seen: [] }, what).toEqual({ ...onReference, seen: [] });
      expect(onFast.seen.map((s) => s.by), what).not.toContain('fast path');
    }
  });

  it.skipIf(!enabled)('2. parameter smuggling: duplicates, encoded names, BOM, charsets, a grant type hidden in a value', async () => {
    const a = await app();
    const cases: [string, (t: string) => Request][] = [
      ['grant_type twice (refresh then cc)', (t) => asApp(a, `${refreshOf(t)}&grant_type=client_credentials`)],
      ['grant_type twice (cc then refresh)', (t) => asApp(a, `grant_type=client_credentials&${refreshOf(t)}`)],
      ['refresh_token twice', (t) => asApp(a, `${refreshOf(t)}&refresh_token=${encodeURIComponent(t)}`)],
      ['scope twice', (t) => asApp(a, refreshOf(t, '&scope=openid&scope=openid+phone'))],
      ['percent-encoded name', (t) => asApp(a, `grant%5Ftype=refresh_token&refresh_token=${encodeURIComponent(t)}`)],
      ['percent-encoded value', (t) => asApp(a, `grant_type=refresh%5Ftoken&refresh_token=${encodeURIComponent(t)}`)],
      ['BOM before the body', (t) => asApp(a, `\uFEFF${refreshOf(t)}`)],
      ['BOM with charset utf-8', (t) => asApp(a, `\uFEFF${refreshOf(t)}`, { 'content-type': `${FORM}; charset=utf-8` })],
      ['charset quoted', (t) => asApp(a, refreshOf(t), { 'content-type': `${FORM}; charset="UTF-8"` })],
      ['charset latin1', (t) => asApp(a, refreshOf(t), { 'content-type': `${FORM}; charset=iso-8859-1` })],
      ['content-type with other parameter', (t) => asApp(a, refreshOf(t), { 'content-type': `${FORM}; foo=bar` })],
      ['grant type spelt in a scope value', (t) => asApp(a, `grant%5Ftype=client_credentials&refresh_token=${encodeURIComponent(t)}&scope=grant_type=refresh_token`)],
      ['empty pair and trailing &', (t) => asApp(a, `&${refreshOf(t)}&`)],
      ['semicolon separator', (t) => asApp(a, `grant_type=refresh_token;refresh_token=${encodeURIComponent(t)}`)],
      ['plus after the token', (t) => asApp(a, `grant_type=refresh_token&refresh_token=${encodeURIComponent(t)}+`)],
      ['BOM-prefixed token value', (t) => asApp(a, `grant_type=refresh_token&refresh_token=%EF%BB%BF${encodeURIComponent(t)}`)],
      ['unknown resource param', (t) => asApp(a, refreshOf(t, '&resource=urn:x'))],
      ['authorization_details', (t) => asApp(a, refreshOf(t, '&authorization_details=%5B%5D'))],
      ['scope with a dropped scope asked explicitly', (t) => asApp(a, refreshOf(t, '&scope=openid+address'))],
    ];
    for (const [what, request] of cases) await sameOnBoth(a, request, what);

    // Transfer-Encoding chunked and a body split across writes (raw HTTP): the same as the pipeline.
    for (const chunked of [true, false]) {
      const answers = [] as number[];
      for (const h of [fast, reference]) {
        const t = await signIn(a);
        const body = refreshOf(t);
        const res = await new Promise<number>((resolve, reject) => {
          const url = new URL('/token', h.url);
          import('node:http').then(({ request }) => {
            const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: basic(a.id, a.secret), 'content-type': FORM, ...(chunked ? {} : { 'content-length': String(body.length) }) } }, (r) => {
              r.resume();
              r.on('end', () => resolve(r.statusCode!));
            });
            req.on('error', reject);
            req.write(body.slice(0, 20));
            setTimeout(() => req.end(body.slice(20)), 30);
          }, reject);
        });
        answers.push(res);
      }
      expect(answers[0], `chunked=${chunked}`).toBe(answers[1]);
    }
    void rawRequest;
  });

  it.skipIf(!enabled)('3. concurrent refreshes of one token: exactly one gets tokens (each instance alone, and the two mixed)', async () => {
    const a = await app();
    for (const spread of [[fast], [reference], [fast, reference]] as Harness[][]) {
      const token = await signIn(a);
      const before = [fast, reference].map((h) => pair.seen(h).length);
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(spread[i % spread.length]!, asApp(a, refreshOf(token)))));
      const events = [fast, reference].flatMap((h, i) => pair.seen(h).slice(before[i]));
      const ok = answers.filter((x) => x.status === 200);
      expect(ok.length, `${spread.length} instance(s): ${answers.map((x) => x.status).join(',')}`).toBe(1);
      // The losers are the pipeline's reuse refusals (invalid_grant), never a 5xx.
      for (const x of answers.filter((y) => y.status !== 200)) expect([x.status, (JSON.parse(x.body) as { error: string }).error]).toEqual([400, 'invalid_grant']);
      // Each request ran the grant once: one event each.
      expect(events.length).toBe(8);
      expect(events.filter((e) => e.outcome === 'success').length).toBe(1);
      if (spread.length === 1 && spread[0] === fast) expect(events.every((e) => e.by === 'fast path')).toBe(true);
    }
  });

  it.skipIf(!enabled)('3b. a refused refresh on the fast path runs once and spends the token the pipeline way (reuse still detected)', async () => {
    const a = await app();
    // invalid_scope from oidc-provider's check: nothing spent on either instance, the token still works once.
    for (const h of [fast, reference]) {
      const t = await signIn(a);
      const refused = await ask(h, asApp(a, refreshOf(t, '&scope=openid+address')));
      expect(refused.status).toBe(400);
      expect(refused.seen).toHaveLength(1);
      const then = await ask(h, asApp(a, refreshOf(t)));
      expect(then.status, `${h === fast ? 'fast' : 'reference'}: ${then.body}`).toBe(200);
    }
  });

  it.skipIf(!enabled)('4. a client changed while cached is served as changed at once on the same instance', async () => {
    // Grant types: refresh_token removed.
    const a = await app();
    const t1 = await signIn(a);
    const t2 = await signIn(a);
    const warm = await ask(fast, asApp(a, refreshOf(t1)));
    expect(warm.status).toBe(200);
    const next1 = (JSON.parse(warm.body) as { refresh_token: string }).refresh_token;
    await rewrite(a.id, (m) => ({ ...m, grant_types: ['authorization_code'] }));
    const noRefresh = await ask(fast, asApp(a, refreshOf(next1)));
    const noRefreshReference = await ask(reference, asApp(a, refreshOf(t2)));
    expect(noRefresh.status, noRefresh.body).toBe(400);
    expect({ ...noRefresh, seen: [] }).toEqual({ ...noRefreshReference, seen: [] });

    // Scope narrowed: phone dropped from the registration.
    const b = await app();
    const u1 = await signIn(b);
    const warmB = await ask(fast, asApp(b, refreshOf(u1)));
    expect(JSON.parse(warmB.body)).toMatchObject({ scope: expect.stringContaining('phone') as unknown });
    const nextB = (JSON.parse(warmB.body) as { refresh_token: string }).refresh_token;
    await rewrite(b.id, (m) => ({ ...m, scope: 'openid profile' }));
    const narrowed = await ask(fast, asApp(b, refreshOf(nextB)));
    expect(narrowed.status, narrowed.body).toBe(200);
    expect((JSON.parse(narrowed.body) as { scope: string }).scope.split(' ')).not.toContain('phone');

    // Secret replaced (no grace): the old one is refused at once.
    const c = await app();
    const v1 = await signIn(c);
    expect((await ask(fast, asApp(c, refreshOf(await signIn(c))))).status).toBe(200);
    const fresh = fast.yihao.services.clientSecrets.generate();
    await rewrite(c.id, (m) => ({ ...m, client_secret: fresh.stored }));
    const oldSecret = await ask(fast, asApp(c, refreshOf(v1)));
    expect(oldSecret.status, oldSecret.body).toBe(401);
    expect(oldSecret.seen.map((s) => s.by)).not.toContain('fast path');
    const newSecret = await ask(fast, asApp({ ...c, secret: fresh.secret }, refreshOf(v1)));
    expect(newSecret.status, newSecret.body).toBe(200);

    // Suspended (taken out of the provider's store): refused at once.
    const d = await app();
    const w1 = await signIn(d);
    const w2 = await signIn(d);
    expect((await ask(fast, asApp(d, refreshOf(w1)))).status).toBe(200);
    await rewrite(d.id, () => undefined);
    const suspended = await ask(fast, asApp(d, refreshOf(w2)));
    expect(suspended.status, suspended.body).toBe(401);
    expect(JSON.parse(suspended.body)).toMatchObject({ error: 'invalid_client' });
  });

  it.skipIf(!enabled || backend !== 'postgres+redis')('4b. a change written on the other instance reaches the fast path at once (Redis invalidation)', async () => {
    const a = await app();
    const t1 = await signIn(a);
    const t2 = await signIn(a);
    expect((await ask(fast, asApp(a, refreshOf(t1)))).status).toBe(200);
    await rewrite(a.id, () => undefined, [reference]);
    const suspended = await ask(fast, asApp(a, refreshOf(t2)));
    expect(suspended.status, suspended.body).toBe(401);
  });

  it.skipIf(!enabled)('5. refusals by Yihao\'s refresh policy and by oidc-provider record the same grant.error on both', async () => {
    const a = await app();
    const tokens = { fast: await signIn(a, 'openid profile phone'), reference: await signIn(a, 'openid profile phone') };
    await rewrite(a.id, (m) => ({ ...m, scope: 'openid profile' }));
    const onFast = await ask(fast, asApp(a, refreshOf(tokens.fast, '&scope=openid+phone')));
    const onReference = await ask(reference, asApp(a, refreshOf(tokens.reference, '&scope=openid+phone')));
    expect(onFast.status).toBe(400);
    expect({ ...onFast, seen: [] }).toEqual({ ...onReference, seen: [] });
    expect(onFast.seen.map((s) => [s.outcome, s.detail])).toEqual(onReference.seen.map((s) => [s.outcome, s.detail]));
    expect(onFast.seen.map((s) => s.by)).toEqual(['fast path']);
  });
});
