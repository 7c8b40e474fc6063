import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { isYihaoError } from '../errors.js';
import { loggedPath, requestLog } from '../logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { DEPENDENCY_DOWN, isDependencyFailure, RETRY_AFTER_SECONDS } from '../storage/dependency-failure.js';

/**
 * A store was unreachable: the request may well succeed shortly, on this or another instance, so it
 * is a 503 with Retry-After rather than a 500. Pages keep their HTML; API answers say so in JSON.
 */
function unavailable(ctx: Parameters<Middleware>[0], id: string): void {
  ctx.status = 503;
  ctx.set('retry-after', String(RETRY_AFTER_SECONDS));
  if (typeof ctx.body === 'string' && ctx.response.is('html')) return;
  ctx.body = { error: 'temporarily_unavailable', error_description: 'a store this request needs is not reachable; try again shortly', request_id: id };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The request's id as this middleware settled it: the caller's `X-Request-Id` only when it is a
 * plain id of at most 64 characters, else one of ours. Never the raw header: an audit record's
 * column holds 64 characters, and PostgreSQL refuses a longer one (a 500, or a record lost).
 */
export const requestIdOf = (ctx: { state?: Record<string, unknown> }): string | undefined => {
  const id = ctx.state?.requestId;
  return typeof id === 'string' ? id : undefined;
};

/**
 * Load shedding (the argon2 queue is full) where no page answered it itself: Retry-After always,
 * and for a browser form a page in both languages rather than JSON it cannot show.
 */
function shed(ctx: Context, seconds: number): void {
  ctx.set('retry-after', String(seconds));
  if (ctx.accepts('json', 'html') !== 'html') return;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('cache-control', 'no-store');
  ctx.body = `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>服务繁忙 / Service busy</title><main><h1>服务繁忙 / Service busy</h1><p role="alert">服务繁忙，请 ${seconds} 秒后重试。 <span lang="en">The service is busy. Try again in ${seconds} seconds.</span></p></main></html>`;
}

/**
 * First in the chain: a request id, one log line per request, and the mapping of errors to
 * answers. Paths are logged without their query string: queries can carry hints and codes.
 */
export function requestContext(logger: Logger, metrics?: Metrics): Middleware {
  const logRequest = requestLog(logger);
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const id = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('x-request-id', id);
    try {
      // Every answer may build a URL from the Host (or, behind a trusted proxy, X-Forwarded-Host and
      // -Proto): one that cannot be a URL's origin is the client's error, not a TypeError and a 500.
      if (!URL.canParse(ctx.href)) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'the Host (or forwarded host or protocol) of the request is malformed', request_id: id };
        return;
      }
      await next();
      if (ctx.state[DEPENDENCY_DOWN] && ctx.status === 500) unavailable(ctx, id);
    } catch (err) {
      if (isDependencyFailure(err)) {
        logger.warn({ requestId: id, method: ctx.method, path: loggedPath(ctx.path), error: (err as Error).message }, 'a store is not reachable');
        unavailable(ctx, id);
      } else if (isYihaoError(err)) {
        ctx.status = err.status;
        ctx.body = { error: err.code, error_description: err.message };
        if (err.code === 'overloaded') shed(ctx, (err as { retryAfterSeconds?: number }).retryAfterSeconds ?? 1);
      } else {
        logger.error({ err, requestId: id, method: ctx.method, path: loggedPath(ctx.path) }, 'unhandled error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'an unexpected error occurred', request_id: id };
      }
    } finally {
      // A failed request changes nothing in the browser either: a cookie it set names state it did
      // not save (a logout's renewed session id whose save failed, and the retry found no session).
      if (ctx.status >= 500 && ctx.respond !== false && !ctx.headerSent) ctx.res.removeHeader('set-cookie');
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      const ms = performance.now() - started;
      logRequest({ requestId: id, method: ctx.method, path: ctx.path, status, ms: Math.round(ms * 10) / 10 });
      metrics?.request(ctx, status, ms / 1000);
    }
  };
}
