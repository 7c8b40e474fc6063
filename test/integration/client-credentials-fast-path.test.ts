/**
 * client_credentials' fast path (src/oidc/token-fast-path.ts) against oidc-provider's
 * own token pipeline: two instances on one store, the second without the fast path, asked the same
 * things. Tokens differ by nature (each has its own id and time), so a success is compared by what
 * it grants: the response's members and headers, the JWT's header and claims, and what
 * introspection says of an opaque one. Every refusal must be the same byte for byte, and must come
 * from oidc-provider: the fast path answers only the ordinary request, and hands every other one on
 * with its body intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const RESOURCE = 'https://records.example.gov.cn/api';
const OPAQUE_RESOURCE = 'https://ledger.example.gov.cn/api';
/** Headers that differ between any two answers (or instances) whatever answered them. */
const VARYING = new Set(['date', 'x-request-id', 'keep-alive', 'connection', 'content-length']);
const FORM = 'application/x-www-form-urlencoded';
const METRICS_TOKEN = 'metrics-token-for-the-fast-path-0123456789';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type Request = { headers: Record<string, string>; body: string; path?: string };

describe.each(backends)('client_credentials fast path ($backend)', ({ backend, enabled }) => {
  let fast: Harness;
  let reference: Harness;
  let service: { clientId: string; secret: string };
  /** Who answered each successful grant on an instance: oidc-provider's pipeline parses the body into its context, the fast path does not. */
  const answeredBy = new Map<Harness, ('fast path' | 'oidc-provider')[]>();
  const watch = (h: Harness) => {
    answeredBy.set(h, []);
    (h.yihao.holder.current as Provider).on('grant.success', (ctx) => {
      const seen = ctx as unknown as { oidc: { body?: unknown; params?: { grant_type?: unknown } } };
      if (seen.oidc.params?.grant_type === 'client_credentials') answeredBy.get(h)!.push(seen.oidc.body === undefined ? 'fast path' : 'oidc-provider');
    });
  };

  beforeAll(async () => {
    if (!enabled) return;
    const servers = (c: Harness['config']) => ({
      ...c,
      metricsToken: METRICS_TOKEN,
      resourceServers: { [RESOURCE]: { scope: 'records:read records:write', accessTokenFormat: 'jwt' as const, clients: ['*'] }, [OPAQUE_RESOURCE]: { scope: 'ledger:read', accessTokenFormat: 'opaque' as const, clients: ['*'] } },
    });
    fast = await startHarness({ backend, overrides: servers });
    reference = await startHarness({ share: fast, fastPaths: false, overrides: servers });
    watch(fast);
    watch(reference);
    const made = await fast.client({ grantTypes: ['client_credentials'], redirectUris: [], scope: 'openid profile' });
    service = { clientId: made.client_id, secret: made.client_secret! };
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });

  const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const asService = (body: string, headers: Record<string, string> = {}): Request => ({ headers: { authorization: basic(service.clientId, service.secret), 'content-type': FORM, ...headers }, body });

  async function ask(h: Harness, init: Request): Promise<Answer> {
    const res = await fetch(new URL(init.path ?? '/token', h.url), { method: 'POST', headers: init.headers, body: init.body });
    const headers = Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));
    return { status: res.status, headers, body: await res.text() };
  }

  async function both(init: Request) {
    const before = { fast: answeredBy.get(fast)!.length, reference: answeredBy.get(reference)!.length };
    const answers = { fast: await ask(fast, init), reference: await ask(reference, init) };
    return { answers, by: { fast: answeredBy.get(fast)!.slice(before.fast), reference: answeredBy.get(reference)!.slice(before.reference) } };
  }

  /** What a token grants, without what makes each token its own. */
  async function granted(h: Harness, answer: Answer, as = service) {
    const { access_token: token, ...members } = JSON.parse(answer.body) as { access_token: string };
    if (token.split('.').length === 3) {
      const { jti, iat, exp, ...claims } = decodeJwt(token);
      expect(typeof jti).toBe('string');
      expect(exp! - iat!).toBe((members as { expires_in: number }).expires_in);
      return { members, header: decodeProtectedHeader(token), claims };
    }
    const introspection = await fetch(new URL('/token/introspection', h.url), {
      method: 'POST',
      headers: { authorization: basic(as.clientId, as.secret), 'content-type': FORM },
      body: `token=${encodeURIComponent(token)}`,
    });
    const { jti, iat, exp, ...facts } = (await introspection.json()) as Record<string, unknown>;
    expect([jti, typeof iat, typeof exp]).toEqual([undefined, 'number', 'number']);
    return { members, facts };
  }

  it.skipIf(!enabled)('answers an ordinary request itself, granting what oidc-provider grants: JWT and opaque tokens, scopes, the secret in the header or the form', async () => {
    const requests: Request[] = [
      asService(`grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=records%3Aread`),
      // Scopes the resource does not have are dropped, as oidc-provider drops them.
      asService(`grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=records%3Aread+records%3Awrite+ledger%3Aread`),
      asService(`grant_type=client_credentials&resource=${encodeURIComponent(OPAQUE_RESOURCE)}&scope=ledger%3Aread`),
      asService('grant_type=client_credentials'),
      asService('grant_type=client_credentials&scope=records%3Aread'),
      asService(`grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}`, { 'content-type': `${FORM};charset=UTF-8` }),
      { headers: { 'content-type': FORM }, body: `grant_type=client_credentials&client_id=${encodeURIComponent(service.clientId)}&client_secret=${encodeURIComponent(service.secret)}&resource=${encodeURIComponent(RESOURCE)}` },
      asService(`client_id=${encodeURIComponent(service.clientId)}&grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}`),
    ];
    for (const request of requests) {
      const { answers, by } = await both(request);
      expect({ status: answers.fast.status, by }, request.body).toEqual({ status: 200, by: { fast: ['fast path'], reference: ['oidc-provider'] } });
      expect(answers.fast.headers).toEqual(answers.reference.headers);
      expect(answers.fast.headers['cache-control']).toBe('no-store');
      expect(await granted(fast, answers.fast)).toEqual(await granted(reference, answers.reference));
    }
    // openid-client, as a relying party, takes it.
    const rp = new oidc.Configuration({ issuer: fast.issuer, token_endpoint: `${fast.url}/token` }, service.clientId, service.secret, undefined);
    oidc.allowInsecureRequests(rp);
    const before = answeredBy.get(fast)!.length;
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'records:read', resource: RESOURCE });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: RESOURCE, scope: 'records:read', client_id: service.clientId, sub: service.clientId });
    expect(answeredBy.get(fast)!.slice(before)).toEqual(['fast path']);
  });

  it.skipIf(!enabled)('counts what it answers in the metrics as oidc-provider\'s answers are counted: the grant type, and the route template', async () => {
    const scrape = async () => {
      const text = await (await fetch(`${fast.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
      const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return {
        issued: value(/^yihao_tokens_issued_total\{grant_type="client_credentials"\} (\S+)$/m),
        routed: value(/^yihao_http_requests_total\{route="\/token",method="POST",status="2xx"\} (\S+)$/m),
      };
    };
    const before = await scrape();
    const { answers, by } = await both(asService(`grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}`));
    expect({ status: answers.fast.status, by: by.fast }).toEqual({ status: 200, by: ['fast path'] });
    expect(await scrape()).toEqual({ issued: before.issued + 1, routed: before.routed + 1 });
  });

  it.skipIf(!enabled)('leaves every refusal to oidc-provider, which answers it as it would have: the same status, headers and body', async () => {
    const other = await fast.client({ grantTypes: ['authorization_code'] });
    const requests: Request[] = [
      asService('grant_type=client_credentials', { authorization: basic(service.clientId, `${service.secret}x`) }),
      asService('grant_type=client_credentials', { authorization: basic('no-such-client', service.secret) }),
      asService('grant_type=client_credentials', { authorization: basic(other.client_id, other.client_secret!) }),
      asService('grant_type=client_credentials', { authorization: 'Basic !!!' }),
      asService('grant_type=client_credentials', { authorization: `Bearer ${service.secret}` }),
      asService(`grant_type=client_credentials&client_secret=${encodeURIComponent(service.secret)}`),
      asService('grant_type=client_credentials&client_id=someone-else'),
      asService('grant_type=client_credentials&scope=records%3Aread%22'),
      asService('grant_type=client_credentials&scope=phone'),
      asService('grant_type=client_credentials&resource=https%3A%2F%2Funknown.example%2F'),
      asService(`grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&resource=${encodeURIComponent(OPAQUE_RESOURCE)}`),
      asService('grant_type=client_credentials&grant_type=client_credentials'),
      asService('grant_type=password&username=a&password=b'),
      asService(''),
      asService('grant_type=client_credentials', { 'content-type': 'application/json' }),
      { headers: { 'content-type': FORM }, body: 'grant_type=client_credentials' },
    ];
    for (const request of requests) {
      const { answers, by } = await both(request);
      expect(answers.fast, `${JSON.stringify(request.headers)} ${request.body}`).toEqual(answers.reference);
      expect(answers.fast.status).toBeGreaterThanOrEqual(400);
      expect(by).toEqual({ fast: [], reference: [] });
    }
  });

  it.skipIf(!enabled)('hands on, body intact, what it does not fully understand: other parameters, a long body, a cross-origin call, a key proof, a query', async () => {
    const resource = `resource=${encodeURIComponent(RESOURCE)}`;
    const requests: Request[] = [
      asService(`grant_type=client_credentials&${resource}&authorization_details=%5B%5D`),
      asService(`grant_type=client_credentials&${resource}&unknown=1`),
      asService('grant_type=client_credentials&resource='),
      asService(`grant_type=client_credentials&${resource}&scope=${'records%3Aread+'.repeat(400)}records%3Aread`),
      asService(`grant_type=client_credentials&${resource}`, { origin: 'https://elsewhere.example' }),
      asService(`grant_type=client_credentials&${resource}`, { dpop: 'not-a-proof' }),
      { ...asService(`grant_type=client_credentials&${resource}`), path: '/token?x=1' },
    ];
    for (const request of requests) {
      const { answers, by } = await both(request);
      expect(by.fast, `${JSON.stringify(request.headers)} ${request.body.slice(0, 80)}`).not.toContain('fast path');
      expect(by.fast).toEqual(by.reference);
      if (answers.fast.status === 200) expect(await granted(fast, answers.fast)).toEqual(await granted(reference, answers.reference));
      else expect(answers.fast).toEqual(answers.reference);
    }
  });

  it.skipIf(!enabled)('accepts a secret still in its rotation\'s grace period through oidc-provider', async () => {
    const made = await fast.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    const old = fast.yihao.services.clientSecrets.generate();
    await fast.yihao.services.secretGrace.add(made.client_id, old.stored, Date.now() + 600_000);
    const request = { headers: { authorization: basic(made.client_id, old.secret), 'content-type': FORM }, body: 'grant_type=client_credentials' };
    const { answers, by } = await both(request);
    expect({ status: answers.fast.status, by }).toEqual({ status: 200, by: { fast: ['oidc-provider'], reference: ['oidc-provider'] } });
    const owner = { clientId: made.client_id, secret: made.client_secret! };
    const facts = await granted(fast, answers.fast, owner);
    expect(facts).toMatchObject({ facts: { active: true, client_id: made.client_id } });
    expect(facts).toEqual(await granted(reference, answers.reference, owner));
  });
});
