import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { PurposeKeys } from '../identity/index.js';
import type { SecretGrace } from './secret-grace.js';

/** `hmac<version>$<tag>`: each stored HMAC names the version of the key it was made with. */
const STORED = /^hmac([1-9][0-9]{0,2})\$/;

const same = (stored: string, digest: string) => {
  const a = Buffer.from(stored);
  const b = Buffer.from(digest);
  return a.length === b.length && timingSafeEqual(a, b);
};

export interface ClientSecretVersions {
  /** The key version new and rotated secrets are stored under. */
  clientSecret: number;
  /** The key version the first-party clients' secrets are derived under. */
  firstPartySecret: number;
}

/**
 * Client secrets are 256-bit random values, so a keyed HMAC is as strong as a password hash here
 * and costs microseconds instead of tens of milliseconds per token request. Only the HMAC is
 * stored; HS* signing and client_secret_jwt, which need the raw secret, are not offered.
 * With `grace`, a secret replaced by a rotation is still accepted until its grace period ends.
 *
 * Key rotation (docs/keys.md): a stored HMAC is checked under the version it names, so moving
 * `clientSecret` to a new version changes nothing for secrets already issued; each moves when its
 * client's secret is next rotated. Yihao's own clients derive their secrets (`firstPartySecret`),
 * so moving that version gives them new ones at the next start.
 */
export function clientSecrets(keys: PurposeKeys, versions: ClientSecretVersions = { clientSecret: 1, firstPartySecret: 1 }, { grace }: { grace?: SecretGrace } = {}) {
  const digestIn = (version: number, secret: string) => `hmac${version}$${keys.keyed('client_secret', version)('client_secret', secret)}`;
  const digest = (secret: string) => digestIn(versions.clientSecret, secret);
  const matches = (stored: string | undefined, presented: string): boolean => {
    const version = stored === undefined ? null : STORED.exec(stored)?.[1];
    return !!version && same(stored!, digestIn(Number(version), presented));
  };
  const firstParty = keys.keyed('first_party_secret', versions.firstPartySecret);
  return {
    /** What is stored for a given secret (for secrets derived rather than generated, like the portal's). */
    stored: digest,
    generate(): { secret: string; stored: string } {
      const secret = randomBytes(32).toString('base64url');
      return { secret, stored: digest(secret) };
    },
    /** The secret of one of Yihao's own clients: every instance derives the same one from `label` and the issuer. */
    firstPartySecret: (label: string, issuer: string) => firstParty(label, issuer),
    matches,
    /** The current secret, or an earlier one still in its grace period. */
    async accepts(clientId: string, stored: string | undefined, presented: string): Promise<boolean> {
      if (matches(stored, presented)) return true;
      if (!grace) return false;
      return (await grace.live(clientId)).some((d) => matches(d, presented));
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
