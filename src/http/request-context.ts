import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { isYihaoError } from '../errors.js';

/**
 * First in the chain: a request id, one log line per request, and the mapping of errors to
 * answers. Paths are logged without their query string: queries can carry hints and codes.
 */
export function requestContext(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('x-request-id');
    const id = /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.set('x-request-id', id);
    try {
      await next();
    } catch (err) {
      if (isYihaoError(err)) {
        ctx.status = err.status;
        ctx.body = { error: err.code, error_description: err.message };
      } else {
        logger.error({ err, requestId: id, method: ctx.method, path: ctx.path }, 'unhandled error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', error_description: 'an unexpected error occurred', request_id: id };
      }
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      logger.info({ requestId: id, method: ctx.method, path: ctx.path, status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}
