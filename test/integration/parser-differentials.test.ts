/**
 * Parser differentials and prototype pollution at every body and query parser.
 *
 * Two parsers reading one request must agree: the client_credentials and userinfo fast paths
 * (src/oidc/*-fast-path.ts) against oidc-provider's own pipeline (a second instance on the same
 * store, without fast paths), and Yihao's own body readers (src/http/request-body.ts,
 * src/http/form-body.ts, the admin API's, the mobile API's and the credential issuer's JSON) against
 * hostile shapes. The app runs in this process, so anything a parser leaked onto Object.prototype
 * is visible here.
 *
 * Found by a review: a UTF-8 body with a BOM got a token from the fast path and
 * `missing required parameter 'grant_type'` from oidc-provider (it failed before the fix).
 */
import { rawRequest } from '../support/raw-http.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { authorizationUrl, REDIRECT, relyingParty } from '../support/relying-party.js';
import { formAction, formField, ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { operator } from '../support/admin-operators.js';
import { phoneWithDeviceKey, registerMobileApp } from '../support/mobile-app.js';
import { adminResource } from '../../src/admin/index.js';
import { CREDENTIAL_PATHS } from '../../src/credentials/issuer-metadata.js';
import { PRESENTATION_PATHS } from '../../src/credentials/presentation-requests.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const FORM = 'application/x-www-form-urlencoded';
const POLLUTERS = ['yihaoPolluted', 'isAdmin', 'x', 'polluted'];

/** Nothing any request did may show on every object of this process. */
function expectCleanPrototype(): void {
  const probe = {} as Record<string, unknown>;
  for (const name of POLLUTERS) expect(probe[name], `Object.prototype.${name}`).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
  expect(Object.keys(Object.prototype)).toEqual([]);
}

const raw = rawRequest;

const basicOf = (clientId: string, secret: string, encode = true) =>
  `Basic ${Buffer.from(encode ? `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}` : `${clientId}:${secret}`).toString('base64')}`;

