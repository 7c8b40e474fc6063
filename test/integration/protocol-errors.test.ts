/**
 * A request with the wrong method at a protocol or API endpoint gets a protocol answer: 405 with
 * `Allow`, or an RFC 6749 JSON error. Never an HTML page (a client cannot read one) and never a
 * 5xx. Browsers asking for HTML get the same answer: these endpoints are not pages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

describe('wrong methods and stray routes at protocol and API endpoints', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  const probes: [method: string, path: string][] = [
    ['GET', '/device/auth'],
    ['GET', '/device/auth?client_id=x&ui_locales=en'],
    ['PUT', '/device/auth'],
    ['DELETE', '/device/auth'],
    ['GET', '/device/auth/extra'],
    // Other spellings the routers answer: a trailing slash, another letter case.
    ['GET', '/DEVICE/auth/'],
    ['GET', '/Token/'],
    ['GET', '/token'],
    ['PUT', '/token'],
    ['GET', '/token/introspection'],
    ['GET', '/token/revocation'],
    ['DELETE', '/token/revocation'],
    ['GET', '/request'],
    ['GET', '/backchannel'],
    ['POST', '/jwks'],
    ['PUT', '/me'],
    ['DELETE', '/.well-known/openid-configuration'],
    ['GET', '/mobile/challenge'],
    ['PUT', '/mobile/device-keys'],
    ['DELETE', '/admin/api/v1/departments'],
  ];

  it.each(probes)('%s %s answers 405 with Allow, or a JSON error', async (method, path) => {
    for (const accept of ['application/json', 'text/html,application/xhtml+xml']) {
      const res = await fetch(`${h.url}${path}`, { method, redirect: 'manual', headers: { accept } });
      const body = await res.text();
      expect(res.status, `${accept}: ${body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(res.headers.get('content-type') ?? '').not.toMatch(/html/);
      if (res.status === 405) expect(res.headers.get('allow')).toBeTruthy();
      else expect(JSON.parse(body)).toMatchObject({ error: expect.any(String) });
    }
  });
});
