import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { isYihaoError } from '../errors.js';
import { requestLog } from '../logger.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * First in the chain: a request id, one log line per request, and the mapping of errors to
 * answers. Paths are logged without their query string: queries can carry hints and codes.
 */
export function requestContext(logger: Logger): Middleware {
  const logRequest = requestLog(logger);
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const id = REQUEST_ID.test(incoming) ? incoming : randomUUID();
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
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      logRequest({ requestId: id, method: ctx.method, path: ctx.path, status, ms: Math.round((performance.now() - started) * 10) / 10 });
    }
  };
}
