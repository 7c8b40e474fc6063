/**
 * Every URL the provider states or checks comes from its issuer, never from the request's Host (or
 * a trusted X-Forwarded-Host): the discovery document a shared cache may keep, and the audiences a
 * client's signed assertion and DPoP proofs are held to. A request with a Host of an attacker's
 * choosing must neither get discovery pointing at that host, nor make an assertion or proof that a
 * client made for another server (one at that host) count here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startHarness, type Harness } from '../support/harness.js';

const EVIL = 'idp.attacker.example';

/** A request with headers as given (fetch would not send a Host of our choosing). */
function send(base: string, init: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: init.method, path: init.path, headers: init.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe.each([{ trustProxy: false }, { trustProxy: true }])('URLs from the issuer (trustProxy $trustProxy)', ({ trustProxy }) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ overrides: (c) => ({ ...c, trustProxy }) });
  });
  afterAll(async () => h?.close());

  /** The Host an attacker sends, and behind a trusted proxy the forwarded host too. */
  const hostile: Record<string, string> = trustProxy ? { host: EVIL, 'x-forwarded-host': EVIL } : { host: EVIL };

  it('states its own endpoints in discovery whatever Host the request names', async () => {
    const honest = JSON.parse((await send(h.url, { method: 'GET', path: '/.well-known/openid-configuration', headers: {} })).body) as Record<string, unknown>;
    const res = await send(h.url, { method: 'GET', path: '/.well-known/openid-configuration', headers: hostile });
    expect(res.status).toBe(200);
    const discovery = JSON.parse(res.body) as Record<string, unknown>;
    expect(JSON.stringify(discovery)).not.toContain(EVIL);
    expect(discovery).toEqual(honest);
    expect(discovery.token_endpoint).toBe(`${h.issuer}/token`);
  });

  it('refuses a client assertion made for another server\'s token endpoint, presented with that server\'s Host', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const client = await h.client({ grantTypes: ['client_credentials'], redirectUris: [], jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] } as never });
    const assertion = (aud: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(client.client_id)
        .setSubject(client.client_id)
        .setAudience(aud)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(privateKey);
    const tokenRequest = async (aud: string, headers: Record<string, string>) =>
      send(h.url, {
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(aud) }).toString(),
      });
    // The assertion made for Yihao works (the control); the one made for the other server does not, Host or no Host.
    expect((await tokenRequest(`${h.issuer}/token`, {})).status).toBe(200);
    const stolen = await tokenRequest(`http://${EVIL}/token`, hostile);
    expect(stolen.status).toBe(401);
    expect(JSON.parse(stolen.body)).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses a DPoP proof made for another server\'s token endpoint, presented with that server\'s Host', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const client = await h.client({ grantTypes: ['client_credentials'], redirectUris: [] });
    const proof = (htu: string) => new SignJWT({ htm: 'POST', htu }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).setJti(randomUUID()).setIssuedAt().sign(privateKey);
    const tokenRequest = async (htu: string, headers: Record<string, string>) =>
      send(h.url, {
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, dpop: await proof(htu), ...headers },
        body: 'grant_type=client_credentials',
      });
    expect((await tokenRequest(`${h.issuer}/token`, {})).status).toBe(200);
    const replayed = await tokenRequest(`http://${EVIL}/token`, hostile);
    expect(replayed.status).toBe(400);
    expect(JSON.parse(replayed.body)).toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
