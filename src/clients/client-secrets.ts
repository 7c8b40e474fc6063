import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import { createBlindIndex } from '../identity/index.js';

const PREFIX = 'hmac1$';

/**
 * Client secrets are 256-bit random values, so a keyed HMAC is as strong as a password hash here
 * and costs microseconds instead of tens of milliseconds per token request. Only the HMAC is
 * stored; HS* signing and client_secret_jwt, which need the raw secret, are not offered.
 */
export function clientSecrets(indexKey: string) {
  const keyed = createBlindIndex(indexKey);
  const digest = (secret: string) => `${PREFIX}${keyed('client_secret', secret)}`;
  return {
    /** What is stored for a given secret (for secrets derived rather than generated, like the portal's). */
    stored: digest,
    generate(): { secret: string; stored: string } {
      const secret = randomBytes(32).toString('base64url');
      return { secret, stored: digest(secret) };
    },
    matches(stored: string | undefined, presented: string): boolean {
      if (!stored?.startsWith(PREFIX)) return false;
      const a = Buffer.from(stored);
      const b = Buffer.from(digest(presented));
      return a.length === b.length && timingSafeEqual(a, b);
    },
    /** Teaches a Provider's Client model to compare against the stored HMAC. */
    install(provider: Provider): void {
      const matches = this.matches;
      provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientSecret?: string }, actual: string) {
        return matches(this.clientSecret, actual);
      };
    },
  };
}
export type ClientSecrets = ReturnType<typeof clientSecrets>;
