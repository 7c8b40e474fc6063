import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import type { Lockout, LockState } from '../accounts/index.js';
import type { Sealer } from '../identity/index.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { factorFailures } from './factor-failures.js';
import { mfaStore, type StrongCredentials } from './mfa-store.js';
import { pendingSecondFactors, type PendingSecondFactor } from './pending.js';
import { newRecoveryCodes, normaliseRecoveryCode } from './recovery-codes.js';
import { groupedSecret, newTotpSecret, qrCodeDataUrl, TOTP_CODE, totpStep, totpUri } from './totp.js';

export type SecondFactorMethod = 'totp' | 'recovery_code';

/** A guess refused for the account's lockout or its second-factor streak: the code was not even looked at. */
export type LockedCheck = { ok: false; reason: 'locked'; until: Date; lockedNow: boolean };

/** What a second-factor check tells the caller. */
export type SecondFactorCheck =
  /** `totpId`: the authenticator app (TOTP credential) the code came from, or whose recovery codes it was one of. */
  | { ok: true; method: SecondFactorMethod; totpId: string | undefined }
  | { ok: false; reason: 'invalid' | 'replayed' }
  | LockedCheck;

export interface SecondFactorsDeps {
  db: Database;
  sealer: Sealer;
  /**
   * The recovery-code key of each version, and the version new codes are made under: codes are
   * stored only as keyed HMACs, and a check tries every version up to the current one in one query,
   * so codes shown before a key switch keep working (docs/keys.md).
   */
  recoveryKeys: { version: number; keyed: (version: number) => (label: string, value: string) => string };
  /** The account's shared lockout: second-factor checks count against it (per client address) like passwords do. */
  lockout: Lockout;
  Adapter: AdapterConstructor;
  /** The issuer name authenticator apps show beside the code. */
  issuerName: string;
}

/**
 * Whether the account has a second factor: then only a sign-in at loa:2 (which, for such an
 * account, used one of them) may bind another loa:2 credential or remove one. A password or an
 * SMS code alone must not, or it could strip the factors and bind its own.
 */
export const hasSecondFactor = (strong: StrongCredentials): boolean => strong.totp || strong.passkey || strong.deviceKey;

export const totpPurpose = (credentialId: string) => `totp:${credentialId}`;
const enrolmentPurpose = (interactionUid: string) => `totp-enrolment:${interactionUid}`;

/**
 * TOTP (RFC 6238) and one-time recovery codes: enrolment, checks, and the pending step between the
 * first factor and the second. Knows nothing about HTTP.
 *
 * - The TOTP secret is a `credentials` row of type `totp`, sealed for `totp:<credential id>`.
 * - A code is accepted once: the credential keeps the last accepted time step, and a code must be
 *   for a later one (compare-and-set, so this holds across instances).
 * - Recovery codes (10 per enrolment, 60 random bits each) are stored as keyed HMACs bound to the
 *   account, and each works once in place of a TOTP code.
 * - Every check counts against the account's lockout, and against a second-factor streak that a
 *   correct password does not clear (see factor-failures.ts).
 */
