/**
 * Prometheus metrics (issue 13), scraped over HTTP after a real sign-in and refresh, and parsed as
 * the Prometheus text exposition format. Also what an outsider must not get: the numbers without
 * the token, and IDs or paths in labels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const TOKEN = 'metrics-token-0123456789abcdef0123456789';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text format (version 0.0.4): `# HELP`/`# TYPE` lines, then `name{label="value",...} number`. */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let l: RegExpExecArray | null;
    let consumed = 0;
    while ((l = re.exec(body))) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = re.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels: ${line}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) => find(samples, name, labels).reduce((sum, s) => sum + s.value, 0);

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

describe.each(backends)('/metrics ($name)', ({ name, enabled }) => {
  let h: Harness;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name, overrides: (c) => ({ ...c, metricsToken: TOKEN }) });
  });
  afterAll(async () => h?.close());

  const scrape = (authorization?: string) => fetch(`${h.url}/metrics`, authorization ? { headers: { authorization } } : {});

  it.skipIf(!enabled)('refuses a scrape without the bearer token, or with a wrong one', async () => {
    for (const auth of [undefined, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN]) {
      const res = await scrape(auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.text()).not.toContain('yihao_');
    }
  });

  it.skipIf(!enabled)('counts a sign-in and a refresh by route template, channel, acr and grant type, and reads the gauges', async () => {
    const client = await h.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile' });
    const rp = await relyingParty(h, client);
    const citizen = await h.citizen();
    // One failed password first: it is a sign-in failure.
    const browser = new ScriptedBrowser();
    await expect(scriptedSignIn(browser, await authorizationUrl(rp, oidc.randomPKCECodeVerifier(), { scope: 'openid' }), { identifier: citizen.citizenId, password: 'wrong-Aa1-password' })).rejects.toThrow();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await authorizationUrl(rp, verifier, { scope: 'openid profile' });
    const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck });
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    const uid = /\/interaction\/([^/?]+)/.exec((await fetch(url, { redirect: 'manual' })).headers.get('location') ?? '')?.[1];
    expect(uid).toBeTruthy();

    const res = await scrape(`Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const { samples, types } = parsePrometheus(text);

    // HTTP: by route template; the interaction ids and the citizen's number are nowhere.
    expect(types.get('yihao_http_requests_total')).toBe('counter');
    expect(types.get('yihao_http_request_duration_seconds')).toBe('histogram');
    expect(total(samples, 'yihao_http_requests_total', { route: '/token', method: 'POST', status: '2xx' })).toBeGreaterThanOrEqual(2);
    expect(total(samples, 'yihao_http_requests_total', { route: '/interaction/:uid/login', method: 'POST' })).toBeGreaterThanOrEqual(2);
    expect(find(samples, 'yihao_http_request_duration_seconds_bucket', { route: '/token', method: 'POST', le: '+Inf' })[0]?.value).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(uid!);
    expect(text).not.toContain(citizen.citizenId);
    const routes = new Set(find(samples, 'yihao_http_requests_total').map((s) => s.labels.route!));
    // A route under a path with IDs is the template (`:uid`), never the path the request had.
    for (const route of routes) if (/^\/(interaction|auth)\/./.test(route)) expect(route).toContain('/:');

    // Sign-ins by channel, acr and result; tokens by grant type.
    expect(total(samples, 'yihao_sign_ins_total', { channel: 'web', acr: 'urn:yihao:loa:1', result: 'success' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'yihao_sign_ins_total', { result: 'failure' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'yihao_tokens_issued_total', { grant_type: 'authorization_code' })).toBeGreaterThanOrEqual(1);
    expect(total(samples, 'yihao_tokens_issued_total', { grant_type: 'refresh_token' })).toBeGreaterThanOrEqual(1);
    expect(types.get('yihao_lockouts_total')).toBe('counter');
    expect(types.get('yihao_rate_limit_refusals_total')).toBe('counter');

    // Gauges read at scrape time.
    expect(find(samples, 'yihao_argon2_queue', { state: 'max_concurrent' })[0]?.value).toBeGreaterThan(0);
    expect(find(samples, 'yihao_argon2_queue', { state: 'queued' })[0]?.value).toBe(0);
    expect(find(samples, 'yihao_store_up', { store: 'database' })[0]?.value).toBe(1);
    if (name === 'postgres+redis') expect(find(samples, 'yihao_store_up', { store: 'redis' })[0]?.value).toBe(1);
    expect(find(samples, 'yihao_db_pool_connections', { state: 'max' })[0]?.value).toBeGreaterThan(0);
    expect(find(samples, 'yihao_audit_sealer_lag_seconds')[0]?.value).toBeGreaterThanOrEqual(0);
    expect(find(samples, 'yihao_audit_unsealed_events')).toHaveLength(1);
  }, 60_000);
});

describe('/metrics without a configured token', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('does not exist', async () => {
    expect(h.config.metricsToken).toBeUndefined();
    const res = await fetch(`${h.url}/metrics`, { headers: { authorization: 'Bearer anything' } });
    expect([404, 400]).toContain(res.status);
    expect(await res.text()).not.toContain('yihao_');
  });
});

describe('/metrics counts rate-limit refusals', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, metricsToken: TOKEN, rateLimits: { ...c.rateLimits, clientAuthFailures: { ...c.rateLimits.clientAuthFailures, points: 3 } } }) });
  });
  afterAll(async () => h?.close());

  it('once per refusal episode, by limit', async () => {
    const client = await h.client({});
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${h.url}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:wrong`).toString('base64')}` },
        body: new URLSearchParams({ token: 'not-a-token' }),
      });
      statuses.push(res.status);
    }
    expect(statuses).toContain(429);
    const { samples } = parsePrometheus(await (await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text());
    expect(total(samples, 'yihao_rate_limit_refusals_total', { limit: 'client-auth' })).toBe(1);
    // Those refused at the edge, before any route matched, count as `unmatched`; every one counts.
    expect(total(samples, 'yihao_http_requests_total', { route: '/token/introspection', status: '4xx' })).toBeGreaterThanOrEqual(2);
    expect(total(samples, 'yihao_http_requests_total', { method: 'POST', status: '4xx' })).toBe(6);
  });
});
