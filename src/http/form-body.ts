import type { Context } from 'koa';
import { YihaoError } from '../errors.js';

/**
 * Reads an application/x-www-form-urlencoded body, refusing more than `maxBytes`. Repeated fields
 * keep their first value: no form of ours sends arrays.
 */
export async function readForm(ctx: Context, maxBytes: number): Promise<Record<string, string>> {
  const type = ctx.request.type;
  if (type !== 'application/x-www-form-urlencoded') {
    throw new YihaoError('invalid_input', 'expected a form submission (application/x-www-form-urlencoded)', 415);
  }
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBytes) throw new YihaoError('invalid_input', 'the form is too large', 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new YihaoError('invalid_input', 'the form is too large', 413);
    chunks.push(chunk);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) {
    if (!(k in out)) out[k] = v;
  }
  return out;
}
