import type { AdapterConstructor } from '../storage/oidc-adapter.js';

/**
 * A login that has passed its first factor and now waits for the second. It is kept server-side,
 * under the uid of the interaction it belongs to, and lives no longer than that interaction: a
 * form field can never claim that the password was right.
 */
export interface PendingSecondFactor {
  /** The account's internal id. */
  accountId: string;
  sub: string;
  /**
   * `verify`: the account has TOTP. `enrol`: it sets TOTP up now. `prove_phone`: before that, the
   * citizen proves the account's mobile number with an SMS code, so a password alone cannot bind
   * an attacker's authenticator.
   */
  stage: 'verify' | 'enrol' | 'prove_phone';
  /** What the earlier factor proved (RFC 8176 values), e.g. `['pwd']`. */
  amr: string[];
  /** The earlier factor was proven before this interaction (a step-up of a signed-in session). */
  stepUp: boolean;
  /**
   * When the first factor was proven (epoch seconds). A sign-out everywhere after it (a password
   * reset, the portal's) ends this step too, as it ends every login: the account's `notBefore`.
   * Absent on records written before it was kept: such a record counts as proven long ago.
   */
  at?: number;
  /** For `enrol`: the new TOTP secret, sealed for this interaction. */
  sealedSecret?: string;
}

const MODEL = 'PendingSecondFactor';

/** In the short-lived OIDC store (the same adapter as oidc-provider's records; swept when expired). */
export function pendingSecondFactors(Adapter: AdapterConstructor) {
  const adapter = new Adapter(MODEL);
  return {
    async save(interactionUid: string, pending: PendingSecondFactor, ttlSeconds: number): Promise<void> {
      await adapter.upsert(interactionUid, { ...pending }, Math.max(1, Math.floor(ttlSeconds)));
    },
    async find(interactionUid: string): Promise<PendingSecondFactor | undefined> {
      return (await adapter.find(interactionUid)) as PendingSecondFactor | undefined;
    },
    async remove(interactionUid: string): Promise<void> {
      await adapter.destroy(interactionUid);
    },
  };
}
