import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { parse } from 'node:querystring';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { ClientSecrets } from '../clients/index.js';
import { tokenInternals } from './internals.js';

/** The largest body read here: a client_credentials, refresh or code request is a few hundred bytes. */
const MAX_BODY = 4096;
const SECRET_METHODS = new Set<string | undefined>(['client_secret_basic', 'client_secret_post']);
/** The parameters each grant may come with here; a request with any other goes to oidc-provider. */
const CLIENT_CREDENTIALS_PARAMS: ReadonlySet<string> = new Set(['grant_type', 'scope', 'resource', 'client_id', 'client_secret']);
const REFRESH_PARAMS: ReadonlySet<string> = new Set(['grant_type', 'refresh_token', 'scope', 'client_id', 'client_secret']);
const CODE_PARAMS: ReadonlySet<string> = new Set(['grant_type', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'client_secret']);
/** Headers that bring something besides a client secret into the request: a key proof, a cross-origin caller, an attestation. */
const OTHER_HEADERS = ['dpop', 'origin', 'oauth-client-attestation', 'oauth-client-attestation-pop'] as const;
/** What oidc-provider's client authentication refuses in a decoded client_id or secret (consts/client_attributes.js). */
const NOT_VSCHAR = /[^\x20-\x7E]/;
const BASE64 = /^([A-Za-z0-9+/]*)(={0,2})$/;

/**
 * A form, judged as oidc-provider's body parser judges it (`ctx.is`), without a charset or with
 * UTF-8; any other charset is left to oidc-provider. Its parser passes `ctx.charset` on to decode
 * with, which Koa's context does not have: it always reads the bytes as they are, a leading BOM
 * included (a review found this path had decoded a UTF-8 charset with TextDecoder, which drops the
 * BOM, and issued a token for a body oidc-provider refuses).
 */
function isForm(ctx: Context): boolean {
  if (ctx.is('application/x-www-form-urlencoded') !== 'application/x-www-form-urlencoded') return false;
  const charset = ctx.request.charset.toLowerCase();
  return charset === '' || charset === 'utf-8';
}

/** oidc-provider's isValidBase64 (shared/client_auth.js). */
function validBase64(input: string): boolean {
  const match = BASE64.exec(input);
  if (!match?.[1]) return false;
  const remainder = match[1].length % 4;
  if (!match[2]) return remainder !== 1;
  return (match[1].length + match[2].length) % 4 === 0 && match[2].length === 4 - remainder;
}

function decodeAuthToken(token: string): string | undefined {
  try {
    const decoded = decodeURIComponent(token.replace(/\+/g, '%20'));
    return NOT_VSCHAR.test(decoded) ? undefined : decoded;
  } catch {
    return undefined;
  }
}

/** The client and secret presented one way only, as oidc-provider reads them (RFC 6749 §2.3.1), or undefined for anything it would refuse or judge otherwise. */
function presentedSecret(authorization: string | undefined, params: Record<string, string>): { clientId: string; secret: string } | undefined {
  if (authorization === undefined) {
    return params.client_id && params.client_secret ? { clientId: params.client_id, secret: params.client_secret } : undefined;
  }
  if (params.client_secret !== undefined) return undefined;
  const parts = authorization.split(' ');
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'basic' || !validBase64(parts[1]!)) return undefined;
  const basic = Buffer.from(parts[1]!, 'base64').toString('utf8');
  const colon = basic.indexOf(':');
  if (colon === -1) return undefined;
  const clientId = decodeAuthToken(basic.slice(0, colon));
  const secret = decodeAuthToken(basic.slice(colon + 1));
  if (!clientId || !secret || (params.client_id !== undefined && params.client_id !== clientId)) return undefined;
  return { clientId, secret };
}

/** One value per parameter, each one of `known`, none empty; else undefined. */
function knownParams(body: string, known: ReadonlySet<string>): Record<string, string> | undefined {
  const parsed = parse(body);
  const params: Record<string, string> = {};
  // for-in, not Object.entries: the parsed object has no prototype, which sends entries down V8's slow path.
  for (const name in parsed) {
    const value = parsed[name];
    if (!known.has(name) || typeof value !== 'string' || value === '') return undefined;
    params[name] = value;
  }
  return params;
}

/**
 * The request body, read as oidc-provider's selective_body.js reads it: every chunk, and whether it
 * matched Content-Length. With the stream's events rather than its async iterator, which costs a
 * dozen promises per request (each one through the async hooks). A body longer than announced is
 * read no further: the stream is paused where it stood, as the iterator's early return left it.
 */
function readBody(req: IncomingMessage, length: number): Promise<{ chunks: Buffer[]; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const done = (complete: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onBroken);
      req.off('close', onBroken);
      resolve({ chunks, complete });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received > length) {
        req.pause();
        done(false);
      }
    };
    const onEnd = () => done(received === length);
    // An error, or the request closed before its end: what was read is handed on, and oidc-provider answers it.
    const onBroken = () => done(false);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onBroken);
    req.on('close', onBroken);
  });
}

