import { errors } from 'oidc-provider';

/**
 * `invalid_grant` with a description the client can act on. oidc-provider's own InvalidGrant always
 * says "grant request is invalid"; our refusals (a stale card assertion, a replayed nonce, an actor
 * without the counter role) say which rule failed, and never echo the ID number or a token.
 */
export const invalidGrant = (description: string) => new errors.CustomOIDCProviderError('invalid_grant', description);

export const isOAuthError = (e: unknown): boolean => e instanceof errors.OIDCProviderError;
