import * as oidc from 'openid-client';
import type { Harness } from './harness.js';

/** The redirect URI test clients register; nothing listens there, the tests read the redirect. */
export const REDIRECT = 'http://127.0.0.1:9/cb';

/** openid-client configured for a harness (plain http on loopback is allowed in tests only). */
export function relyingParty(h: Harness, client: { client_id: string; client_secret?: string }): Promise<oidc.Configuration> {
  return oidc.discovery(new URL(h.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
}

/** An authorization URL with S256 PKCE for `verifier`; `extra` adds or overrides parameters. */
export async function authorizationUrl(rp: oidc.Configuration, verifier: string, extra: Record<string, string> = {}): Promise<URL> {
  return oidc.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
}

/** The OAuth error a refused request carries (openid-client's ResponseBodyError); fails if it was not refused. */
export async function oauthError(p: Promise<unknown>): Promise<{ error: string; error_description?: string }> {
  try {
    await p;
  } catch (e) {
    const { error, error_description } = e as { error?: string; error_description?: string };
    if (error) return { error, ...(error_description ? { error_description } : {}) };
    // A 401 answered with a WWW-Authenticate challenge (WWWAuthenticateChallengeError) carries it there.
    const challenge = (e as { cause?: { parameters?: { error?: string; error_description?: string } }[] }).cause;
    const params = Array.isArray(challenge) ? challenge[0]?.parameters : undefined;
    if (params?.error) return { error: params.error, ...(params.error_description ? { error_description: params.error_description } : {}) };
    throw e;
  }
  throw new Error('the request was not refused');
}
