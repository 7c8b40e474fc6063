import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { ChannelApiError, channelApiErrors } from '../http/api-error.js';
import { readBody as readRequestBody } from '../http/request-body.js';
import type { CredentialIssuerMetadata } from '@openid4vc/openid4vci';
import type { CredentialRequests } from './credential-request.js';
import { CREDENTIAL_PATHS } from './issuer-metadata.js';
import type { IssuerSigner } from './issuer-signer.js';
import type { CredentialNonces } from './nonces.js';
import { statusListPath, type StatusLists } from './status-lists.js';

export interface CredentialRoutesDeps {
  issuer: string;
  metadata: () => Promise<CredentialIssuerMetadata>;
  requests: CredentialRequests;
  nonces: CredentialNonces;
  signer: IssuerSigner;
  statusLists: StatusLists;
  statusListTtlSeconds: number;
  bodyMaxBytes: number;
}

/** How long verifiers and wallets may keep the metadata and the issuer's keys. */
const METADATA_MAX_AGE = 300;

const statusListId = z.string().regex(/^[A-Za-z0-9_-]{16}$/);

/** Public documents: any verifier, a web page included, may read them. */
function publicJson(ctx: Context, body: unknown, maxAge: number): void {
  ctx.set('cache-control', `public, max-age=${maxAge}`);
  ctx.set('access-control-allow-origin', '*');
  ctx.body = body;
}

export async function readBody(ctx: Context, maxBytes: number, errorCode = 'invalid_credential_request'): Promise<{ raw: Buffer; json: unknown }> {
  const raw = await readRequestBody(ctx, maxBytes, () => new ChannelApiError(413, errorCode, 'the request body is too large'));
  if (ctx.request.type !== 'application/json') throw new ChannelApiError(415, errorCode, 'the body must be application/json');
  try {
    return { raw, json: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    throw new ChannelApiError(400, errorCode, 'the body is not valid JSON');
  }
}

/**
 * The credential issuer's HTTP face (OID4VCI 1.0, SD-JWT VC issuer metadata, Token Status List).
 * Well-known documents of an issuer with a path sit at `/.well-known/<name><path>` (RFC 8615 as
 * OID4VCI uses it).
 */
export function credentialRoutes(deps: CredentialRoutesDeps): Router {
  const router = new Router();
  const issuerPath = new URL(deps.issuer).pathname.replace(/\/$/, '');

  router.get(`/.well-known/openid-credential-issuer${issuerPath}`, async (ctx) => publicJson(ctx, await deps.metadata(), METADATA_MAX_AGE));

  // SD-JWT VC issuer metadata: where a verifier finds the keys that sign credentials and status lists.
  router.get(`/.well-known/jwt-vc-issuer${issuerPath}`, async (ctx) => publicJson(ctx, { issuer: deps.issuer, jwks: await deps.signer.publicJwks() }, METADATA_MAX_AGE));

  router.post(CREDENTIAL_PATHS.nonce, channelApiErrors, (ctx) => {
    const { nonce } = deps.nonces.mint();
    ctx.set('cache-control', 'no-store');
    ctx.body = { c_nonce: nonce, c_nonce_expires_in: deps.nonces.lifetimeSeconds };
  });

  router.post(CREDENTIAL_PATHS.credential, channelApiErrors, async (ctx) => {
    const { raw, json } = await readBody(ctx, deps.bodyMaxBytes);
    const answer = await deps.requests.handle({
      method: ctx.method,
      url: `${deps.issuer}${CREDENTIAL_PATHS.credential}`,
      authorization: ctx.get('authorization'),
      dpop: ctx.get('dpop') || undefined,
      body: json,
      rawBody: raw,
      ip: ctx.ip,
      requestId: ctx.state.requestId as string | undefined,
    });
    ctx.set('cache-control', 'no-store');
    ctx.body = answer;
  });

  router.get(statusListPath(':id'), async (ctx) => {
    const id = statusListId.safeParse(ctx.params.id);
    const jwt = id.success ? await deps.statusLists.render(id.data) : undefined;
    if (!jwt) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such status list' };
      return;
    }
    ctx.set('cache-control', `public, max-age=${deps.statusListTtlSeconds}`);
    ctx.set('access-control-allow-origin', '*');
    ctx.type = 'application/statuslist+jwt';
    ctx.body = jwt;
  });

  return router;
}
