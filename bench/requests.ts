/** The requests the bench sends, and the one-by-hand check before an endpoint is loaded. */
import type autocannon from 'autocannon';
import { RESOURCE, RESOURCE_SCOPE } from './knobs.js';
import { basicAuth, http, type TokenSet } from './sign-in.js';

const FORM = 'application/x-www-form-urlencoded';

export function clientCredentialsRequest(clientId: string, secret: string): autocannon.Request {
  return {
    method: 'POST',
    path: '/token',
    headers: { authorization: basicAuth(clientId, secret), 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: RESOURCE_SCOPE, resource: RESOURCE }).toString(),
  };
}

/**
 * Refresh tokens rotate: every request takes an unused token from the pool, and each answer puts
 * its new refresh token at the back, so the pool never runs dry.
 */
export function refreshRequest(clientId: string, secret: string, pool: string[]): autocannon.Request {
  return {
    method: 'POST',
    path: '/token',
    headers: { authorization: basicAuth(clientId, secret), 'content-type': FORM },
    setupRequest: (req) => ({ ...req, body: `grant_type=refresh_token&refresh_token=${pool.shift() ?? 'pool-ran-dry'}` }),
    onResponse: (status, body) => {
      if (status !== 200) return;
      const next = (JSON.parse(body) as TokenSet).refresh_token;
      if (next) pool.push(next);
    },
  };
}

/** Sends an autocannon request description once; throws unless the answer is 200 JSON. */
export async function sendOnce(base: string, req: autocannon.Request): Promise<Record<string, unknown>> {
  const body = typeof req.setupRequest === 'function' ? req.setupRequest(req, {}).body : req.body;
  const res = await http(new URL(req.path ?? '/', base), {
    method: req.method ?? 'GET',
    headers: req.headers as Record<string, string>,
    ...(typeof body === 'string' ? { body } : {}),
  });
  if (res.status !== 200) throw new Error(`${req.method ?? 'GET'} ${req.path}: ${res.status} ${res.text.slice(0, 300)}`);
  if (typeof req.onResponse === 'function') req.onResponse(res.status, res.text, {}, {});
  return JSON.parse(res.text) as Record<string, unknown>;
}

/** A client_credentials answer must carry an ES256 `at+jwt`, as the bare provider's does. */
export function checkJwtAccessToken(what: string, answer: Record<string, unknown>): void {
  const header = JSON.parse(Buffer.from(String(answer.access_token).split('.')[0]!, 'base64url').toString()) as { alg?: string; typ?: string };
  if (header.alg !== 'ES256' || header.typ !== 'at+jwt') throw new Error(`${what}: client_credentials token is not an ES256 at+jwt: ${JSON.stringify(header)}`);
}
