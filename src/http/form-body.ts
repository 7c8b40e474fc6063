import type { Context } from 'koa';
import { YihaoError } from '../errors.js';
import { readBody } from './request-body.js';

/**
 * Reads an application/x-www-form-urlencoded body, refusing more than `maxBytes`. Repeated fields
 * keep their first value: no form of ours sends arrays.
 */
export async function readForm(ctx: Context, maxBytes: number): Promise<Record<string, string>> {
  const type = ctx.request.type;
  if (type !== 'application/x-www-form-urlencoded') {
    throw new YihaoError('invalid_input', 'expected a form submission (application/x-www-form-urlencoded)', 415);
  }
  const body = await readBody(ctx, maxBytes, () => new YihaoError('invalid_input', 'the form is too large', 413));
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
    if (!(k in out)) out[k] = v;
  }
  return out;
}
