import { request } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * What the outer app adds to every answer, the provider's included: security headers, a request
 * id, and one log line per request that carries neither secrets nor query strings.
 */
describe('the HTTP edge', () => {
  let h: Harness;
  const lines: Record<string, unknown>[] = [];
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    const logger = pino({ level: 'info', base: { service: 'yihao' } }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    h = await startHarness({ logger });
    client = await h.client({ grantTypes: ['client_credentials'], redirectUris: [] });
  });
  afterAll(async () => h?.close());

  const basic = () => `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret!)}`).toString('base64')}`;
  const requestLines = (id: string) => lines.filter((l) => l.msg === 'request' && l.requestId === id);

  it('answers a client_credentials token request with the security headers and logs one line without the secret or the query', async () => {
    const res = await fetch(`${h.url}/token?hint=from-the-query`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { access_token?: string }).access_token).toBeTruthy();
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const mine = requestLines(id);
    expect(mine).toHaveLength(1);
    expect(Object.keys(mine[0]!).sort()).toEqual(['level', 'method', 'ms', 'msg', 'path', 'requestId', 'service', 'status', 'time']);
    expect(mine[0]).toMatchObject({ method: 'POST', path: '/token', status: 200 });
    const all = JSON.stringify(lines);
    expect(all).not.toContain(client.client_secret);
    expect(all).not.toContain('from-the-query');
  });

  it('logs the status of a refused client, and keeps a well-formed incoming request id', async () => {
    const res = await fetch(`${h.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:wrong`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'lb-1234.abc_DEF' },
      body: 'grant_type=client_credentials',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('lb-1234.abc_DEF');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(requestLines('lb-1234.abc_DEF')).toMatchObject([{ path: '/token', status: 401 }]);
  });

  it('replaces a malformed incoming request id', async () => {
    const res = await fetch(`${h.url}/healthz`, { headers: { 'x-request-id': 'no spaces <or> markup' } });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    expect(id).not.toContain(' ');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(requestLines(id)).toMatchObject([{ method: 'GET', path: '/healthz', status: 200 }]);
  });

  it('sends paths that only share a prefix with our routes to the provider', async () => {
    const ours = await fetch(`${h.url}/healthz`);
    expect(ours.status).toBe(200);
    const near = await fetch(`${h.url}/healthzx`);
    expect(near.status).toBe(404);
    expect(near.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

/** A GET with headers as given (fetch would not send a Host of our choosing). */
function getWith(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a request whose address cannot be a URL', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true }) });
  });
  afterAll(async () => h?.close());

  it.each([
    ['a Host with a space', { host: 'id example' }],
    ['a Host with a port out of range', { host: '127.0.0.1:99999' }],
    ['an X-Forwarded-Host that is no host name', { 'x-forwarded-host': 'evil"<>' }],
    ['an X-Forwarded-Proto that is no scheme', { 'x-forwarded-proto': 'ht tp' }],
  ])('answers %s with 400, not 500', async (_what, headers) => {
    for (const path of ['/.well-known/openid-configuration', '/auth?client_id=x', '/interaction/x', '/account']) {
      const res = await getWith(h.url, path, headers);
      expect.soft(res.status, path).toBe(400);
    }
  });
});
