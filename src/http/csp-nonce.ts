import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const nonces = new WeakMap<IncomingMessage, string>();

/**
 * One CSP nonce per request, keyed by the raw request so that pages rendered by oidc-provider
 * (its own Koa context) and by our routes see the same value.
 */
export function cspNonce(req: IncomingMessage): string {
  let nonce = nonces.get(req);
  if (!nonce) {
    nonce = randomBytes(16).toString('base64');
    nonces.set(req, nonce);
  }
  return nonce;
}
