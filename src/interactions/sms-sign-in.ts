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
  | { ok: false; reason: 'no_pending' | 'invalid' | 'expired' | 'too_many_attempts' }
  | { ok: false; reason: 'locked'; sub: string; until: Date; lockedNow: boolean };

const MODEL = 'PendingSmsLogin';

/**
 * Sign-in with a mobile number and an SMS code (purpose `login`), inside one interaction. Knows
 * nothing about HTTP.
 *
 * The number between the two steps is kept server-side under the interaction uid (sealed, the
 * AAD naming the uid), for as long as a code lives; the page never carries it.
 *
 * No account enumeration: a number with no active account gets the same answer ("if this number
 * is registered, a code has been sent") but no SMS, and any code for it is simply "wrong". What
 * still tells the two apart: the resend throttles (they count real sends only) and the lock
 * message once an account's budget is spent, the same trade-off the password path makes.
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
  const activeAccount = async (phone: string) => {
    const account = await accounts.findByPhone(phone);
    return account?.status === 'active' ? account : undefined;
  };

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
      const account = await activeAccount(phone);
      if (account) {
        try {
          const issued = await otp.issue({ phone, purpose: 'login', clientIp });
          if (!issued.ok) return issued;
        } catch (e) {
          if (e instanceof SmsDeliveryError) return { ok: false, reason: 'sms_unavailable' };
          throw e;
        }
      }
      await store.upsert(uid, { sealed: sealer.seal(phone, aad(uid)) }, codeTtlSeconds);
      return { ok: true };
    },

    /**
     * Checks a code for the interaction's pending number. Each check of an active account counts
     * against its lockout budget, shared with every other login method.
     */
    async verify(uid: string, code: string): Promise<SmsCheck> {
      const phone = await pendingPhone(uid);
      if (!phone) return { ok: false, reason: 'no_pending' };
      const account = await activeAccount(phone);
      if (!account) return { ok: false, reason: 'invalid' };
      const locked = (s: { until: Date; lockedNow: boolean }) => ({ ok: false, reason: 'locked', sub: account.sub, until: s.until, lockedNow: s.lockedNow }) as const;
      const gate = await accounts.lockout.beginAttempt(account.id);
      if (gate.locked) return locked(gate);
      const result = await otp.verify({ phone, purpose: 'login', code });
      if (result !== 'ok') {
        const after = await accounts.lockout.recordFailure(account.id);
        return after.locked ? locked(after) : { ok: false, reason: result };
      }
      await accounts.lockout.recordSuccess(account.id);
      await store.destroy(uid);
      return { ok: true, account };
    },

    /** Forgets the pending number ("use another number"). */
    forget: (uid: string) => store.destroy(uid),
  };
}
export type SmsSignIn = ReturnType<typeof createSmsSignIn>;
