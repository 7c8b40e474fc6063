import { randomBytes } from 'node:crypto';
import { AlreadyConsumedError, type AdapterConstructor } from '../storage/oidc-adapter.js';

const MODEL = 'WebAuthnChallenge';

/** What a challenge was issued for: a ceremony kind and the thing it is bound to (an interaction, a portal session). */
export interface ChallengeBinding {
  purpose: 'register' | 'authenticate';
  boundTo: string;
}

/**
 * WebAuthn challenges, kept server-side in the short-lived store (Redis when there is one), each
 * under its own random value. A challenge is good for one ceremony of the kind and binding it was
 * issued for, once: `take` consumes it with a compare-and-set, so a response replayed to another
 * instance, or raced against itself, is refused.
 */
export function webauthnChallenges(Adapter: AdapterConstructor, ttlSeconds: number) {
  const store = new Adapter(MODEL);
  return {
    ttlSeconds,
    async issue(binding: ChallengeBinding): Promise<string> {
      const challenge = randomBytes(32).toString('base64url');
      await store.upsert(challenge, { ...binding }, ttlSeconds);
      return challenge;
    },

    /** True if `challenge` was issued for `binding` and had not been used; it is used up either way. */
    async take(challenge: string, binding: ChallengeBinding): Promise<boolean> {
      if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return false;
      const stored = await store.find(challenge);
      if (!stored || stored.consumed || stored.purpose !== binding.purpose || stored.boundTo !== binding.boundTo) return false;
      try {
        await store.consume(challenge);
      } catch (e) {
        if (e instanceof AlreadyConsumedError) return false;
        throw e;
      }
      return true;
    },
  };
}
export type WebAuthnChallenges = ReturnType<typeof webauthnChallenges>;
