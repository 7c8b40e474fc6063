/**
 * The guarded outbound client itself, with an injected resolver: every address a name has is
 * checked, the connection goes to the checked address (no second lookup), redirects go through the
 * same check, and answers have a size limit.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbound, type Resolver } from '../../src/outbound/index.js';

let server: Server;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    if (req.url === '/to-metadata') return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (req.url === '/to-self') return res.writeHead(307, { location: '/hello' }).end();
    if (req.url === '/big') return res.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(4096, 'x'));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const silent = pino({ level: 'silent' });
// Names the system resolver has never heard of: only the injected resolver can answer them.
const resolver: Resolver = async (host) =>
  ({
    'internal.test': [{ address: '127.0.0.1' }],
    'mixed.test': [{ address: '93.184.216.34' }, { address: '10.0.0.7' }],
  })[host] ?? [];

const causeOf = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  return (err?.cause ?? err) as { code?: string; message?: string } | undefined;
};

describe('the guarded outbound client', () => {
  it('connects to the address it checked, without a second lookup, and keeps the name in Host', async () => {
    const out = createOutbound({ allowedNetworks: ['127.0.0.0/8'] }, { logger: silent, resolver });
    const res = await out.fetch(`http://internal.test:${port}/hello`);
    expect(await res.text()).toBe('hello');
    expect(seen.at(-1)).toBe(`internal.test:${port} /hello`);
  });

  it('refuses a name when any one of its addresses is special-use', async () => {
    const out = createOutbound({ allowedNetworks: [] }, { logger: silent, resolver });
    expect(await causeOf(out.fetch(`http://mixed.test:${port}/`))).toMatchObject({ code: 'ERR_OUTBOUND_REFUSED' });
  });

  it('refuses a name that resolves to loopback unless loopback is allowed', async () => {
    const out = createOutbound({ allowedNetworks: ['10.0.0.0/8'] }, { logger: silent, resolver });
    expect(await causeOf(out.fetch(`http://internal.test:${port}/`))).toMatchObject({ code: 'ERR_OUTBOUND_REFUSED', message: expect.stringContaining('loopback') });
  });

  it('re-checks each redirect hop: a redirect to the metadata service is refused, one to an allowed place is followed', async () => {
    const out = createOutbound({ allowedNetworks: ['127.0.0.0/8'] }, { logger: silent, resolver });
    expect(await causeOf(out.fetch(`http://127.0.0.1:${port}/to-metadata`))).toMatchObject({ code: 'ERR_OUTBOUND_REFUSED' });
    const followed = await out.fetch(`http://127.0.0.1:${port}/to-self`);
    expect([followed.status, followed.redirected, followed.url]).toEqual([200, true, `http://127.0.0.1:${port}/hello`]);
    const manual = await out.fetch(`http://127.0.0.1:${port}/to-metadata`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
  });

  it('lets an allowed private network be attempted (the guard does not refuse it)', async () => {
    const out = createOutbound({ allowedNetworks: ['10.0.0.0/8', '169.254.0.0/16'] }, { logger: silent, resolver, timeoutMs: 300 });
    for (const host of ['10.0.0.1', '169.254.169.254']) {
      const cause = await causeOf(out.fetch(`http://${host}:${port}/`));
      expect(cause?.code).not.toBe('ERR_OUTBOUND_REFUSED');
    }
  });

  it('cuts off an answer larger than its limit', async () => {
    const out = createOutbound({ allowedNetworks: ['127.0.0.0/8'] }, { logger: silent, maxResponseBytes: 1024 });
    // Refused at the headers when the length is declared, else while the body streams in.
    expect(await causeOf(out.fetch(`http://127.0.0.1:${port}/big`).then((r) => r.text()))).toMatchObject({ code: 'ERR_OUTBOUND_RESPONSE_TOO_LARGE' });
  });

  it('speaks http(s) only', async () => {
    const out = createOutbound({ allowedNetworks: [] }, { logger: silent });
    await expect(out.fetch('file:///etc/passwd')).rejects.toThrow();
  });
});
