import { randomBytes } from 'node:crypto';

interface HtmlTarget {
  type: string;
  body: unknown;
  set(field: string, value: string): void;
}

/**
 * Answers with an HTML page rendered for a fresh CSP nonce, and the CSP that allows exactly its
 * inline style (and, for pages that ask, its inline script and fetches back to us). No
 * `form-action`: Chromium applies it to the redirect after a form post, which would block the
 * return to the relying party. Works on our context and on oidc-provider's.
 */
export function htmlPage(ctx: HtmlTarget, render: (nonce: string) => string, opts: { script?: boolean } = {}): void {
  const nonce = randomBytes(16).toString('base64');
  const script = opts.script ? ` script-src 'nonce-${nonce}'; connect-src 'self';` : '';
  ctx.set('content-security-policy', `default-src 'none';${script} style-src 'nonce-${nonce}'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'`);
  ctx.set('cache-control', 'no-store');
  ctx.type = 'html';
  ctx.body = render(nonce);
}