/**
 * Hands the body this path read on to oidc-provider, which reads it again from the request: its
 * body parser sees a readable request that yields the same chunks (and from them the same errors).
 */
async function withBodyReplayed(req: IncomingMessage, chunks: Buffer[], next: () => Promise<unknown>): Promise<void> {
  const replay = req as unknown as Record<string, unknown>;
  Object.defineProperty(replay, 'readable', { value: true, configurable: true, writable: true });
  replay.iterator = () => (async function* () { yield* chunks; })();
  try {
    await next();
  } finally {
    // The last one added first: V8 then rolls each back to the request's own map, instead of turning
    // the request into a slow dictionary object for the rest of its life.
    delete replay.iterator;
    delete replay.readable;
  }
}

/**
 * The three grants that are nearly all of /token's traffic, without oidc-provider's token pipeline:
 * client_credentials for a department system or service, refresh_token for an app that keeps a
 * citizen signed in (relying parties refresh far more often than citizens sign in), and
 * authorization_code, the last step of every web sign-in. Each only for a client secret (Basic or
 * in the form) and the grant's own few parameters. The pipeline's two dozen
 * steps (router, CORS, body parser, parameter assembly, three duplicate checks, client
 * authentication's mechanisms) cost more than a client_credentials grant (bench/README.md).
 *
 * The grant itself is oidc-provider's own handler (tokens, their formats, rotation and reuse
 * detection, Yihao's refresh policy, the response), run on the request's context as its pipeline
 * would run it. This path checks up front what the pipeline would check for such a request (the
 * client, its authentication method, its secret and the secret's expiry, the grant type, the scope's
 * syntax). Anything else goes on to oidc-provider with the body handed back, and it answers as before:
 * every client error (with its wording, WWW-Authenticate and `grant.error` record), secrets in their
 * rotation's grace period, DPoP, mTLS and attestation, cross-origin calls, any other parameter.
 *
 * Once a grant has run it is answered here, refused or not. A refused client_credentials grant has
 * spent nothing and goes on to oidc-provider, which answers it; a refresh or a code may have spent
 * its token (or revoked the grant on reuse) before refusing, so it must not run twice: its refusal
 * comes from the token route's own error handling, as the pipeline's would. test/integration/
 * client-credentials-fast-path.test.ts, refresh-fast-path.test.ts and code-fast-path.test.ts hold
 * each side by side with the pipeline.
 */
