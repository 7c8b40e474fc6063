import { randomBytes } from 'node:crypto';
import type { AdapterConstructor } from '../../storage/oidc-adapter.js';
import { AlreadyConsumedError } from '../../storage/oidc-adapter.js';

const MODEL = 'DeviceKeyChallenge';

/**
 * Single-use server challenges for device-key logins, in the shared short-lived store (Redis when
 * configured, else SQL), so a challenge issued by one instance is redeemed on any other. `take`
 * consumes atomically: of two redemptions of one challenge exactly one wins.
 */
export function deviceKeyChallenges(Adapter: AdapterConstructor, ttlSeconds: number) {
  const store = new Adapter(MODEL);
  return {
    ttlSeconds,
    async issue(): Promise<string> {
      const challenge = randomBytes(32).toString('base64url');
      await store.upsert(challenge, { issuedAt: Date.now() }, ttlSeconds);
      return challenge;
    },
    /** True once per live challenge; false for unknown, expired or used ones. */
    async take(challenge: string): Promise<boolean> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return false;
      try {
        await store.consume(challenge);
        return true;
      } catch (e) {
        if (e instanceof AlreadyConsumedError) return false;
        throw e;
      }
    },
  };
}
export type DeviceKeyChallenges = ReturnType<typeof deviceKeyChallenges>;
