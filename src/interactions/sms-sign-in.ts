import type { Account, Accounts } from '../accounts/index.js';
import type { Sealer } from '../identity/index.js';
import { SmsDeliveryError, type OtpService } from '../sms/index.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';

export type SmsSendResult =
  | { ok: true }
  | { ok: false; reason: 'too_soon' | 'too_many_codes'; retryAfterSeconds: number }
  | { ok: false; reason: 'sms_unavailable' };

export type SmsCheck =
  | { ok: true; account: Account }
  | { ok: false; reason: 'no_pending' }
  | { ok: false; reason: 'invalid' | 'expired' | 'too_many_attempts'; distributedLock?: { sub: string; until: Date } }
  | { ok: false; reason: 'throttled'; until: Date };

const MODEL = 'PendingSmsLogin';

/**
 * Sign-in with a mobile number and an SMS code (purpose `login`), inside one interaction. Knows
 * nothing about HTTP.
 *
 * The number between the two steps is kept server-side under the interaction uid (sealed, the
 * AAD naming the uid), for as long as a code lives; the page never carries it.
 *
 * No account enumeration: a number with no active account gets the same answer ("if this number
 * is registered, a code has been sent") but no SMS, and any code for it is simply "wrong", slowed
 * by the same lockout as a number with an account (src/accounts/lockout.ts). The resend throttles
 * and the code's attempt limit answer alike too: such a number gets a decoy code that nobody
 * receives (`OtpService.issueDecoy`), throttled and counted like a real one.
 */
export function createSmsSignIn({ accounts, otp, Adapter, sealer, codeTtlSeconds }: {
  accounts: Accounts;
  otp: OtpService;
  Adapter: AdapterConstructor;
  sealer: Sealer;
  codeTtlSeconds: number;
}) {
  const store = new Adapter(MODEL);
  const aad = (uid: string) => `sms_login_pending:${uid}`;
  async function pendingPhone(uid: string): Promise<string | undefined> {
    const payload = await store.find(uid);
    if (!payload || typeof payload.sealed !== 'string') return undefined;
    try {
      return sealer.open(payload.sealed, aad(uid));
    } catch {
      return undefined;
    }
  }

  return {
    pendingPhone,

    /** `phone` is E.164 (the form normalised it). Sends only when an active account holds the number. */
    async sendCode(uid: string, phone: string, clientIp: string): Promise<SmsSendResult> {
      const { subject, account: found } = await accounts.lockoutSubjectOfPhone(phone);
      const account = found?.status === 'active' ? found : undefined;
      // From where the account signed in lately: the citizen's own share of the number's hour, which
      // strangers asking for codes cannot use up. Looked up alike with or without an account.
      const proven = await accounts.lockout.isFamiliar(subject, clientIp);
      try {
        // A number with no active account takes the same throttles and gets a code nobody receives.
        // Bound to this interaction: another sign-in with the number neither replaces the code nor spends its tries.
        const issued = account
          ? await otp.issue({ phone, purpose: 'login', clientIp, proven, flow: uid, background: true })
          : await otp.issueDecoy({ target: phone, purpose: 'login', clientIp, flow: uid });
        if (!issued.ok) return issued;
      } catch (e) {
        if (e instanceof SmsDeliveryError) return { ok: false, reason: 'sms_unavailable' };
        throw e;
      }
      await store.upsert(uid, { sealed: sealer.seal(phone, aad(uid)) }, codeTtlSeconds);
      return { ok: true };
    },

    /**
     * Checks a code for the interaction's pending number, from client address `ip`. Each check
     * counts against the number's lockout subject, shared with the password; a number with no
     * active account counts and answers alike.
     */
    async verify(uid: string, code: string, ip: string): Promise<SmsCheck> {
      const phone = await pendingPhone(uid);
      if (!phone) return { ok: false, reason: 'no_pending' };
      const { subject, account } = await accounts.lockoutSubjectOfPhone(phone);
      const active = account?.status === 'active' ? account : undefined;
      const gate = await accounts.lockout.beginAttempt(subject, ip);
      if (gate.locked) return { ok: false, reason: 'throttled', until: gate.until };
      const result = active
        ? await otp.verify({ phone, purpose: 'login', code, flow: uid })
        : await otp.verifyDecoy({ ticket: otp.decoyTicket(phone, 'login', uid), code });
      if (result !== 'ok' || !active) {
        const after = gate.ifFailed;
        const reason = result === 'ok' ? 'invalid' : result;
        return after.locked && after.lockedNow && account ? { ok: false, reason, distributedLock: { sub: account.sub, until: after.until } } : { ok: false, reason };
      }
      await accounts.lockout.recordSuccess(subject, ip);
      await store.destroy(uid);
      return { ok: true, account: active };
    },

    /** Forgets the pending number ("use another number"). */
    forget: (uid: string) => store.destroy(uid),
  };
}
export type SmsSignIn = ReturnType<typeof createSmsSignIn>;