describe.each(backends)('parser differentials at /token and /me ($backend)', ({ backend, enabled }) => {
  let fast: Harness;
  let reference: Harness;
  let service: { clientId: string; secret: string };
  let other: { clientId: string; secret: string };
  /** Which instance's grants the fast path answered (oidc-provider's own pipeline leaves its parsed body on the context). */
  const answeredBy = new Map<Harness, string[]>();
  const watch = (h: Harness) => {
    answeredBy.set(h, []);
    (h.yihao.holder.current as Provider).on('grant.success', (ctx) => {
      const seen = ctx as unknown as { oidc: { body?: unknown } };
      answeredBy.get(h)!.push(seen.oidc.body === undefined ? 'fast path' : 'oidc-provider');
    });
  };

  beforeAll(async () => {
    if (!enabled) return;
    fast = await startHarness({ backend });
    reference = await startHarness({ share: fast, fastPaths: false });
    watch(fast);
    watch(reference);
    const a = await fast.client({ grantTypes: ['client_credentials'], redirectUris: [], scope: 'openid profile' });
    const b = await fast.client({ grantTypes: ['client_credentials'], redirectUris: [], scope: 'openid profile' });
    service = { clientId: a.client_id, secret: a.client_secret! };
    other = { clientId: b.client_id, secret: b.client_secret! };
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });
  afterEach(() => {
    if (enabled) expectCleanPrototype();
  });

  /** The same request at both instances: the fast path must never grant what oidc-provider refuses, nor answer a refusal otherwise. */
  async function sameAtBoth(label: string, init: { headers: Record<string, string>; body: Buffer | string; path?: string }) {
    const before = answeredBy.get(fast)!.length;
    const a = await raw(fast.url, init.path ?? '/token', init);
    const b = await raw(reference.url, init.path ?? '/token', init);
    const by = answeredBy.get(fast)!.slice(before);
    expect(a.status, `${label}: fast ${a.status} ${a.body.slice(0, 120)} / reference ${b.status} ${b.body.slice(0, 120)}`).toBe(b.status);
    expect(a.status, label).toBeLessThan(500);
    if (b.status !== 200) {
      expect(a.body, label).toBe(b.body);
      expect(by, label).toEqual([]);
    }
    return { fast: a, reference: b, by };
  }

  const asService = (body: string, headers: Record<string, string> = {}) => ({ headers: { authorization: basicOf(service.clientId, service.secret), 'content-type': FORM, ...headers }, body });

  it.skipIf(!enabled)('reads duplicated, percent-encoded, empty and oddly spelled parameters as oidc-provider does', async () => {
    const cases: [string, string][] = [
      ['percent-encoded key', 'grant%5Ftype=client_credentials'],
      ['fully encoded key and value', '%67%72%61%6e%74%5f%74%79%70%65=%63lient_credentials'],
      ['duplicate grant_type, client_credentials first', 'grant_type=client_credentials&grant_type=refresh_token'],
      ['duplicate grant_type, client_credentials last', 'grant_type=refresh_token&grant_type=client_credentials'],
      ['duplicate via encoding', 'grant_type=client_credentials&grant%5Ftype=client_credentials'],
      ['empty scope', 'grant_type=client_credentials&scope='],
      ['scope with +', 'grant_type=client_credentials&scope=openid+profile'],
      ['scope with %20', 'grant_type=client_credentials&scope=openid%20profile'],
      ['scope with a tab', 'grant_type=client_credentials&scope=openid%09profile'],
      ['key with a trailing space', 'grant_type+=client_credentials'],
      ['value with a trailing space', 'grant_type=client_credentials+'],
      ['empty pairs', '&&grant_type=client_credentials&&'],
      ['bare key', 'grant_type=client_credentials&scope'],
      ['semicolon separator', 'grant_type=client_credentials;scope=openid'],
      ['NUL in value', 'grant_type=client_credentials%00'],
      ['bad percent escape', 'grant_type=client_credentials&scope=%zz'],
      ['__proto__ key', 'grant_type=client_credentials&__proto__=x'],
      ['hasOwnProperty key', 'grant_type=client_credentials&hasOwnProperty=x'],
      // node:querystring stops at 1000 pairs: whatever comes after must not be read by one parser only.
      ['past querystring\'s 1000 pairs', `grant_type=client_credentials${'&'.repeat(1001)}&client_secret=wrong`],
      ['past 1000 pairs with a second client', `grant_type=client_credentials${'&'.repeat(1001)}&client_id=${encodeURIComponent(other.clientId)}`],
    ];
    for (const [label, body] of cases) await sameAtBoth(label, asService(body));
  });

  it.skipIf(!enabled)('reads content types, charsets and byte-order marks as oidc-provider does', async () => {
    const body = 'grant_type=client_credentials&scope=openid';
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]);
    const utf16 = Buffer.from(`\ufeff${body}`, 'utf16le');
    const cases: [string, string, Buffer | string][] = [
      ['uppercase type', 'APPLICATION/X-WWW-FORM-URLENCODED', body],
      ['extra parameter', `${FORM};foo=bar`, body],
      ['charset latin1', `${FORM}; charset=latin1`, body],
      ['charset iso-8859-1 with a latin1 byte', `${FORM}; charset=iso-8859-1`, Buffer.from(`${body}&resource=\xe9`, 'latin1')],
      ['charset utf-16', `${FORM}; charset=utf-16`, utf16],
      ['charset utf-16le', `${FORM}; charset=utf-16le`, utf16],
      ['quoted charset', `${FORM}; charset="utf-8"`, body],
      ['uppercase charset', `${FORM}; charset=UTF-8`, body],
      ['BOM without charset', FORM, bom],
      ['two charsets', `${FORM}; charset=utf-8; charset=latin1`, body],
      ['two types', `${FORM}, application/json`, body],
      ['a JSON body', 'application/json', JSON.stringify({ grant_type: 'client_credentials' })],
      // Last: oidc-provider runs on Koa's context, whose ctx.charset is undefined, so it parses the
      // bytes as they are and its first key is "\ufeffgrant_type"; the fast path strips the BOM.
      ['BOM with charset utf-8', `${FORM}; charset=utf-8`, bom],
    ];
    for (const [label, type, bytes] of cases) await sameAtBoth(label, { headers: { authorization: basicOf(service.clientId, service.secret), 'content-type': type }, body: bytes });
  });

  it.skipIf(!enabled)('refuses two clients\' credentials in one request, and reads Basic credentials as oidc-provider does', async () => {
    const mine = `client_id=${encodeURIComponent(service.clientId)}&client_secret=${encodeURIComponent(service.secret)}`;
    const theirs = `client_id=${encodeURIComponent(other.clientId)}&client_secret=${encodeURIComponent(other.secret)}`;
    const cases: [string, { headers: Record<string, string>; body: string }][] = [
      ['Basic of one, body secret of another', asService(`grant_type=client_credentials&${theirs}`)],
      ['Basic of one, body client_id of another', asService(`grant_type=client_credentials&client_id=${encodeURIComponent(other.clientId)}`)],
      ['Basic of one, body secret of the same', asService(`grant_type=client_credentials&client_secret=${encodeURIComponent(service.secret)}`)],
      ['Basic of one, empty body client_id', asService('grant_type=client_credentials&client_id=')],
      ['two body credentials', { headers: { 'content-type': FORM }, body: `grant_type=client_credentials&${mine}&${theirs}` }],
      ['body secret of one, client_id of another', { headers: { 'content-type': FORM }, body: `grant_type=client_credentials&client_id=${encodeURIComponent(other.clientId)}&client_secret=${encodeURIComponent(service.secret)}` }],
      ['Basic not percent-encoded', asService('grant_type=client_credentials', { authorization: basicOf(service.clientId, service.secret, false) })],
      ['Basic with an over-encoded id', asService('grant_type=client_credentials', { authorization: `Basic ${Buffer.from(`${[...service.clientId].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}:${encodeURIComponent(service.secret)}`).toString('base64')}` })],
      ['Basic with a colon after the secret', asService('grant_type=client_credentials', { authorization: basicOf(service.clientId, `${service.secret}:${other.secret}`, false) })],
      ['Basic with the other client\'s secret after a colon', asService('grant_type=client_credentials', { authorization: `Basic ${Buffer.from(`${service.clientId}:${other.secret}:${service.secret}`).toString('base64')}` })],
      ['Basic with a + in the secret', asService('grant_type=client_credentials', { authorization: basicOf(service.clientId, `${service.secret}+`, false) })],
      ['Basic without padding', asService('grant_type=client_credentials', { authorization: basicOf(service.clientId, service.secret).replace(/=+$/, '') })],
      ['Basic lowercase scheme', asService('grant_type=client_credentials', { authorization: basicOf(service.clientId, service.secret).replace('Basic', 'basic') })],
      ['Basic with trailing space', asService('grant_type=client_credentials', { authorization: `${basicOf(service.clientId, service.secret)} ` })],
      ['Basic base64url', asService('grant_type=client_credentials', { authorization: `Basic ${Buffer.from(`${service.clientId}:${service.secret}`).toString('base64url')}` })],
      ['empty Authorization with body credentials', { headers: { authorization: '', 'content-type': FORM }, body: `grant_type=client_credentials&${mine}` }],
    ];
    for (const [label, init] of cases) {
      const { fast: a } = await sameAtBoth(label, init);
      if (label.includes('another') || label.includes('two body')) expect(a.status, label).not.toBe(200);
    }
  });

  it.skipIf(!enabled)('answers a token in the query, or the same request through /token?x, as oidc-provider does (the fast path declines both)', async () => {
    const body = `grant_type=client_credentials`;
    await sameAtBoth('query duplicates body', { ...asService(body), path: '/token?grant_type=refresh_token' });
    await sameAtBoth('client_id in the query', { ...asService(body), path: `/token?client_id=${encodeURIComponent(other.clientId)}` });
    await sameAtBoth('empty query', { ...asService(body), path: '/token?' });
  });

  it.skipIf(!enabled)('never answers userinfo for one citizen when the request also carries another citizen\'s token', async () => {
    const tokens: string[] = [];
    const subs: string[] = [];
    for (let i = 0; i < 2; i++) {
      const citizen = await fast.citizen({ phone: `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}` });
      const client = await fast.client({ redirectUris: [REDIRECT], scope: 'openid profile' });
      const rp = await relyingParty(fast, client);
      const verifier = oidc.randomPKCECodeVerifier();
      const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: 'openid profile' }), { identifier: citizen.citizenId, password: citizen.password });
      const granted = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
      tokens.push(granted.access_token);
      subs.push(granted.claims()!.sub);
    }
    const [a, b] = tokens as [string, string];
    const cases: [string, { method?: string; path?: string; headers: Record<string, string>; body?: string }][] = [
      ['header A, query B', { method: 'GET', path: `/me?access_token=${b}`, headers: { authorization: `Bearer ${a}` } }],
      ['header A, query A', { method: 'GET', path: `/me?access_token=${a}`, headers: { authorization: `Bearer ${a}` } }],
      ['header A, GET form body B', { method: 'GET', headers: { authorization: `Bearer ${a}`, 'content-type': FORM }, body: `access_token=${b}` }],
      ['header A, POST form body B', { method: 'POST', headers: { authorization: `Bearer ${a}`, 'content-type': FORM }, body: `access_token=${b}` }],
      ['POST body A and B', { method: 'POST', headers: { 'content-type': FORM }, body: `access_token=${a}&access_token=${b}` }],
      ['query A and B', { method: 'GET', path: `/me?access_token=${a}&access_token=${b}`, headers: {} }],
      ['header A, percent-encoded query key B', { method: 'GET', path: `/me?access%5Ftoken=${b}`, headers: { authorization: `Bearer ${a}` } }],
      ['header A, body B, charset utf-16', { method: 'POST', headers: { authorization: `Bearer ${a}`, 'content-type': `${FORM}; charset=utf-16le` }, body: Buffer.from(`access_token=${b}`, 'utf16le').toString('latin1') }],
    ];
    for (const [label, init] of cases) {
      const x = await raw(fast.url, init.path ?? '/me', { method: init.method, headers: init.headers, ...(init.body !== undefined ? { body: Buffer.from(init.body, 'latin1') } : {}) });
      const y = await raw(reference.url, init.path ?? '/me', { method: init.method, headers: init.headers, ...(init.body !== undefined ? { body: Buffer.from(init.body, 'latin1') } : {}) });
      expect({ status: x.status, body: x.body }, label).toEqual({ status: y.status, body: y.body });
      expect(x.status, label).toBeLessThan(500);
      // A request that names two different tokens is ambiguous: no citizen's claims for it. (A GET's
      // body is no place for a token, RFC 6750 §2.2: there the header's token alone counts, and then
      // only the header's citizen may be answered.)
      // A body oidc-provider does not read as UTF-16 (it parses the bytes) names no second token to it.
      if (label.includes('GET form body') || label.includes('utf-16')) {
        if (x.status === 200) expect((JSON.parse(x.body) as { sub: string }).sub, label).toBe(subs[0]);
      }
      else if (label.includes('B') && label.includes('A')) expect(x.status, `${label}: ${x.body.slice(0, 100)}`).not.toBe(200);
    }
  });
});

