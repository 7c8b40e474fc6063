/**
 * Attacks on the outbound guard (src/outbound): every spelling of a forbidden address, redirects to
 * one, schemes, userinfo, answers that never end or never stop, and a name whose resolution never
 * answers. Canary servers on loopback count every request that reaches them. Each test states the
 * secure behaviour. The resolution of a host name kept no deadline (a request waited on it past its
 * own, and past the caller's signal) until `pin` took the request's signal (found by a review, with
 * the rest of this file).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbound, type Resolver } from '../../src/outbound/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { simulatedKiosk } from '../support/simulated-kiosk.js';

const silent = pino({ level: 'silent' });

interface Srv {
  server: Server;
  port: number;
  hits: string[];
}

async function serve(host: string, handler: (req: IncomingMessage, res: ServerResponse, s: Srv) => void): Promise<Srv> {
  const s = { hits: [] as string[] } as Srv;
  s.server = createServer((req, res) => {
    s.hits.push(`${req.method} ${req.headers.host} ${req.url} auth=${req.headers.authorization ?? ''}`);
    handler(req, res, s);
  });
  await new Promise<void>((r) => s.server.listen(0, host, r));
  s.port = (s.server.address() as AddressInfo).port;
  return s;
}

let canary: Srv; // on '::' (dual stack): catches 127.0.0.x, ::1, ::ffff:127.0.0.1
let canary2: Srv; // on 127.0.0.2 only
let allowed: Srv; // the "allowed" host 127.0.0.2, a redirector / slow server
let allowedB: Srv; // a second allowed origin (other port)

beforeAll(async () => {
  canary = await serve('::', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}'));
  canary2 = await serve('127.0.0.2', (_req, res) => res.writeHead(200).end('canary2'));
  allowedB = await serve('127.0.0.2', (_req, res) => res.writeHead(200).end('b'));
  allowed = await serve('127.0.0.2', (req, res) => {
    const u = new URL(req.url!, 'http://x');
    const to = u.searchParams.get('to');
    const code = Number(u.searchParams.get('code') ?? 302);
    if (u.pathname === '/redirect' && to) return res.writeHead(code, { location: to }).end();
    if (u.pathname === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (u.pathname === '/never') return; // headers never come
    if (u.pathname === '/hang-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x');
      return; // body never ends
    }
    if (u.pathname === '/drip') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => {
        if (res.destroyed) return clearInterval(t);
        res.write('x');
      }, 100);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (u.pathname === '/huge') {
      // 8 MiB, chunked (no content-length)
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let n = 0;
      const pump = () => {
        while (n < 128) {
          n++;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        res.end();
      };
      res.on('error', () => undefined);
      return pump();
    }
    res.writeHead(200).end('ok');
  });
});
afterAll(() => {
  for (const s of [canary, canary2, allowed, allowedB]) {
    s?.server.closeAllConnections();
    s?.server.close();
  }
});

const errOf = async (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { cause?: { code?: string; message?: string } },
  );
const codeOf = (e: (Error & { cause?: { code?: string } }) | undefined) => e?.cause?.code ?? (e as { code?: string } | undefined)?.code;

describe('address spellings are refused before any connection (nothing allowed)', () => {
  const spellings = (p: number) => [
    `http://2130706433:${p}/`,
    `http://0177.0.0.1:${p}/`,
    `http://0x7f.1:${p}/`,
    `http://0x7f000001:${p}/`,
    `http://127.1:${p}/`,
    `http://127.0.0.1.:${p}/`,
    `http://0.0.0.0:${p}/`,
    `http://0:${p}/`,
    `http://[::]:${p}/`,
    `http://[::1]:${p}/`,
    `http://[0:0:0:0:0:0:0:1]:${p}/`,
    `http://[::ffff:127.0.0.1]:${p}/`,
    `http://[::ffff:7f00:1]:${p}/`,
    `http://[0:0:0:0:0:ffff:127.0.0.1]:${p}/`,
    `http://[::127.0.0.1]:${p}/`,
    `http://[64:ff9b::7f00:1]:${p}/`,
    `http://[64:ff9b::127.0.0.1]:${p}/`,
    `http://[2002:7f00:1::1]:${p}/`,
    `http://localhost:${p}/`,
    `http://LOCALHOST:${p}/`,
    `http://vm:${p}/`,
    `http://runsc:${p}/`,
    `HTTP://127.0.0.1:${p}/`,
    `http://１２７.０.０.１:${p}/`,
    `http://127.0.0.1:${p}/`,
    `http://127.0.0.1:6379/`,
    `http://127.0.0.1:5432/`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://[::ffff:169.254.169.254]/`,
    `http://[::ffff:a9fe:a9fe]/`,
    `http://[fd00::1]:${p}/`,
    `http://[fe80::1]:${p}/`,
  ];

  it('each spelling of loopback/metadata/private is refused with ERR_OUTBOUND_REFUSED and the canary sees nothing', async () => {
    const out = createOutbound({ allowedNetworks: ['192.0.2.0/24'] }, { logger: silent, timeoutMs: 2000 });
    const bad: string[] = [];
    for (const u of spellings(canary.port)) {
      const e = await errOf(out.fetch(u));
      if (codeOf(e) !== 'ERR_OUTBOUND_REFUSED') bad.push(`${u} -> ${codeOf(e) ?? e?.message ?? 'SUCCESS'}`);
    }
    expect(bad).toEqual([]);
    expect(canary.hits).toEqual([]);
  }, 30_000);

  it('IPv6 zone ids and weird hosts do not reach the canary', async () => {
    const out = createOutbound({ allowedNetworks: [] }, { logger: silent, timeoutMs: 2000 });
    for (const u of [`http://[fe80::1%25lo]:${canary.port}/`, `http://[::1%25lo]:${canary.port}/`, `http://[::ffff:0:7f00:1]:${canary.port}/`, `http://[::1:0:0:1]:${canary.port}/`, `http://localhost.:${canary.port}/`]) {
      await errOf(out.fetch(u));
    }
    expect(canary.hits).toEqual([]);
  }, 30_000);

  it('userinfo tricks (http://allowed@127.0.0.1/) do not reach the canary', async () => {
    const out = createOutbound({ allowedNetworks: ['192.0.2.0/24'] }, { logger: silent, timeoutMs: 2000 });
    for (const u of [`http://192.0.2.1@127.0.0.1:${canary.port}/`, `http://user:pw@127.0.0.1:${canary.port}/`, `http://192.0.2.1:80@localhost:${canary.port}/`]) {
      const e = await errOf(out.fetch(u));
      expect(e).toBeDefined();
    }
    expect(canary.hits).toEqual([]);
  });

  it('non-http schemes are refused', async () => {
    const out = createOutbound({ allowedNetworks: ['127.0.0.0/8'] }, { logger: silent, timeoutMs: 2000 });
    for (const u of ['file:///etc/passwd', 'data:text/plain,hello', `gopher://127.0.0.1:${canary.port}/_GET`, `ftp://127.0.0.1:${canary.port}/`, `ws://127.0.0.1:${canary.port}/`, 'FILE:///etc/hosts']) {
      expect(await errOf(out.fetch(u)), u).toBeDefined();
    }
    expect(canary.hits).toEqual([]);
  });

  it('a resolver answer the guard cannot parse does not leave a name unchecked', async () => {
    const resolver: Resolver = async () => [{ address: 'garbage' }, { address: '127.0.0.1' }];
    const out = createOutbound({ allowedNetworks: [] }, { logger: silent, resolver, timeoutMs: 2000 });
    expect(codeOf(await errOf(out.fetch(`http://evil.test:${canary.port}/`)))).toBe('ERR_OUTBOUND_REFUSED');
    expect(canary.hits).toEqual([]);
  });

  it('allowing one host (127.0.0.2/32) does not allow its neighbours (127.0.0.1, ::1)', async () => {
    const out = createOutbound({ allowedNetworks: ['127.0.0.2/32'] }, { logger: silent, timeoutMs: 2000 });
    expect(await (await out.fetch(`http://127.0.0.2:${allowedB.port}/`)).text()).toBe('b');
    for (const u of [`http://127.0.0.1:${canary.port}/`, `http://[::1]:${canary.port}/`, `http://localhost:${canary.port}/`, `http://127.0.0.1:6379/`]) {
      expect(codeOf(await errOf(out.fetch(u))), u).toBe('ERR_OUTBOUND_REFUSED');
    }
    expect(canary.hits).toEqual([]);
  });
});

describe('redirects', () => {
  const out = () => createOutbound({ allowedNetworks: ['127.0.0.2/32'] }, { logger: silent, timeoutMs: 3000 });

  it.each([301, 302, 303, 307, 308])('a %i from an allowed host to forbidden spellings is refused, canary untouched', async (code) => {
    const o = out();
    for (const to of [`http://127.0.0.1:${canary.port}/`, `http://2130706433:${canary.port}/`, `http://[::ffff:7f00:1]:${canary.port}/`, `http://localhost:${canary.port}/`, `http://[::1]:${canary.port}/`, 'http://169.254.169.254/']) {
      const e = await errOf(o.fetch(`http://127.0.0.2:${allowed.port}/redirect?code=${code}&to=${encodeURIComponent(to)}`, { method: code >= 307 ? 'POST' : 'GET', body: code >= 307 ? 'x' : undefined }));
      expect(codeOf(e), to).toBe('ERR_OUTBOUND_REFUSED');
    }
    expect(canary.hits).toEqual([]);
  });

  it('a redirect to a non-http scheme is refused', async () => {
    const o = out();
    for (const to of ['file:///etc/passwd', 'data:text/plain,hi', `gopher://127.0.0.2:${canary2.port}/`]) {
      expect(await errOf(o.fetch(`http://127.0.0.2:${allowed.port}/redirect?to=${encodeURIComponent(to)}`)), to).toBeDefined();
    }
    expect(canary2.hits).toEqual([]);
  });

  it('a redirect loop ends with an error after a few hops', async () => {
    const before = allowed.hits.length;
    const e = await errOf(out().fetch(`http://127.0.0.2:${allowed.port}/loop`));
    expect(e).toBeDefined();
    expect(allowed.hits.length - before).toBeLessThanOrEqual(6);
  });

  it("redirect: 'manual' gets the 3xx and follows nothing", async () => {
    const res = await out().fetch(`http://127.0.0.2:${allowed.port}/redirect?to=${encodeURIComponent(`http://127.0.0.2:${canary2.port}/`)}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(canary2.hits).toEqual([]);
  });

  it('Authorization is dropped on a cross-origin hop (other port)', async () => {
    const before = allowedB.hits.length;
    await out().fetch(`http://127.0.0.2:${allowed.port}/redirect?to=${encodeURIComponent(`http://127.0.0.2:${allowedB.port}/`)}`, { headers: { authorization: 'Bearer secret-token' } });
    expect(allowedB.hits.slice(before)).toHaveLength(1);
    expect(allowedB.hits.at(-1)).toMatch(/auth=$/);
  });
});

describe('time and memory', () => {
  const out = (extra: { resolver?: Resolver } = {}) => createOutbound({ allowedNetworks: ['127.0.0.2/32'] }, { logger: silent, timeoutMs: 1000, ...extra });
  const within = async (ms: number, p: Promise<unknown>) => {
    const t0 = Date.now();
    const r = await Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise((r) => setTimeout(() => r('still running'), ms))]);
    return { r, elapsed: Date.now() - t0 };
  };

  it('headers that never come: aborted by the deadline', async () => {
    const { r } = await within(5000, out().fetch(`http://127.0.0.2:${allowed.port}/never`));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a body that never ends: reading it is aborted by the deadline', async () => {
    const { r } = await within(5000, out().fetch(`http://127.0.0.2:${allowed.port}/hang-body`).then((res) => res.text()));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a slow-drip body (a byte every 100 ms, forever): reading it is aborted by the deadline', async () => {
    const { r } = await within(5000, out().fetch(`http://127.0.0.2:${allowed.port}/drip`).then((res) => res.text()));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a name whose resolution never answers: the request still ends at its deadline', async () => {
    const resolver: Resolver = () => new Promise(() => undefined);
    const { r } = await within(5000, out({ resolver }).fetch(`http://slow-dns.test:${allowed.port}/`));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a name whose resolution never answers: the caller\'s own signal (oidc-provider passes 2.5 s) still ends it', async () => {
    const resolver: Resolver = () => new Promise(() => undefined);
    const { r } = await within(5000, out({ resolver }).fetch(`http://slow-dns.test:${allowed.port}/`, { signal: AbortSignal.timeout(500) }));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a caller-supplied signal that fires stops the body too', async () => {
    const o = createOutbound({ allowedNetworks: ['127.0.0.2/32'] }, { logger: silent, timeoutMs: 60_000 });
    const { r } = await within(5000, o.fetch(`http://127.0.0.2:${allowed.port}/drip`, { signal: AbortSignal.timeout(1000) }).then((res) => res.text()));
    expect(r).toBe('rejected');
  }, 10_000);

  it('a huge chunked body (8 MiB) is cut off at the 1 MiB limit', async () => {
    const o = createOutbound({ allowedNetworks: ['127.0.0.2/32'] }, { logger: silent, timeoutMs: 10_000 });
    const e = await errOf(o.fetch(`http://127.0.0.2:${allowed.port}/huge`).then((res) => res.arrayBuffer()));
    expect(codeOf(e) ?? (e as { code?: string })?.code).toBe('ERR_OUTBOUND_RESPONSE_TOO_LARGE');
  }, 20_000);
});

describe('through the running app (a kiosk jwks_uri the attacker chose)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ logger: silent as never, overrides: (c) => ({ ...c, outbound: { allowedNetworks: ['127.0.0.2/32'] } }) });
  }, 60_000);
  afterAll(async () => h?.close());

  it.each([
    ['decimal', (p: number) => `http://2130706433:${p}/jwks`],
    ['hex', (p: number) => `http://0x7f.1:${p}/jwks`],
    ['mapped IPv6', (p: number) => `http://[::ffff:7f00:1]:${p}/jwks`],
    ['localhost', (p: number) => `http://localhost:${p}/jwks`],
    ['redirect from the allowed host', (p: number) => `http://127.0.0.2:${allowed.port}/redirect?code=307&to=${encodeURIComponent(`http://127.1:${p}/jwks`)}`],
  ])('jwks_uri via %s: the canary gets no request', async (_name, uri) => {
    const citizen = await h.citizen();
    const before = allowed.hits.length;
    const kiosk = await simulatedKiosk(h, { jwks: undefined, jwksUri: uri(canary.port) });
    await kiosk.cardLogin(await kiosk.assertion({ citizenId: citizen.citizenId })).catch((e: unknown) => e);
    expect(canary.hits).toEqual([]);
    if (_name.startsWith('redirect')) expect(allowed.hits.length).toBeGreaterThan(before);
  }, 30_000);
});
