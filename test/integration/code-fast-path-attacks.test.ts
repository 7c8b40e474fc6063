/**
 * Attacks on the authorization_code grant on the token fast path (src/oidc/token-fast-path.ts), from
 * a helper's review, all of which held: a relying party bending the request, a thief holding an
 * intercepted code, a network attacker. Every answer is held against a second instance without the fast paths on the
 * same store (test/support/token-fast-path-pair.ts), and where an attack must fail, it must fail.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import type { Backend, Harness } from '../support/harness.js';
import { authorizationUrl, relyingParty, REDIRECT } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { basic, FORM, tokenFastPathPair, type Answer, type TokenRequest } from '../support/token-fast-path-pair.js';
import { secretGrace } from '../../src/clients/index.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Authorized = { callback: URL; code: string; verifier: string; redirect: string; sub: string; browser: ScriptedBrowser };
type App = { id: string; secret: string; rp: oidc.Configuration };
const enc = encodeURIComponent;
const codeBody = (a: { code: string; verifier: string; redirect: string }, extra = '') =>
  `grant_type=authorization_code&code=${enc(a.code)}&redirect_uri=${enc(a.redirect)}&code_verifier=${enc(a.verifier)}${extra}`;
const wrongVerifier = (v: string) => `${v.slice(0, -1)}${v.endsWith('A') ? 'B' : 'A'}`;

describe.each(backends)('authorization_code fast path under attack ($backend)', ({ backend, enabled }) => {
  const pair = tokenFastPathPair(backend, enabled, 'authorization_code');
  const { ask } = pair;
  let fast: Harness;
  let reference: Harness;
  let app: App;
  /** Every token-route event per instance, with the client it names. */
  const events = new Map<Harness, { name: string; gt?: unknown; client?: string | undefined }[]>();

  beforeAll(async () => {
    if (!enabled) return;
    fast = pair.fast;
    reference = pair.reference;
    for (const h of [fast, reference]) {
      const list: { name: string; gt?: unknown; client?: string | undefined }[] = [];
      events.set(h, list);
      const provider = h.yihao.holder.current as Provider;
      const clientOf = (ctx: unknown) => (ctx as { oidc?: { client?: { clientId: string } } }).oidc?.client?.clientId;
      const gtOf = (ctx: unknown) => (ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type;
      provider.on('grant.success', (ctx) => list.push({ name: 'grant.success', gt: gtOf(ctx), client: clientOf(ctx) }));
      provider.on('grant.error', (ctx) => list.push({ name: 'grant.error', gt: gtOf(ctx), client: clientOf(ctx) }));
      provider.on('grant.revoked', (ctx) => list.push({ name: 'grant.revoked', client: clientOf(ctx) }));
      provider.on('server_error', (ctx) => list.push({ name: 'server_error', client: clientOf(ctx) }));
    }
    app = await makeApp();
  });

  async function makeApp(input: Parameters<Harness['client']>[0] = {}): Promise<App> {
    const made = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone', ...input });
    return { id: made.client_id, secret: made.client_secret!, rp: await relyingParty(fast, made) };
  }

  async function authorize(a: App, extra: Record<string, string> = {}): Promise<Authorized> {
    const citizen = await fast.citizen();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(a.rp, verifier, { scope: 'openid profile phone', state: oidc.randomState(), ...extra });
    const browser = new ScriptedBrowser();
    const callback = await scriptedSignIn(browser, url, { identifier: citizen.citizenId, password: citizen.password });
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback.href}`);
    return { callback, code, verifier, redirect: extra.redirect_uri ?? REDIRECT, sub: citizen.sub, browser };
  }

  const asApp = (a: App, body: string, headers: Record<string, string> = {}): TokenRequest => ({ headers: { authorization: basic(a.id, a.secret), 'content-type': FORM, ...headers }, body });

  /** The same request (each instance a code of its own) answered the same on both; returns both answers. */
  const sameOnBoth = async (a: App, request: (x: Authorized) => TokenRequest, what: string, extra?: Record<string, string>) =>
    pair.sameOnBoth(request(await authorize(a, extra)), request(await authorize(a, extra)), what, { headers: true });

  async function rewrite(clientId: string, change: (m: Record<string, unknown>) => Record<string, unknown>) {
    for (const h of [fast, reference]) {
      const store = new h.yihao.services.Adapter('Client');
      const current = (await store.find(clientId)) as Record<string, unknown>;
      await store.upsert(clientId, change(structuredClone(current)) as never);
    }
  }

  const introspect = async (h: Harness, a: App, token: string) =>
    (await (await fetch(new URL('/token/introspection', h.url), { method: 'POST', headers: { authorization: basic(a.id, a.secret), 'content-type': FORM }, body: `token=${enc(token)}` })).json()) as { active: boolean };

  it.skipIf(!enabled)('1. PKCE bypass and parameter smuggling: refused where they must be, and as oidc-provider answers', async () => {
    const refused: [string, (x: Authorized) => TokenRequest][] = [
      ['no code_verifier', (x) => asApp(app, codeBody(x).replace(/&code_verifier=[^&]*/, ''))],
      ['empty code_verifier', (x) => asApp(app, codeBody({ ...x, verifier: '' }))],
      ['code_verifier twice, right then wrong', (x) => asApp(app, `${codeBody(x)}&code_verifier=${wrongVerifier(x.verifier)}`)],
      ['code_verifier twice, wrong then right', (x) => asApp(app, `${codeBody({ ...x, verifier: wrongVerifier(x.verifier) })}&code_verifier=${x.verifier}`)],
      ['code_verifier twice, the same', (x) => asApp(app, `${codeBody(x)}&code_verifier=${x.verifier}`)],
      ['code_verifier with an empty twin', (x) => asApp(app, `${codeBody(x)}&code_verifier=`)],
      ['Code_Verifier (case)', (x) => asApp(app, codeBody(x).replace('code_verifier=', 'Code_Verifier='))],
      ['CODE_VERIFIER (case)', (x) => asApp(app, codeBody(x).replace('code_verifier=', 'CODE_VERIFIER='))],
      ['the challenge itself as verifier (plain downgrade)', (x) => asApp(app, codeBody({ ...x, verifier: oidcChallenge(x.verifier) }))],
      ['a well-formed random verifier', (x) => asApp(app, codeBody({ ...x, verifier: oidc.randomPKCECodeVerifier() }))],
      ['verifier with a trailing +', (x) => asApp(app, `${codeBody(x)}+`)],
      ['verifier with a trailing %20', (x) => asApp(app, `${codeBody(x)}%20`)],
      ['verifier with a trailing %00', (x) => asApp(app, `${codeBody(x)}%00`)],
      ['verifier with a leading BOM', (x) => asApp(app, codeBody(x).replace('code_verifier=', 'code_verifier=%EF%BB%BF'))],
      ['BOM before the body', (x) => asApp(app, `\uFEFF${codeBody(x)}`)],
      ['BOM before the body, charset utf-8', (x) => asApp(app, `\uFEFF${codeBody(x)}`, { 'content-type': `${FORM}; charset=utf-8` })],
      ['verifier truncated to 42', (x) => asApp(app, codeBody({ ...x, verifier: x.verifier.slice(0, 42) }))],
      ['Basic and client_secret in the form', (x) => asApp(app, codeBody(x, `&client_secret=${enc(app.secret)}`))],
      ['Basic and another client_id in the form', (x) => asApp(app, codeBody(x, '&client_id=someone-else'))],
      ['grant_type twice (code, refresh)', (x) => asApp(app, `${codeBody(x)}&grant_type=refresh_token`)],
      ['grant_type twice (refresh, code)', (x) => asApp(app, `grant_type=refresh_token&${codeBody(x)}`)],
      ['code twice, second bogus', (x) => asApp(app, `${codeBody(x)}&code=bogus`)],
      ['redirect_uri twice', (x) => asApp(app, `${codeBody(x)}&redirect_uri=${enc(x.redirect)}`)],
      ['no secret at all, client_id in the form', (x) => ({ headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(app.id)}`) })],
      ['form secret wrong', (x) => ({ headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(app.id)}&client_secret=${enc(app.secret)}x`) })],
    ];
    for (const [what, request] of refused) {
      const { onFast } = await sameOnBoth(app, request, what);
      expect(onFast.status, `${what}: ${onFast.body}`).not.toBe(200);
      expect(onFast.seen.filter((s) => s.outcome === 'success'), what).toEqual([]);
    }
    // Parsed alike, whatever oidc-provider makes of them: same answer on both.
    const alike: [string, (x: Authorized) => TokenRequest][] = [
      ['percent-encoded name code%5Fverifier', (x) => asApp(app, codeBody(x).replace('code_verifier=', 'code%5Fverifier='))],
      ['percent-encoded name grant%5Ftype', (x) => asApp(app, codeBody(x).replace('grant_type=', 'grant%5Ftype='))],
      ['grant type spelt in another value', (x) => asApp(app, `grant_type=authorization_code&code=${enc(x.code)}&redirect_uri=${enc(`${x.redirect}?grant_type=authorization_code`)}&code_verifier=${x.verifier}`)],
      ['semicolon separators', (x) => asApp(app, codeBody(x).replace(/&/g, ';'))],
      ['trailing & and empty pair', (x) => asApp(app, `&${codeBody(x)}&&`)],
      ['charset latin1', (x) => asApp(app, codeBody(x), { 'content-type': `${FORM}; charset=iso-8859-1` })],
      ['charset quoted UTF-8', (x) => asApp(app, codeBody(x), { 'content-type': `${FORM}; charset="UTF-8"` })],
      ['content-type upper case', (x) => asApp(app, codeBody(x), { 'content-type': 'APPLICATION/X-WWW-FORM-URLENCODED' })],
      ['form secret (client_secret_post) with the id percent-encoded', (x) => ({ headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${[...app.id].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}&client_secret=${enc(app.secret)}`) })],
      // oidc-provider takes the form secret when Authorization is empty: the app's own valid secret.
      ['form secret with an empty Authorization', (x) => ({ headers: { 'content-type': FORM, authorization: '' }, body: codeBody(x, `&client_id=${enc(app.id)}&client_secret=${enc(app.secret)}`) })],
      ['Basic with + for a space-free secret', (x) => asApp(app, codeBody(x), { authorization: `Basic ${Buffer.from(`${app.id}:${app.secret}`).toString('base64')}` })],
    ];
    for (const [what, request] of alike) await sameOnBoth(app, request, what);

    // A plain challenge is not even accepted at the authorization endpoint.
    const plainUrl = await oidc.buildAuthorizationUrl(app.rp, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain', state: 's' });
    const browser = new ScriptedBrowser();
    const { url } = await browser.follow(plainUrl, {}, new URL(plainUrl).origin);
    expect(url.searchParams.get('code'), url.href).toBeNull();
  });

  it.skipIf(!enabled)('1b. a refused verifier does not spend the code, on either (the legitimate client can still redeem it)', async () => {
    for (const h of [fast, reference]) {
      const x = await authorize(app);
      const bad = await ask(h, asApp(app, codeBody({ ...x, verifier: wrongVerifier(x.verifier) })));
      expect(bad.status).toBe(400);
      const good = await ask(h, asApp(app, codeBody(x)));
      expect(good.status, good.body).toBe(200);
    }
  });

  it.skipIf(!enabled)('2. a public client, a private_key_jwt client, a client without the code grant, an expired secret, a secret in grace: never the fast path with a secret it should not take', async () => {
    // Public (token_endpoint_auth_method none), with a stale secret written into its metadata too.
    const made = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile', public: true, applicationType: 'native' });
    const pub: App = { id: made.client_id, secret: 'made-up-secret', rp: await relyingParty(fast, made) };
    const planted = fast.yihao.services.clientSecrets.generate();
    const authorizePub = () => authorize(pub, { scope: 'openid profile' });
    for (const [what, withPlanted, request] of [
      ['basic made-up', false, (x: Authorized) => asApp(pub, codeBody(x))],
      ['form made-up', false, (x: Authorized) => ({ headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(pub.id)}&client_secret=made-up-secret`) })],
      ['basic with a secret planted in its metadata', true, (x: Authorized) => asApp({ ...pub, secret: planted.secret }, codeBody(x))],
      ['form with a secret planted in its metadata', true, (x: Authorized) => ({ headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(pub.id)}&client_secret=${enc(planted.secret)}`) })],
    ] as const) {
      const xs = [await authorizePub(), await authorizePub()];
      if (withPlanted) await rewrite(pub.id, (m) => ({ ...m, client_secret: planted.stored }));
      const onFast = await ask(fast, request(xs[0]!));
      const onReference = await ask(reference, request(xs[1]!));
      expect(onFast.seen.map((s) => s.by), what).not.toContain('fast path');
      expect({ ...onFast, seen: [] }, what).toEqual({ ...onReference, seen: [] });
      if (withPlanted) await rewrite(pub.id, (m) => { const { client_secret: _s, ...rest } = m; return rest; });
    }

    // private_key_jwt, with the secret it had before left in its metadata.
    const pk = await makeApp();
    const { publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const pkCodes = [await authorize(pk), await authorize(pk)];
    await rewrite(pk.id, (m) => ({ ...m, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }));
    {
      const onFast = await ask(fast, asApp(pk, codeBody(pkCodes[0]!)));
      const onReference = await ask(reference, asApp(pk, codeBody(pkCodes[1]!)));
      expect(onFast.status, onFast.body).not.toBe(200);
      expect(onFast.seen.map((s) => s.by)).not.toContain('fast path');
      expect({ ...onFast, seen: [] }).toEqual({ ...onReference, seen: [] });
    }

    // The code grant taken away after the code was issued.
    const nc = await makeApp();
    const ncCodes = [await authorize(nc), await authorize(nc)];
    await rewrite(nc.id, (m) => ({ ...m, grant_types: ['client_credentials'], response_types: [] }));
    {
      const onFast = await ask(fast, asApp(nc, codeBody(ncCodes[0]!)));
      const onReference = await ask(reference, asApp(nc, codeBody(ncCodes[1]!)));
      expect(onFast.status, onFast.body).not.toBe(200);
      expect(onFast.seen.map((s) => s.by)).not.toContain('fast path');
      expect({ ...onFast, seen: [] }).toEqual({ ...onReference, seen: [] });
    }

    // An expired secret.
    const ex = await makeApp();
    const exCodes = [await authorize(ex), await authorize(ex)];
    await rewrite(ex.id, (m) => ({ ...m, client_secret_expires_at: Math.floor(Date.now() / 1000) - 60 }));
    {
      const onFast = await ask(fast, asApp(ex, codeBody(exCodes[0]!)));
      const onReference = await ask(reference, asApp(ex, codeBody(exCodes[1]!)));
      expect([400, 401], onFast.body).toContain(onFast.status);
      expect(onFast.seen.map((s) => s.by)).not.toContain('fast path');
      expect({ ...onFast, seen: [] }).toEqual({ ...onReference, seen: [] });
    }

    // A rotation's grace: the old secret goes to the pipeline (which accepts it), the new one is fast.
    const gr = await makeApp();
    const grCodes = [await authorize(gr), await authorize(gr), await authorize(gr)];
    const fresh = fast.yihao.services.clientSecrets.generate();
    const oldStored = ((await new fast.yihao.services.Adapter('Client').find(gr.id)) as { client_secret: string }).client_secret;
    await secretGrace(fast.yihao.stores.db).add(gr.id, oldStored, Date.now() + 3_600_000);
    await rewrite(gr.id, (m) => ({ ...m, client_secret: fresh.stored }));
    {
      const onFast = await ask(fast, asApp(gr, codeBody(grCodes[0]!)));
      const onReference = await ask(reference, asApp(gr, codeBody(grCodes[1]!)));
      expect(onFast.seen.map((s) => s.by)).not.toContain('fast path');
      expect(onFast.status, onFast.body).toBe(onReference.status);
      const onNew = await ask(fast, asApp({ ...gr, secret: fresh.secret }, codeBody(grCodes[2]!)));
      expect([onNew.status, onNew.seen.map((s) => s.by)], onNew.body).toEqual([200, ['fast path']]);
    }
  });

  it.skipIf(!enabled)('3. concurrent exchanges of one code: at most one gets tokens, and those die with the reuse (fast, reference, mixed)', async () => {
    for (const spread of [[fast], [reference], [fast, reference]] as Harness[][]) {
      const label = spread.map((h) => (h === fast ? 'fast' : 'reference')).join('+');
      const x = await authorize(app);
      const before = [fast, reference].map((h) => pair.seen(h).length);
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(spread[i % spread.length]!, asApp(app, codeBody(x)))));
      const ran = [fast, reference].flatMap((h, i) => pair.seen(h).slice(before[i]));
      const ok = answers.filter((a) => a.status === 200);
      expect(ok.length, `${label}: ${answers.map((a) => a.status).join(',')}`).toBeLessThanOrEqual(1);
      for (const a of answers.filter((y) => y.status !== 200)) expect([a.status, (JSON.parse(a.body) as { error: string }).error], `${label}: ${a.body}`).toEqual([400, 'invalid_grant']);
      // Each request ran the grant exactly once (one event each), and at most one succeeded.
      expect(ran.length, label).toBe(8);
      expect(ran.filter((e) => e.outcome === 'success').length, label).toBe(ok.length);
      if (spread.length === 1 && spread[0] === fast) expect(ran.every((e) => e.by === 'fast path'), label).toBe(true);
      if (ok[0]) {
        const { access_token: access, refresh_token: refresh } = JSON.parse(ok[0].body) as { access_token: string; refresh_token: string };
        // Wait for the last loser's revocation to be written (they all answered already).
        for (const h of [fast, reference]) expect(await introspect(h, app, access), `${label}: winner's access token after reuse`).toEqual({ active: false });
        const refreshed = await ask(fast, asApp(app, `grant_type=refresh_token&refresh_token=${enc(refresh)}`));
        expect(refreshed.status, `${label}: winner's refresh token after reuse`).toBe(400);
      }
    }
  });

  it.skipIf(!enabled)("3b. another app's code with that app's own valid secret: refused, and the rightful app's exchange unharmed", async () => {
    const thief = await makeApp();
    for (const h of [fast, reference]) {
      const x = await authorize(app);
      for (const request of [
        asApp(thief, codeBody(x)),
        { headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(thief.id)}&client_secret=${enc(thief.secret)}`) },
        asApp(thief, codeBody(x, `&client_id=${enc(app.id)}`)),
        { headers: { 'content-type': FORM }, body: codeBody(x, `&client_id=${enc(app.id)}&client_secret=${enc(thief.secret)}`) },
      ]) {
        const stolen = await ask(h, request);
        expect(stolen.status, stolen.body).not.toBe(200);
      }
      const rightful = await ask(h, asApp(app, codeBody(x)));
      expect(rightful.status, `${h === fast ? 'fast' : 'reference'}: ${rightful.body}`).toBe(200);
    }
  });

  it.skipIf(!enabled)('4. redirect_uri: omitted, another, trailing slash, case, encoding, query: as oidc-provider answers, and only an exact one (or omitted with one registered) is granted', async () => {
    const variants: [string, (r: string) => string | undefined, boolean][] = [
      ['omitted', () => undefined, true],
      ['trailing slash', (r) => `${r}/`, false],
      ['upper-case path', (r) => r.replace('/cb', '/CB'), false],
      ['upper-case scheme and host', (r) => r.replace('http://127.0.0.1', 'HTTP://127.0.0.1'), false],
      ['percent-encoded path', (r) => r.replace('/cb', '/%63b'), false],
      ['with a query', (r) => `${r}?x=1`, false],
      ['with an empty fragment', (r) => `${r}#`, false],
      ['default port added', (r) => r.replace(':9/', ':9/./'), false],
      ['localhost instead of 127.0.0.1', (r) => r.replace('127.0.0.1', 'localhost'), false],
    ];
    const body = (x: Authorized, uri: string | undefined) => `grant_type=authorization_code&code=${enc(x.code)}${uri === undefined ? '' : `&redirect_uri=${enc(uri)}`}&code_verifier=${enc(x.verifier)}`;
    for (const [what, uri, mayGrant] of variants) {
      const { onFast } = await sameOnBoth(app, (x) => asApp(app, body(x, uri(x.redirect))), `redirect_uri ${what}`);
      if (!mayGrant) expect(onFast.status, `redirect_uri ${what}: ${onFast.body}`).toBe(400);
    }
    // Two registered: a code for the second, redeemed without one (or with the first) is refused.
    const two = await makeApp({ redirectUris: [REDIRECT, 'http://127.0.0.1:9/cb2'] });
    for (const [what, uri] of [['omitted', undefined], ['the other registered', REDIRECT]] as const) {
      const { onFast } = await sameOnBoth(two, (x) => asApp(two, body(x, uri)), `two registered, ${what}`, { redirect_uri: 'http://127.0.0.1:9/cb2' });
      expect(onFast.status, `two registered, ${what}`).toBe(400);
    }
  });

  it.skipIf(!enabled)('6. events: one grant.success or grant.error per exchange, naming the client; the reuse revocation names it too; same headers as the reference', async () => {
    for (const h of [fast, reference]) {
      const list = events.get(h)!;
      const x = await authorize(app);
      let before = list.length;
      const ok = await ask(h, asApp(app, codeBody(x)));
      expect(ok.status).toBe(200);
      expect(list.slice(before), 'success').toEqual([{ name: 'grant.success', gt: 'authorization_code', client: app.id }]);

      before = list.length;
      const reused = await ask(h, asApp(app, codeBody(x)));
      expect(reused.status).toBe(400);
      const seen = list.slice(before);
      expect(seen.filter((e) => e.name === 'grant.error'), 'reuse').toEqual([{ name: 'grant.error', gt: 'authorization_code', client: app.id }]);
      expect(seen.filter((e) => e.name === 'grant.revoked'), 'reuse revoked').toEqual([{ name: 'grant.revoked', client: app.id }]);
      expect(seen.filter((e) => e.name === 'grant.success' || e.name === 'server_error'), 'reuse').toEqual([]);

      const y = await authorize(app);
      before = list.length;
      const bad = await ask(h, asApp(app, codeBody({ ...y, verifier: wrongVerifier(y.verifier) })));
      expect(bad.status).toBe(400);
      expect(list.slice(before), 'wrong verifier').toEqual([{ name: 'grant.error', gt: 'authorization_code', client: app.id }]);
    }
    // Headers of a success and of a refusal, compared (varying ones left out by the pair).
    const { onFast } = await sameOnBoth(app, (x) => asApp(app, codeBody(x)), 'plain success');
    expect(onFast.headers['cache-control']).toBe('no-store');
    expect(onFast.headers.pragma).toBe((await sameOnBoth(app, (x) => asApp(app, codeBody(x)), 'plain success again')).onReference.headers.pragma);
    await sameOnBoth(app, (x) => asApp(app, codeBody({ ...x, code: `${x.code}x` })), 'unknown code');
  });

  it.skipIf(!enabled)('7. a disabled account or a session gone between authorization and exchange: as the pipeline answers (a disabled account gets nothing)', async () => {
    // Disabled.
    const answers: Answer[] = [];
    for (const h of [fast, reference]) {
      const x = await authorize(app);
      const account = await fast.yihao.accounts.findBySub(x.sub);
      await fast.yihao.accounts.setStatus(account!.id, 'disabled');
      answers.push(await ask(h, asApp(app, codeBody(x))));
    }
    expect(answers[0]!.status, answers[0]!.body).not.toBe(200);
    expect({ ...answers[0]!, seen: [] }).toEqual({ ...answers[1]!, seen: [] });
    expect(answers[0]!.seen.map((s) => [s.outcome, s.detail])).toEqual(answers[1]!.seen.map((s) => [s.outcome, s.detail]));

    // The session record gone (as after a sign-out elsewhere).
    const gone: Answer[] = [];
    for (const h of [fast, reference]) {
      const x = await authorize(app);
      const cookie = x.browser.cookieHeader(new URL(h.issuer));
      const sessionId = /(?:^|; )_session=([^;]+)/.exec(cookie)?.[1];
      expect(sessionId, cookie).toBeDefined();
      await new h.yihao.services.Adapter('Session').destroy(sessionId!);
      gone.push(await ask(h, asApp(app, codeBody(x))));
    }
    expect(gone[0]!.status, `${gone[0]!.body} vs ${gone[1]!.body}`).toBe(gone[1]!.status);
    expect(gone[0]!.seen.map((s) => [s.outcome, s.detail])).toEqual(gone[1]!.seen.map((s) => [s.outcome, s.detail]));
  });
});

/** S256 of a verifier, as the authorization request carried it. */
function oidcChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}