describe('prototype pollution and hostile shapes at Yihao\'s own body readers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());
  afterEach(() => expectCleanPrototype());

  const pollutingForm = (fields: Record<string, string>) =>
    [
      '__proto__[yihaoPolluted]=1',
      'constructor[prototype][yihaoPolluted]=1',
      '__proto__.isAdmin=1',
      '__proto__=polluted',
      'constructor=x',
      'toString=x',
      'hasOwnProperty=x',
      'a[b]=c',
      'x[]=1&x[]=2',
      ...Object.entries(fields).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`),
    ].join('&');

  it('takes a login form carrying __proto__, constructor and bracketed fields without a 500, and still signs the citizen in', async () => {
    const client = await h.client({ redirectUris: [REDIRECT] });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    const browser = new ScriptedBrowser();
    const { res, url } = await browser.follow(await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid' }));
    const html = await res.text();
    const csrf = formField(html, 'csrf')!;
    const action = new URL(formAction(html, '/login')!, url);
    const post = (body: string) => fetch(action, { method: 'POST', redirect: 'manual', headers: { cookie: browser.cookieHeader(action), 'content-type': FORM }, body });
    // A hostile form with a wrong password first, and duplicated fields (the first one counts).
    const wrong = await post(pollutingForm({ csrf, identifier: citizen.citizenId, password: 'wrong-password-1', 'password ': citizen.password }));
    expect(wrong.status).toBeLessThan(500);
    expect(wrong.status).not.toBe(303);
    const dup = await post(`${pollutingForm({ csrf, identifier: citizen.citizenId, password: 'wrong-password-2' })}&password=${encodeURIComponent(citizen.password)}`);
    expect(dup.status).toBeLessThan(500);
    expect(dup.status, 'a second password field must not be read instead of the first').not.toBe(303);
    const ok = await post(pollutingForm({ csrf, identifier: citizen.citizenId, password: citizen.password }));
    expect(ok.status).toBe(303);
  });

  it('takes registration, password-reset and portal forms carrying __proto__ and bracketed fields without a 500', async () => {
    for (const path of ['/register', '/register/code', '/register/resend', '/password-reset', '/password-reset/code', '/account/profile', '/account/sign-out']) {
      for (const type of [FORM, 'APPLICATION/X-WWW-FORM-URLENCODED; charset=latin1', `${FORM};foo=bar`]) {
        const res = await raw(h.url, path, { headers: { 'content-type': type }, body: pollutingForm({ csrf: 'x', name: '张三' }) });
        expect(res.status, `${path} ${type}: ${res.body.slice(0, 120)}`).toBeLessThan(500);
      }
    }
  });

  it('takes admin API bodies with __proto__, constructor.prototype, duplicated keys, deep nesting, huge numbers and arrays without a 500', async () => {
    const boot = h.yihao.admin.services.bootstrap;
    const nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    const op = await operator(h, [{ role: 'super-admin', departmentId: nation.id }]);
    const settings = `"client_name":"社保查询","redirect_uris":["${REDIRECT}"],"scope":"openid profile"`;
    const deepObject = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const deepArray = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const cases: [string, string, string][] = [
      ['POST', '/departments', `{"__proto__":{"yihaoPolluted":1,"isAdmin":true},"name":"宁波","level":"city","parent_id":"${nation.id}"}`],
      ['POST', '/departments', `{"constructor":{"prototype":{"yihaoPolluted":1}},"name":"温州","level":"city","parent_id":"${nation.id}"}`],
      ['POST', '/departments', `{"name":"台州","name":{"__proto__":{"x":1}},"level":"city","parent_id":"${nation.id}"}`],
      ['POST', '/departments', `{"name":"湖州","level":"city","parent_id":"${nation.id}","parent_id":"00000000-0000-0000-0000-000000000000"}`],
      ['POST', '/departments', `{"name":"嘉兴","level":"city","parent_id":1e400}`],
      ['POST', '/departments', `{"name":"绍兴","level":"city","parent_id":123456789012345678901234567890}`],
      ['POST', '/departments', `[{"name":"金华","level":"city","parent_id":"${nation.id}"}]`],
      ['POST', '/departments', deepObject],
      ['POST', '/departments', deepArray],
      ['POST', '/departments', `{"name":${deepObject},"level":"city","parent_id":"${nation.id}"}`],
      ['POST', '/clients', `{"department_id":"${nation.id}","settings":{"__proto__":{"yihaoPolluted":1},${settings}}}`],
      ['POST', '/clients', `{"department_id":"${nation.id}","settings":{"constructor":{"prototype":{"yihaoPolluted":1}},${settings},"jwks":{"keys":[{"__proto__":{"yihaoPolluted":1},"kty":"EC"}]}}}`],
      ['POST', '/clients', `{"department_id":"${nation.id}","settings":[${settings.replace(/"([a-z_]+)":/g, '')}]}`],
      ['POST', '/clients', `{"department_id":"${nation.id}","settings":{${settings},"extra":${deepObject}}}`],
      ['POST', '/clients', `{"department_id":"${nation.id}","settings":{${settings},"default_max_age":1e400,"jwks":{"keys":${deepArray}}}}`],
    ];
    for (const [method, path, body] of cases) {
      for (const type of ['application/json', 'application/json; charset=utf-16', 'APPLICATION/JSON']) {
        const url = new URL(`${adminResource(h.issuer)}${path}`);
        const res = await raw(h.url, url.pathname, { method, headers: { authorization: `Bearer ${op.token}`, 'content-type': type }, body });
        expect(res.status, `${path} ${type} ${body.slice(0, 80)}: ${res.body.slice(0, 160)}`).toBeLessThan(500);
        expectCleanPrototype();
      }
    }
    // How long a deep body may hold the server is admin-deep-bodies.test.ts's (no timing here).
  }, 180_000);

  it('takes mobile API bodies with __proto__, constructor.prototype, deep nesting and arrays without a 500', async () => {
    const app = await registerMobileApp(h);
    const { phone } = await phoneWithDeviceKey(h, app);
    await phone.newDeviceKey();
    const jwk = JSON.stringify(phone.deviceJwk);
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const bodies = [
      `{"__proto__":{"yihaoPolluted":1},"jwk":${jwk},"name":"p1"}`,
      `{"jwk":${jwk.replace('{', '{"__proto__":{"yihaoPolluted":1},')},"name":"p2"}`,
      `{"constructor":{"prototype":{"yihaoPolluted":1}},"jwk":${jwk},"name":"p3"}`,
      `{"jwk":${jwk},"name":{"__proto__":{"x":1}}}`,
      `{"jwk":${jwk.replace('{', `{"extra":${deep},`)},"name":"p4"}`,
      `{"jwk":[${jwk}],"name":"p5"}`,
      `[{"jwk":${jwk}}]`,
      `{"jwk":${jwk},"storage":1e400}`,
      deep,
    ];
    for (const body of bodies) {
      // The helper serialises what it is given: a parsed object keeps its own "__proto__" keys.
      // MobileApp.call serialises synchronously before its first await: hand it these exact bytes
      // (JSON.stringify of 10,000 levels overflows this process's stack).
      const marker = {};
      const stringify = JSON.stringify;
      JSON.stringify = ((v: unknown, ...rest: never[]) => (v === marker ? body : stringify(v, ...rest))) as typeof JSON.stringify;
      let pending: ReturnType<typeof phone.call>;
      try {
        pending = phone.call('POST', '/mobile/device-keys', marker, { signWith: { privateKey: phone.deviceKeys.privateKey, kid: '' } });
      } finally {
        JSON.stringify = stringify;
      }
      const res = await pending;
      expect(res.status, `${body.slice(0, 80)}: ${JSON.stringify(res.json).slice(0, 160)}`).toBeLessThan(500);
      expectCleanPrototype();
    }
  });

  it('takes credential-issuer and verifier bodies with __proto__ and deep nesting, JSON or form, without a 500', async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const json = [`{"__proto__":{"yihaoPolluted":1},"format":"dc+sd-jwt"}`, `{"constructor":{"prototype":{"yihaoPolluted":1}}}`, deep, `${'['.repeat(20_000)}${']'.repeat(20_000)}`, '[]', '1e400'];
    for (const path of [CREDENTIAL_PATHS.credential, PRESENTATION_PATHS.requests]) {
      for (const body of json) {
        const res = await raw(h.url, path, { headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body });
        expect(res.status, `${path} ${body.slice(0, 60)}: ${res.body.slice(0, 160)}`).toBeLessThan(500);
      }
    }
    const id = 'A'.repeat(32);
    for (const vp of [deep, '{"__proto__":{"yihaoPolluted":1}}', '{"identity":{"__proto__":["x"]}}']) {
      const res = await raw(h.url, PRESENTATION_PATHS.response(id), { headers: { 'content-type': FORM }, body: `vp_token=${encodeURIComponent(vp)}&__proto__[yihaoPolluted]=1&state=x` });
      expect(res.status, res.body.slice(0, 160)).toBeLessThan(500);
    }
  });
});
