/**
 * Edges of the client_credentials fast path (src/oidc/token-fast-path.ts) that an
 * attacker-minded review found answered otherwise than oidc-provider's own pipeline: content types
 * oidc-provider refuses, and a stored client it cannot load (a 500 before). Two instances on one
 * store, the second without fast paths; each failed before its fix.
 */
import { rawRequest } from '../support/raw-http.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

const raw = (base: string, headers: Record<string, string>, body: string) => rawRequest(base, '/token', { headers, body });

describe.each(backends)('client_credentials fast path edges ($backend)', ({ backend, enabled }) => {
  let fast: Harness;
  let reference: Harness;
  let service: { clientId: string; secret: string };
  beforeAll(async () => {
    if (!enabled) return;
    fast = await startHarness({ backend });
    reference = await startHarness({ share: fast, fastPaths: false });
    const made = await fast.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    service = { clientId: made.client_id, secret: made.client_secret! };
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });
  const basic = () => `Basic ${Buffer.from(`${encodeURIComponent(service.clientId)}:${encodeURIComponent(service.secret)}`).toString('base64')}`;

  const contentTypes = [
    'application/x-www-form-urlencoded;\tcharset=utf-8',
    'application/x-www-form- urlencoded',
    'application /x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset = utf-8',
  ];
  it.skipIf(!enabled).each(contentTypes)('content-type %j: same status as oidc-provider', async (type) => {
    const headers = { authorization: basic(), 'content-type': type };
    const a = await raw(fast.url, headers, 'grant_type=client_credentials');
    const b = await raw(reference.url, headers, 'grant_type=client_credentials');
    expect({ status: a.status, body: a.status === 200 ? 'token' : a.body }).toEqual({ status: b.status, body: b.status === 200 ? 'token' : b.body });
  });

  it.skipIf(!enabled)('a client_id oidc-provider cannot look up: same answer', async () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = 'grant_type=client_credentials&client_id=%00x&client_secret=y';
    const a = await raw(fast.url, headers, body);
    const b = await raw(reference.url, headers, body);
    expect(a.status).toBe(b.status);
  });
});

describe('client_credentials fast path: a stored client oidc-provider refuses to load', () => {
  let fast: Harness;
  let reference: Harness;
  beforeAll(async () => {
    fast = await startHarness({ backend: 'sqlite' });
    reference = await startHarness({ share: fast, fastPaths: false });
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });
  it('is answered as oidc-provider answers it, not with a 500', async () => {
    const provider = fast.yihao.holder.current as unknown as { Client: { adapter: { upsert(id: string, p: object, e?: number): Promise<void> } } };
    const id = `broken-${Date.now()}`;
    const secret = 'x'.repeat(43);
    const stored = fast.yihao.services.clientSecrets.stored(secret);
    await provider.Client.adapter.upsert(id, { client_id: id, client_secret: stored, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'HS256' });
    const headers = { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' };
    const a = await raw(fast.url, headers, 'grant_type=client_credentials');
    const b = await raw(reference.url, headers, 'grant_type=client_credentials');
    expect({ status: a.status, body: a.body.replace(/"request_id":"[^"]+"/, '') }).toEqual({ status: b.status, body: b.body.replace(/"request_id":"[^"]+"/, '') });
  });
});
