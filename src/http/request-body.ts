import type { Context } from 'koa';

/**
 * The request's body, refused (`tooLarge()` thrown) past `maxBytes`, declared or sent. A body sent
 * in chunks without a length is only found too large while it is read: the reading stops there but
 * leaves the request open, so that the refusal can still be answered (destroying it took the socket
 * that the answer's cookies and protocol are read from, and turned a 413 into a 500), and the
 * connection is closed after the answer rather than read to its end.
 */
export async function readBody(ctx: Context, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  if (Number(ctx.get('content-length') || 0) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      ctx.set('connection', 'close');
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