export function createSecondFactors({ db, sealer, recoveryKeys, lockout, Adapter, issuerName }: SecondFactorsDeps) {
  const store = mfaStore(db);
  const failures = factorFailures(db, lockout.policy);
  const pending = pendingSecondFactors(Adapter);
  // Version 1 hashes are stored bare, as they always were; later ones name their version.
  const recoveryHashAt = (version: number, accountId: string, code: string) => {
    const hash = recoveryKeys.keyed(version)(`recovery_code:${accountId}`, code);
    return version === 1 ? hash : `r${version}$${hash}`;
  };
  const recoveryHash = (accountId: string, code: string) => recoveryHashAt(recoveryKeys.version, accountId, code);
  const recoveryHashesOfEveryVersion = (accountId: string, code: string) =>
    Array.from({ length: recoveryKeys.version }, (_, i) => recoveryHashAt(i + 1, accountId, code));

  type Outcome = { ok: true; totpId: string | undefined } | { ok: false; reason: 'invalid' | 'replayed' };

  async function checkTotp(accountId: string, code: string, now: number): Promise<Outcome> {
    const credential = await store.totpCredential(accountId);
    if (!credential) return { ok: false, reason: 'invalid' };
    const step = await totpStep(sealer.open(credential.secret, totpPurpose(credential.id)), code, now);
    if (step === undefined) return { ok: false, reason: 'invalid' };
    return (await store.advanceCounter(credential.id, step, now)) ? { ok: true, totpId: credential.id } : { ok: false, reason: 'replayed' };
  }

  /** A recovery code stands in for the authenticator app it was issued with: the login names that app. */
  async function checkRecoveryCode(accountId: string, code: string, now: number): Promise<Outcome> {
    const canonical = normaliseRecoveryCode(code);
    if (!canonical) return { ok: false, reason: 'invalid' };
    if (!(await store.useRecoveryCode(accountId, recoveryHashesOfEveryVersion(accountId, canonical), now))) return { ok: false, reason: 'invalid' };
    return { ok: true, totpId: (await store.totpCredential(accountId))?.id };
  }

  const lockedResult = (s: Extract<LockState, { locked: true }>): LockedCheck => ({ ok: false, reason: 'locked', until: s.until, lockedNow: s.lockedNow });

  /**
   * A guess at a second step, counted against the address (the account's lockout) and the account's
   * streak, which a correct password does not clear: someone who holds the password and signs in
   * again between guesses gets no fresh budget.
   */
  async function guarded<T extends { ok: boolean }>(accountId: string, ip: string, check: () => Promise<T>): Promise<T | LockedCheck> {
    const streak = await failures.state(accountId);
    if (streak.locked) return lockedResult(streak);
    const gate = await lockout.beginAttempt(accountId, ip);
    if (gate.locked) return lockedResult(gate);
    // Counted before the check: the state read above is only a shortcut, and parallel guesses
    // from many addresses all pass it before any of them has failed.
    const own = await failures.begin(accountId, Date.now());
    if ('refused' in own) return lockedResult(own.refused);
    const outcome = await check();
    if (outcome.ok) {
      await lockout.recordSuccess(accountId, ip);
      await failures.clear(accountId);
      return outcome;
    }
    // The streak's lock outlasts the address's wait: it is the one to tell.
    if (own.ifFailed.locked) return lockedResult(own.ifFailed);
    if (gate.ifFailed.locked) return lockedResult(gate.ifFailed);
    return outcome;
  }

  return {
    async hasTotp(accountId: string): Promise<boolean> {
      return (await store.totpCredential(accountId)) !== undefined;
    },

    /** TOTP, a passkey or the app's device key: with any of them, binding or removing a loa:2 credential needs a sign-in that used one (`hasSecondFactor`). */
    strongCredentials: (accountId: string): Promise<StrongCredentials> => store.strongCredentials(accountId),

    /** Records that `pending.accountId` passed its first factor in this interaction; an enrolment gets its new secret here. */
    async begin(interactionUid: string, next: Omit<PendingSecondFactor, 'sealedSecret'>, ttlSeconds: number): Promise<PendingSecondFactor> {
      const record: PendingSecondFactor = { ...next };
      if (next.stage === 'enrol') record.sealedSecret = sealer.seal(newTotpSecret(), enrolmentPurpose(interactionUid));
      await pending.save(interactionUid, record, ttlSeconds);
      return record;
    },
    pending: (interactionUid: string) => pending.find(interactionUid),
    /** Ends the pending step (done, or abandoned). */
    settle: (interactionUid: string) => pending.remove(interactionUid),

    /** What the enrolment page shows: a QR code (inline PNG) and the same secret as text. */
    async enrolmentDisplay(interactionUid: string, record: PendingSecondFactor, label: string): Promise<{ qrCode: string; secret: string }> {
      const secret = sealer.open(record.sealedSecret!, enrolmentPurpose(interactionUid));
      return { qrCode: await qrCodeDataUrl(totpUri(secret, { issuer: issuerName, label })), secret: groupedSecret(secret) };
    },

    /**
     * The citizen typed a code from the app: if it fits the new secret, the secret becomes the
     * account's TOTP credential (replacing any earlier one) with fresh recovery codes, which are
     * returned once and never again. A wrong code here does not count against the lockout: the
     * secret was made for this interaction and shown only to it, so there is nothing to guess.
     */
    /** `recordIn` writes the binding's audit event (given how many recovery codes it made) in the binding's transaction. */
    async confirmEnrolment(
      interactionUid: string,
      record: PendingSecondFactor,
      code: string,
      recordIn?: (recoveryCodes: number, trx: Knex.Transaction) => Promise<void>,
    ): Promise<{ ok: true; totpId: string; recoveryCodes: string[] } | { ok: false }> {
      if (record.stage !== 'enrol' || !record.sealedSecret) return { ok: false };
      const secret = sealer.open(record.sealedSecret, enrolmentPurpose(interactionUid));
      const now = Date.now();
      const step = await totpStep(secret, code, now);
      if (step === undefined) return { ok: false };
      const id = `c_${randomBytes(12).toString('base64url')}`;
      const recoveryCodes = newRecoveryCodes();
      await store.replaceTotp(
        { id, account_id: record.accountId, type: 'totp', secret: sealer.seal(secret, totpPurpose(id)), created_at: now, last_used_at: now, counter: step },
        recoveryCodes.map((c) => recoveryHash(record.accountId, normaliseRecoveryCode(c)!)),
        recordIn && ((trx) => recordIn(recoveryCodes.length, trx)),
      );
      await failures.clear(record.accountId);
      return { ok: true, totpId: id, recoveryCodes };
    },

    /** A TOTP code (6 digits) or a recovery code, for an account that passed its first factor. */
    async verify(accountId: string, code: string, ip: string): Promise<SecondFactorCheck> {
      const method: SecondFactorMethod = TOTP_CODE.test(code) ? 'totp' : 'recovery_code';
      const outcome = await guarded(accountId, ip, () => (method === 'totp' ? checkTotp(accountId, code, Date.now()) : checkRecoveryCode(accountId, code, Date.now())));
      return outcome.ok ? { ok: true, method, totpId: outcome.totpId } : outcome;
    },

    /**
     * The SMS code that proves the account's mobile number before an authenticator app is bound
     * (`check` looks at it), counted as a second-factor guess is: that proof is what keeps a password
     * alone from binding an attacker's app.
     */
    checkPhoneProof: <R extends string>(accountId: string, ip: string, check: () => Promise<R | 'ok'>) =>
      guarded(accountId, ip, async () => {
        const result = await check();
        return result === 'ok' ? { ok: true as const } : { ok: false as const, reason: result as Exclude<R, 'ok'> };
      }),

    unusedRecoveryCodes: (accountId: string) => store.unusedRecoveryCodes(accountId),

    /** For operators, beside `accounts.lockout.unlock`: forgets the second-factor failure streak. */
    unlock: (accountId: string) => failures.clear(accountId),
  };
}
export type SecondFactors = ReturnType<typeof createSecondFactors>;
