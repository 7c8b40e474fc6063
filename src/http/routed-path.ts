/**
 * The path as the routers see it. Ours (@koa/router) and oidc-provider's match paths in any letter
 * case and with trailing slashes, so `/TOKEN/` is `/token`: a check matched on the exact spelling
 * (a rate limit, a method rule) would let every other spelling past it.
 */
export const routedPath = (path: string): string => path.toLowerCase().replace(/(?<=.)\/+$/, '');
