/**
 * An upstream that lies: a test sets what its token, discovery, JWKS and userinfo answers become,
 * and `redirectTo` makes `/review-redirect` answer 307 there. It wraps the upstream's HTTP server
 * itself: oidc-provider's `use` after `callback()` is never composed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UpstreamOp } from './upstream-op.js';

export type Json = Record<string, unknown>;
export interface Tamper {
  idToken?: (jwt: string) => Promise<string>;
  discovery?: (doc: Json) => Json;
  jwks?: (doc: { keys: Json[] }) => { keys: Json[] };
  userinfo?: (doc: Json) => Json;
  hits: Record<string, number>;
}

export function tamperable(up: UpstreamOp, redirectTo?: () => string): Tamper {
  const t: Tamper = { hits: {} };
  const { server } = up;
  const [original] = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    t.hits[path] = (t.hits[path] ?? 0) + 1;
    if (path === '/review-redirect' && redirectTo) {
      res.writeHead(307, { location: redirectTo() });
      res.end();
      return;
    }
    const transform: ((body: string) => Promise<string>) | undefined =
      path === '/token' && t.idToken
        ? async (body) => {
            const json = JSON.parse(body) as { id_token?: string };
            if (json.id_token) json.id_token = await t.idToken!(json.id_token);
            return JSON.stringify(json);
          }
        : path === '/.well-known/openid-configuration' && t.discovery
          ? async (body) => JSON.stringify(t.discovery!(JSON.parse(body) as Json))
          : path === '/jwks' && t.jwks
            ? async (body) => JSON.stringify(t.jwks!(JSON.parse(body) as { keys: Json[] }))
            : path === '/me' && t.userinfo
              ? async (body) => JSON.stringify(t.userinfo!(JSON.parse(body) as Json))
              : undefined;
    if (transform) {
      const chunks: Buffer[] = [];
      const end = res.end.bind(res);
      res.write = ((chunk: unknown) => (chunks.push(Buffer.from(chunk as string)), true)) as typeof res.write;
      res.end = ((chunk?: unknown) => {
        if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as string));
        void transform(Buffer.concat(chunks).toString())
          .catch(() => Buffer.concat(chunks).toString())
          .then((out) => {
            if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(out));
            end(out);
          });
        return res;
      }) as typeof res.end;
    }
    original!(req, res);
  });
  return t;
}