export function tokenFastPath(provider: Provider, secrets: Pick<ClientSecrets, 'matches'>): Middleware {
  const { route, clientCredentials, refreshToken, authorizationCode, grantErrors, isValidScope, secretsOnly, Context: OIDCContext, als, exposedHeaders } = tokenInternals(provider);
  if (!clientCredentials || !refreshToken || !authorizationCode || !secretsOnly) return (_ctx, next) => next();
  const ineligible = (h: IncomingHttpHeaders) => h['transfer-encoding'] !== undefined || OTHER_HEADERS.some((name) => h[name] !== undefined);
  type Carrier = Context & { oidc?: { params: Record<string, unknown>; entity(kind: string, value: unknown): void }; _matchedRouteName?: string };

  /** The client this request authenticates as with its current secret, if it may use `grantType`; else undefined. */
  async function authenticated(ctx: Context, params: Record<string, string>, grantType: string) {
    const presented = presentedSecret(ctx.headers.authorization, params);
    if (!presented) return undefined;
    let client: Awaited<ReturnType<typeof provider.Client.find>>;
    try {
      // A stored client that no longer passes oidc-provider's checks throws: oidc-provider answers that.
      client = await provider.Client.find(presented.clientId);
    } catch {
      return undefined;
    }
    // Only the current secret: one in a rotation's grace period costs a store read, which oidc-provider's own path makes.
    if (!client || !SECRET_METHODS.has(client.clientAuthMethod) || !secrets.matches(client.clientSecret, presented.secret)) return undefined;
    if (!client.grantTypeAllowed(grantType)) return undefined;
    try {
      (client as unknown as { checkClientSecretExpiration(message: string): void }).checkClientSecretExpiration('expired');
    } catch {
      return undefined;
    }
    return client;
  }

  /**
   * Gives the request's own context oidc-provider's context for the token route, with the
   * pipeline's parameters and the authenticated client. (A view made with Object.create(ctx) would
   * keep them apart, but turning each request's context into a prototype cost V8 more than the rest
   * of this path.)
   */
  function carry(ctx: Context, client: object, params: Record<string, unknown>): Carrier {
    const carrier = ctx as Carrier;
    carrier._matchedRouteName = 'token';
    const oidc = new OIDCContext(carrier) as NonNullable<Carrier['oidc']>;
    Object.defineProperty(carrier, 'oidc', { value: oidc, configurable: true });
    oidc.params = params;
    oidc.entity('Client', client);
    return carrier;
  }

  /** noCache, and the CORS middleware's answer to a request without Origin; the route, for the request metrics. */
  function asTokenRoute(ctx: Context): void {
    ctx.set('cache-control', 'no-store');
    ctx.vary('Origin');
    ctx.set('access-control-allow-origin', '*');
    ctx.set('access-control-expose-headers', exposedHeaders);
    (ctx as { _matchedRoute?: string })._matchedRoute = route;
  }

  /** oidc-provider's client_credentials grant on this request, or false where the pipeline would have answered otherwise (or the grant threw). */
  async function clientCredentialsGrant(ctx: Context, body: string): Promise<boolean> {
    const params = knownParams(body, CLIENT_CREDENTIALS_PARAMS);
    if (params?.grant_type !== 'client_credentials' || !isValidScope(params.scope)) return false;
    const client = await authenticated(ctx, params, 'client_credentials');
    if (!client) return false;
    const carrier = carry(ctx, client, { grant_type: params.grant_type, scope: params.scope, resource: params.resource, client_id: params.client_id, client_secret: params.client_secret });
    try {
      await als.run(carrier, () => clientCredentials!(carrier));
    } catch {
      // Nothing was spent: oidc-provider's pipeline finds the request as it came, and answers it.
      delete carrier.oidc;
      delete carrier._matchedRouteName;
      return false;
    }
    provider.emit('grant.success', carrier);
    asTokenRoute(ctx);
    return true;
  }

  /** Runs a grant that may spend what it was given, and answers it here whatever it decides, from the token route's own error handling. */
  async function runOnce(carrier: Carrier, grant: (ctx: unknown) => Promise<void>): Promise<true> {
    await als.run(carrier, () =>
      grantErrors(carrier, async () => {
        await grant(carrier);
        provider.emit('grant.success', carrier);
      }),
    );
    return true;
  }

  /** oidc-provider's refresh_token grant on this request, answered here whatever it decides; false only where the pipeline must answer instead (nothing ran). */
  async function refreshGrant(ctx: Context, body: string): Promise<boolean> {
    const params = knownParams(body, REFRESH_PARAMS);
    if (params?.grant_type !== 'refresh_token' || !params.refresh_token || !isValidScope(params.scope)) return false;
    const client = await authenticated(ctx, params, 'refresh_token');
    if (!client) return false;
    asTokenRoute(ctx);
    // The pipeline's parameters for this grant: `resource` is one of them, absent here.
    const carrier = carry(ctx, client, { grant_type: params.grant_type, refresh_token: params.refresh_token, scope: params.scope, resource: undefined, client_id: params.client_id, client_secret: params.client_secret });
    return runOnce(carrier, refreshToken!);
  }

  /** oidc-provider's authorization_code grant on this request, answered here whatever it decides (a code is spent once, and its reuse revokes the grant); false only where nothing ran. */
  async function codeGrant(ctx: Context, body: string): Promise<boolean> {
    const params = knownParams(body, CODE_PARAMS);
    if (params?.grant_type !== 'authorization_code' || !params.code) return false;
    const client = await authenticated(ctx, params, 'authorization_code');
    if (!client) return false;
    asTokenRoute(ctx);
    const carrier = carry(ctx, client, {
      grant_type: params.grant_type,
      code: params.code,
      code_verifier: params.code_verifier,
      redirect_uri: params.redirect_uri,
      resource: undefined,
      client_id: params.client_id,
      client_secret: params.client_secret,
    });
    return runOnce(carrier, authorizationCode!);
  }

  /** Other grants go on without being parsed (a grant type spelt with escapes goes on too, and oidc-provider answers it as ever). */
  function answered(ctx: Context, body: string): Promise<boolean> | false {
    if (body.includes('grant_type=authorization_code')) return codeGrant(ctx, body);
    if (body.includes('grant_type=client_credentials')) return clientCredentialsGrant(ctx, body);
    if (body.includes('grant_type=refresh_token')) return refreshGrant(ctx, body);
    return false;
  }

  async function answer(ctx: Context, length: number, next: () => Promise<unknown>): Promise<void> {
    const { chunks, complete } = await readBody(ctx.req, length);
    if (complete && (await answered(ctx, Buffer.concat(chunks).toString()))) return;
    await withBodyReplayed(ctx.req, chunks, next);
  }

  // Not async itself: every other request passes through without a promise of its own.
  return (ctx, next) => {
    if (ctx.path !== route || ctx.method !== 'POST' || ctx.querystring) return next();
    const h = ctx.headers;
    const length = Number(h['content-length']);
    if (ineligible(h) || !(Number.isInteger(length) && length > 0 && length <= MAX_BODY)) return next();
    if (!isForm(ctx)) return next();
    return answer(ctx, length, next);
  };
}
