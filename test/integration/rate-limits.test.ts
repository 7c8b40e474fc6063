/**
 * Rate limits at the edge (src/http/edge-limits.ts): failed client authentication from one address
 * is refused by the 50th failure within a minute, while good requests from the same kind of
 * gateway are never counted. Refusals are audited once per address and window, not per request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { formField, ScriptedBrowser } from '../support/scripted-browser.js';

describe('failed client authentication is rate limited per address (SQLite, behind a trusted proxy)', () => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true }) });
    client = await h.client({ redirectUris: ['https://rp.example.gov.cn/cb'] });
  });
  afterAll(async () => h?.close());

  const introspect = (ip: string, secret: string, path = '/token/introspection') =>
    fetch(new URL(path, h.issuer), {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`,
        'x-forwarded-for': ip,
      },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });

  it('answers 429 with Retry-After by the 50th failure from one address, and audits it once', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 50; i++) {
      last = await introspect('198.51.100.20', 'wrong secret');
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 49).every((s) => s === 401)).toBe(true);
    expect(statuses[49]).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await last!.json()).toMatchObject({ error: 'too_many_requests' });
    for (let i = 0; i < 20; i++) expect((await introspect('198.51.100.20', 'wrong secret')).status).toBe(429);
    const events = await h.yihao.stores.db('audit_events').where({ action: 'ratelimit.refused' });
    expect(events).toHaveLength(1);
  });

  it('counts the same endpoint under every spelling its router answers (a trailing slash, any letter case)', async () => {
    const spellings = ['/token/introspection/', '/TOKEN/introspection', '/Token/Introspection/', '/token/introspection'];
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push((await introspect('198.51.100.21', 'wrong secret', spellings[i % spellings.length])).status);
    expect(statuses.slice(0, 49).every((s) => s === 401)).toBe(true);
    expect(statuses[49]).toBe(429);
    for (const path of spellings) expect((await introspect('198.51.100.21', 'wrong secret', path)).status).toBe(429);
  });

  it('counts the addresses of one IPv6 /64 as one client: rotating through it buys no fresh budget', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 50; i++) statuses.push((await introspect(`2001:db8:77:1::${i.toString(16)}`, 'wrong secret')).status);
    expect(statuses[49]).toBe(429);
    expect((await introspect('2001:db8:77:1:ffff::1', 'wrong secret')).status).toBe(429);
    // Another /64 is another client.
    expect((await introspect('2001:db8:77:2::1', 'wrong secret')).status).toBe(401);
  });

  it('counts NAT64 addresses (64:ff9b::a.b.c.d) per /64 unless the translator is configured: the IPv4 address inside proves nothing', async () => {
    for (let i = 0; i < 50; i++) await introspect('64:ff9b::198.51.100.50', 'wrong secret');
    expect((await introspect('64:ff9b::203.0.113.51', 'wrong secret')).status).toBe(429);
  });

  it('takes the address the proxy saw, not one the client wrote in front of it: behind a proxy that appends to X-Forwarded-For, forged entries buy no fresh budget', async () => {
    const statuses: number[] = [];
    // Each request forges a new first entry; the proxy appends the address it really saw.
    for (let i = 1; i <= 50; i++) statuses.push((await introspect(`203.0.113.${i}, 198.51.100.22`, 'wrong secret')).status);
    expect(statuses[49]).toBe(429);
    expect((await introspect('198.51.100.22', 'wrong secret')).status).toBe(429);
    expect((await introspect('203.0.113.77, 198.51.100.23', 'wrong secret')).status).toBe(401);
  });

  it('never counts good requests: a gateway sending many from one address is not throttled', async () => {
    for (let round = 0; round < 4; round++) {
      const good = await Promise.all(Array.from({ length: 100 }, () => introspect('198.51.100.30', client.client_secret!)));
      expect(good.every((r) => r.status === 200)).toBe(true);
    }
    // Its budget for failures is untouched.
    expect((await introspect('198.51.100.30', 'wrong secret')).status).toBe(401);
  });
});

describe("behind the operator's NAT64 translator (SQLite, config nat64Prefixes)", () => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };

  beforeAll(async () => {
    // An IPv6-only front end: every IPv4 client reaches Yihao as 64:ff9b::a.b.c.d.
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true, nat64Prefixes: ['64:ff9b::/96'] }) });
    client = await h.client({ redirectUris: ['https://rp.example.gov.cn/cb'] });
  });
  afterAll(async () => h?.close());

  const introspect = (ip: string, secret: string) =>
    fetch(new URL('/token/introspection', h.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${secret}`).toString('base64')}`, 'x-forwarded-for': ip },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });

  it("counts each IPv4 client apart: one stranger's failures refuse no other citizen's requests", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push((await introspect('64:ff9b::198.51.100.40', 'wrong secret')).status);
    expect(statuses[49]).toBe(429);
    // Another IPv4 client of the same translator has its own budget, and its address is the IPv4 one.
    expect((await introspect('64:ff9b::203.0.113.41', 'wrong secret')).status).toBe(401);
    expect((await introspect('64:ff9b::203.0.113.41', client.client_secret!)).status).toBe(200);
    // The stranger is the IPv4 address, however the translator writes it, and with the port a proxy may add.
    expect((await introspect('64:ff9b::c633:6428', 'wrong secret')).status).toBe(429);
    expect((await introspect('[64:ff9b::198.51.100.40]:40123', 'wrong secret')).status).toBe(429);
    expect((await introspect('[64:ff9b::203.0.113.42]:40124', 'wrong secret')).status).toBe(401);
    const refused = await h.yihao.stores.db('audit_events').where({ action: 'ratelimit.refused' });
    expect(refused.map((e: { ip: string }) => e.ip)).toEqual(['198.51.100.40']);
  });

  it('leaves an IPv6 address outside the prefix counted per /64', async () => {
    for (let i = 1; i <= 50; i++) await introspect(`2001:db8:78:1::${i.toString(16)}`, 'wrong secret');
    expect((await introspect('2001:db8:78:1::ffff', 'wrong secret')).status).toBe(429);
  });
});

describe('forms that send an SMS or start a flow are limited per address (SQLite, behind a trusted proxy)', () => {
  let h: Harness;
  const defaults = loadConfig({ NODE_ENV: 'test' }).rateLimits.forms;

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true, rateLimits: { ...c.rateLimits, forms: defaults } }) });
  });
  afterAll(async () => h?.close());

  const startReset = (ip: string, path = '/password-reset') =>
    fetch(new URL(path, h.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', 'x-forwarded-for': ip },
      body: new URLSearchParams({ identifier: '13800000000' }),
      redirect: 'manual',
    });

  it('refuses the request past the default budget with 429 and Retry-After, for that address only', async () => {
    for (let i = 0; i < defaults.points; i++) expect((await startReset('198.51.100.40')).status).not.toBe(429);
    const refused = await startReset('198.51.100.40');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await startReset('198.51.100.41')).status).not.toBe(429);
  });

  it('counts the form under every spelling its router answers (a trailing slash, any letter case)', async () => {
    const spellings = ['/password-reset/', '/PASSWORD-RESET', '/Password-Reset/'];
    for (let i = 0; i < defaults.points; i++) expect((await startReset('198.51.100.42', spellings[i % spellings.length])).status).not.toBe(429);
    for (const path of [...spellings, '/password-reset']) expect((await startReset('198.51.100.42', path)).status).toBe(429);
  });
});

describe('wrong codes typed at the device page are limited per address (SQLite, behind a trusted proxy)', () => {
  let h: Harness;
  const defaults = loadConfig({ NODE_ENV: 'test' }).rateLimits.signInFailures;

  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy: true, rateLimits: { ...c.rateLimits, signInFailures: defaults } }) });
  });
  afterAll(async () => h?.close());

  /** A guesser at /device: the page's form, then one wrong user code after another, from one address. */
  async function guesser(ip: string) {
    const browser = new ScriptedBrowser();
    const input = await browser.request(new URL('/device?ui_locales=en', h.issuer), { headers: { 'x-forwarded-for': ip } });
    const xsrf = formField(await input.text(), 'xsrf')!;
    return (code: string) => browser.request(new URL('/device', h.issuer), { form: { xsrf, user_code: code }, headers: { 'x-forwarded-for': ip, accept: 'text/html' } });
  }

  it('answers 429 by the wrong code that reaches the sign-in failure budget; other addresses go on', async () => {
    const guess = await guesser('198.51.100.60');
    const code = (i: number) => `BCDF${String(i).padStart(4, '0').replace(/\d/g, (d) => 'GHJKLMNPQR'[Number(d)]!)}`;
    for (let i = 1; i < defaults.points; i++) expect((await guess(code(i))).status).toBe(400);
    const refused = await guess(code(0));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await (await guesser('198.51.100.61'))('BCDF-GHJK')).status).toBe(400);
  });
});

