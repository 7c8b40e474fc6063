import type { Context } from 'koa';
import { AdminError } from '../admin-error.js';
import { readBody } from '../../http/request-body.js';

/** Reads a JSON request body of at most `maxBytes`; an empty body is undefined. */
export async function readJson(ctx: Context, maxBytes: number): Promise<unknown> {
  const body = await readBody(ctx, maxBytes, () => new AdminError('invalid_input', 'the request body is too large'));
  if (body.length === 0) return undefined;
  if (ctx.request.type !== 'application/json') throw new AdminError('invalid_input', 'the request body must be application/json');
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new AdminError('invalid_input', 'the request body is not valid JSON');
  }
}
