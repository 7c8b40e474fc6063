import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCitizenId, type CitizenId } from '../../src/identity/index.js';
import {
  createHttpRegistry,
  RegistryUnavailableError,
  type HttpRegistryOptions,
  type IdentityRegistry,
  type RegistryUnavailableReason,
} from '../../src/registry/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { hasOpenssl, makeCertificates, type Pems } from '../support/certificates.js';
import { loopbackOutbound } from '../support/outbound.js';

const outbound = loopbackOutbound();

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Reply = (res: ServerResponse, seen: Seen, attempt: number, req: IncomingMessage) => void;

interface TestServer {
  origin: string;
  seen: Seen[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const registries: IdentityRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close?.()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A real server on 127.0.0.1 (random port) that records each request and answers with `reply`. */
async function startServer(reply: Reply, server: http.Server = http.createServer()): Promise<TestServer> {
  const seen: Seen[] = [];
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      reply(res, s, seen.length, req);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  const testServer = {
    origin: `${scheme}://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
  servers.push(testServer);
  return testServer;
}

const json = (res: ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(typeof body === 'string' ? body : JSON.stringify(body));

function registryFor(endpoint: string, options: Partial<HttpRegistryOptions> = {}): IdentityRegistry {
  const registry = createHttpRegistry({ endpoint, timeoutMs: 1000, retries: 2, backoffMs: 10, outbound, ...options });
  registries.push(registry);
  return registry;
}

const NAME = '阿依古丽·买买提';
let citizenId: CitizenId;
beforeAll(() => {
  citizenId = parseCitizenId(syntheticCitizenId());
});

/** Awaits a RegistryUnavailableError and checks that neither it nor its cause shows the ID or the name. */
async function unavailable(promise: Promise<unknown>, reason?: RegistryUnavailableReason): Promise<RegistryUnavailableError> {
  const error = await promise.then(
    () => expect.fail('the registry answered'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryUnavailableError);
  const e = error as RegistryUnavailableError;
  if (reason) expect(e.reason).toBe(reason);
  expect(e.code).toBe('registry_unavailable');
  const shown = `${e.message}\n${inspect(e, { depth: 5 })}`;
  expect(shown).not.toContain(citizenId);
  expect(shown).not.toContain(citizenId.slice(0, 14));
  expect(shown).not.toContain('阿依古丽');
  return e;
}

describe('HTTP registry: answers', () => {
  it.each(['match', 'mismatch', 'unknown'] as const)('passes on the registry answer "%s"', async (result) => {
    const server = await startServer((res) => json(res, 200, { result }));
    const answer = await registryFor(`${server.origin}/verify`).verify({ citizenId, name: NAME });
    expect(answer.outcome).toBe(result);
    if (answer.outcome === 'match') expect(answer.source).toBe(server.origin);
  });

  it('takes checked_at from the registry, and ignores fields it does not know', async () => {
    const server = await startServer((res) => json(res, 200, { result: 'match', checked_at: '2026-05-01T08:00:00+08:00', trace: 'abc' }));
    const answer = await registryFor(`${server.origin}/verify`).verify({ citizenId, name: NAME });
    expect(answer).toEqual({ outcome: 'match', checkedAt: new Date('2026-05-01T00:00:00Z'), source: server.origin });
  });

  it('POSTs the ID number and the normalised name as JSON in the body, never in the URL', async () => {
    const server = await startServer((res) => json(res, 200, { result: 'match' }));
    await registryFor(`${server.origin}/v1/verify?channel=web`).verify({ citizenId, name: ' 阿依古丽 • 买买提 ' });
    expect(server.seen).toHaveLength(1);
    const [request] = server.seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/v1/verify?channel=web');
    expect(request!.url).not.toContain(citizenId.slice(0, 6) + citizenId.slice(6, 14));
    expect(request!.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(request!.body)).toEqual({ citizen_id: citizenId, name: NAME });
  });

  it('asked about a phone: sends it, and takes the answer only from a registry that says whether it is in the name', async () => {
    const phone = '+8613800138000';
    const answers = [{ result: 'match', phone_result: 'match' }, { result: 'match', phone_result: 'mismatch' }, { result: 'mismatch' }, { result: 'match' }];
    const server = await startServer((res, _seen, n) => json(res, 200, answers[n - 1]));
    const registry = registryFor(`${server.origin}/verify`, { retries: 0 });
    expect((await registry.verify({ citizenId, name: NAME, phone })).outcome).toBe('match');
    expect(JSON.parse(server.seen[0]!.body)).toEqual({ citizen_id: citizenId, name: NAME, phone });
    expect(await registry.verify({ citizenId, name: NAME, phone })).toEqual({ outcome: 'phone_mismatch' });
    expect(await registry.verify({ citizenId, name: NAME, phone })).toEqual({ outcome: 'mismatch' });
    // A registry that ignores the phone must not pass for one that checked it.
    await unavailable(registry.verify({ citizenId, name: NAME, phone }), 'malformed_answer');
  });
});

describe('HTTP registry: retries', () => {
  it('times out each attempt, retries `retries` times, then gives up within a bounded time', async () => {
    const server = await startServer(() => {}); // never answers
    const started = performance.now();
    const e = await unavailable(registryFor(`${server.origin}/verify`, { timeoutMs: 250, retries: 2, backoffMs: 20 }).verify({ citizenId, name: NAME }), 'timeout');
    const elapsed = performance.now() - started;
    expect(e.attempts).toBe(3);
    expect(server.seen).toHaveLength(3);
    // 3 × 250 ms, plus backoffs of 10-20 ms and 20-40 ms.
    expect(elapsed).toBeGreaterThanOrEqual(740);
    expect(elapsed).toBeLessThan(2000);
  });

  it('times out an answer whose body stalls halfway', async () => {
    const server = await startServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":');
    });
    const e = await unavailable(registryFor(`${server.origin}/verify`, { timeoutMs: 200, retries: 1 }).verify({ citizenId, name: NAME }), 'timeout');
    expect(e.attempts).toBe(2);
    expect(server.seen).toHaveLength(2);
  });

  it('retries after two 503s and then matches', async () => {
    const server = await startServer((res, _seen, attempt) => (attempt <= 2 ? json(res, 503, { error: 'busy' }) : json(res, 200, { result: 'match' })));
    const answer = await registryFor(`${server.origin}/verify`, { retries: 2 }).verify({ citizenId, name: NAME });
    expect(answer.outcome).toBe('match');
    expect(server.seen).toHaveLength(3);
    expect(new Set(server.seen.map((s) => s.body)).size).toBe(1);
  });

  it('retries after a 429', async () => {
    const server = await startServer((res, _seen, attempt) => (attempt === 1 ? res.writeHead(429, { 'retry-after': '0' }).end() : json(res, 200, { result: 'unknown' })));
    expect(await registryFor(`${server.origin}/verify`).verify({ citizenId, name: NAME })).toEqual({ outcome: 'unknown' });
    expect(server.seen).toHaveLength(2);
  });

  it('gives up on a 500 that persists, after `retries` retries', async () => {
    const server = await startServer((res) => res.writeHead(500).end('internal error'));
    const e = await unavailable(registryFor(`${server.origin}/verify`, { retries: 1 }).verify({ citizenId, name: NAME }), 'status');
    expect(e).toMatchObject({ status: 500, attempts: 2 });
    expect(e.message).toBe('population registry unavailable: unexpected HTTP status 500 (2 attempts)');
    expect(server.seen).toHaveLength(2);
  });

  it.each([400, 401, 403, 404, 422])('does not retry a %i', async (status) => {
    const server = await startServer((res) => json(res, status, { error: 'bad request' }));
    const e = await unavailable(registryFor(`${server.origin}/verify`, { retries: 3 }).verify({ citizenId, name: NAME }), 'status');
    expect(e).toMatchObject({ status, attempts: 1 });
    expect(server.seen).toHaveLength(1);
  });

  it('does not follow or retry a redirect', async () => {
    const server = await startServer((res) => res.writeHead(302, { location: '/elsewhere' }).end());
    const e = await unavailable(registryFor(`${server.origin}/verify`).verify({ citizenId, name: NAME }), 'status');
    expect(e).toMatchObject({ status: 302, attempts: 1 });
    expect(server.seen).toHaveLength(1);
  });

  it('retries a connection that is cut, and a port where nothing listens', async () => {
    const cut = await startServer((_res, _seen, _n, req) => req.socket.destroy());
    const e = await unavailable(registryFor(`${cut.origin}/verify`, { retries: 1 }).verify({ citizenId, name: NAME }), 'network');
    expect(e.attempts).toBe(2);
    expect(cut.seen).toHaveLength(2);

    const gone = await startServer(() => {});
    await gone.close();
    const refused = await unavailable(registryFor(`${gone.origin}/verify`, { retries: 2 }).verify({ citizenId, name: NAME }), 'network');
    expect(refused.attempts).toBe(3);
    expect((refused.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });
});

describe('HTTP registry: answers it refuses', () => {
  const malformed: [string, Reply][] = [
    ['an HTML page', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>gateway</html>')],
    ['truncated JSON', (res) => json(res, 200, '{"result":"match"')],
    ['a JSON list', (res) => json(res, 200, [])],
    ['a missing result', (res) => json(res, 200, { match: true })],
    ['an unknown result', (res) => json(res, 200, { result: 'yes' })],
    ['a checked_at that is not a timestamp', (res) => json(res, 200, { result: 'match', checked_at: 'yesterday' })],
    ['an empty 204', (res) => res.writeHead(204).end()],
    ['garbage echoing the request', (res, seen) => res.writeHead(200).end(`oops ${seen.body}`)],
  ];

  it.each(malformed)('refuses %s as malformed, without retrying', async (_label, reply) => {
    const server = await startServer(reply);
    const e = await unavailable(registryFor(`${server.origin}/verify`).verify({ citizenId, name: NAME }), 'malformed_answer');
    expect(e.message).toBe('population registry unavailable: malformed answer (1 attempt)');
    expect(e.attempts).toBe(1);
    expect(server.seen).toHaveLength(1);
  });

  it('refuses an answer over 64 KiB, declared or streamed', async () => {
    const padded = JSON.stringify({ result: 'match', pad: 'x'.repeat(70 * 1024) });
    const declared = await startServer((res) => json(res, 200, padded));
    await unavailable(registryFor(`${declared.origin}/verify`).verify({ citizenId, name: NAME }), 'oversized_answer');
    expect(declared.seen).toHaveLength(1);

    const streamed = await startServer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length
      for (let i = 0; i < 20; i++) res.write('x'.repeat(8 * 1024));
    });
    await unavailable(registryFor(`${streamed.origin}/verify`).verify({ citizenId, name: NAME }), 'oversized_answer');
    expect(streamed.seen).toHaveLength(1);
  });

  it('accepts a large answer under a raised cap', async () => {
    const server = await startServer((res) => json(res, 200, { result: 'mismatch', pad: 'x'.repeat(70 * 1024) }));
    const registry = registryFor(`${server.origin}/verify`, { maxAnswerBytes: 128 * 1024 });
    expect(await registry.verify({ citizenId, name: NAME })).toEqual({ outcome: 'mismatch' });
  });
});

describe('HTTP registry: logs', () => {
  it('logs retries and the failure without the ID number or the name', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const server = await startServer((res) => res.writeHead(503).end(JSON.stringify({ echo: citizenId })));
    await unavailable(registryFor(`${server.origin}/verify`, { retries: 1, logger }).verify({ citizenId, name: NAME }), 'status');
    const events = lines.map((l) => JSON.parse(l) as { event: string; attempt: number; status: number });
    expect(events.map((e) => [e.event, e.attempt, e.status])).toEqual([
      ['registry.retry', 1, 503],
      ['registry.unavailable', 2, 503],
    ]);
    const text = lines.join('');
    expect(text).not.toContain(citizenId);
    expect(text).not.toContain('阿依古丽');
  });
});

if (!hasOpenssl) console.warn('\n*** SKIPPING the registry mutual TLS test: the openssl CLI is not installed ***\n');

describe.skipIf(!hasOpenssl)('HTTP registry: mutual TLS', () => {
  let dir: string;
  let pems: Pems;
  let endpoint: string;
  let server: TestServer;
  const clientNames: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'yihao-registry-tls-'));
    pems = makeCertificates(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startTlsRegistry(): Promise<void> {
    const tlsServer = https.createServer({ key: pems.serverKey, cert: pems.serverCert, ca: pems.ca, requestCert: true, rejectUnauthorized: true });
    server = await startServer((res, _seen, _n, req) => {
      clientNames.push(String((req.socket as TLSSocket).getPeerCertificate().subject?.CN));
      json(res, 200, { result: 'match' });
    }, tlsServer);
    endpoint = `${server.origin}/verify`;
  }

  it('matches when the registry is reached with the client certificate', async () => {
    await startTlsRegistry();
    const registry = registryFor(endpoint, { tls: { ca: pems.ca, cert: pems.clientCert, key: pems.clientKey } });
    expect((await registry.verify({ citizenId, name: NAME })).outcome).toBe('match');
    expect(clientNames).toEqual(['yihao-test-client']);
    expect(JSON.parse(server.seen[0]!.body)).toEqual({ citizen_id: citizenId, name: NAME });
  });

  it('cannot reach the registry without a client certificate, or with one from another CA', async () => {
    await startTlsRegistry();
    await unavailable(registryFor(endpoint, { tls: { ca: pems.ca }, retries: 1 }).verify({ citizenId, name: NAME }));
    await unavailable(registryFor(endpoint, { tls: { ca: pems.ca, cert: pems.strangerCert, key: pems.strangerKey }, retries: 1 }).verify({ citizenId, name: NAME }));
    expect(server.seen).toHaveLength(0);
  });

  it('refuses a registry whose certificate it does not trust, without retrying', async () => {
    await startTlsRegistry();
    const e = await unavailable(registryFor(endpoint, { tls: { cert: pems.clientCert, key: pems.clientKey }, retries: 2 }).verify({ citizenId, name: NAME }), 'tls');
    expect(e.attempts).toBe(1);
    expect(server.seen).toHaveLength(0);
  });
});
