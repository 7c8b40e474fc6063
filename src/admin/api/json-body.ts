import type { Context } from 'koa';
import { AdminError } from '../admin-error.js';

/** Reads a JSON request body of at most `maxBytes`; an empty body is undefined. */
export async function readJson(ctx: Context, maxBytes: number): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBytes) throw new AdminError('invalid_input', 'the request body is too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new AdminError('invalid_input', 'the request body is too large');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  if (ctx.request.type !== 'application/json') throw new AdminError('invalid_input', 'the request body must be application/json');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new AdminError('invalid_input', 'the request body is not valid JSON');
  }
}
