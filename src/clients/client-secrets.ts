import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import { createBlindIndex } from '../identity/index.js';
import type { SecretGrace } from './secret-grace.js';

const PREFIX = 'hmac1$';

const same = (stored: string, digest: string) => {
  const a = Buffer.from(stored);
  const b = Buffer.from(digest);
  return a.length === b.length && timingSafeEqual(a, b);
};

/**
 * Client secrets are 256-bit random values, so a keyed HMAC is as strong as a password hash here
 * and costs microseconds instead of tens of milliseconds per token request. Only the HMAC is
 * stored; HS* signing and client_secret_jwt, which need the raw secret, are not offered.
 * With `grace`, a secret replaced by a rotation is still accepted until its grace period ends.
 */
export function clientSecrets(indexKey: string, { grace }: { grace?: SecretGrace } = {}) {
  const keyed = createBlindIndex(indexKey);
  const digest = (secret: string) => `${PREFIX}${keyed('client_secret', secret)}`;
  const matches = (stored: string | undefined, presented: string): boolean => !!stored?.startsWith(PREFIX) && same(stored, digest(presented));
  return {
    /** What is stored for a given secret (for secrets derived rather than generated, like the portal's). */
    stored: digest,
    generate(): { secret: string; stored: string } {
      const secret = randomBytes(32).toString('base64url');
      return { secret, stored: digest(secret) };
    },
    matches,
    /** The current secret, or an earlier one still in its grace period. */
    async accepts(clientId: string, stored: string | undefined, presented: string): Promise<boolean> {
      if (matches(stored, presented)) return true;
      if (!grace) return false;
      const presentedDigest = digest(presented);
      return (await grace.live(clientId)).some((d) => same(d, presentedDigest));
    },
    /** Teaches a Provider's Client model to compare against the stored HMACs. */
    install(provider: Provider): void {
      const accepts = this.accepts;
      provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string; clientSecret?: string }, actual: string) {
        return accepts(this.clientId, this.clientSecret, actual);
      };
    },
  };
}
export type ClientSecrets = ReturnType<typeof clientSecrets>;
