import { randomInt, timingSafeEqual } from 'node:crypto';
import { normalisePhone } from '../accounts/phone.js';
import { YihaoError } from '../errors.js';
import type { Keyed } from '../identity/purpose-keys.js';
import { ipBucket } from './ip-bucket.js';
import type { OtpStore, RollingLimit } from './otp-store.js';
import type { SmsLimits } from './sms-config.js';
import type { SmsSender } from './sms-sender.js';
import { isSmsPurpose, smsCodeText, type SmsPurpose } from './sms-text.js';

export type IssueResult =
  | {
      readonly ok: true;
      /** Epoch milliseconds. */
      readonly expiresAt: number;
      /** When the page may offer "send again" (0 if there is no resend interval). */
      readonly resendAfterSeconds: number;
    }
  | { readonly ok: false; readonly reason: 'too_many_codes' | 'too_soon'; readonly retryAfterSeconds: number };

export type VerifyResult = 'ok' | 'invalid' | 'expired' | 'too_many_attempts';

export interface OtpService {
  /**
   * Sends a fresh code to `phone` for `purpose`, replacing the previous one, unless a throttle
   * says no. Throws `YihaoError('invalid_input')` for a number that is not a mainland mobile
   * number, and the sender's `SmsDeliveryError` if the message could not be handed over (the
   * send still counts against the throttles: it may have gone out).
   */
  issue(request: { phone: string; purpose: SmsPurpose; clientIp: string }): Promise<IssueResult>;
  /**
   * Checks a code. 'ok' consumes it. Each call with a well-formed code counts as an attempt; after
   * `maxAttempts` the code is dead ('too_many_attempts'). 'expired' is only told apart from
   * 'invalid' for a code that exists; a wrong, used, replaced or unknown code is 'invalid'.
   */
  verify(request: { phone: string; purpose: SmsPurpose; code: string }): Promise<VerifyResult>;
}

export interface OtpServiceOptions {
  store: OtpStore;
  sender: SmsSender;
  /** The keyed hash of the `sms` purpose (`PurposeKeys.keyed('sms', version)`). */
  keyed: Keyed;
  limits: SmsLimits;
  /** Epoch milliseconds; tests inject a clock. */
  now?: () => number;
  /** Uniform integer in [0, max); `crypto.randomInt` unless a test injects one. */
  random?: (max: number) => number;
}

const CODE_SPACE = 1_000_000;
const CODE_PATTERN = /^\d{6}$/;

function checkPurpose(purpose: unknown): asserts purpose is SmsPurpose {
  if (!isSmsPurpose(purpose)) throw new YihaoError('invalid_input', 'unknown SMS code purpose');
}

/** Digits as typed: full-width ones (from a Chinese IME) become ASCII, spaces go. */
const normaliseCode = (code: string): string => code.normalize('NFKC').replace(/\s+/g, '');

/**
 * SMS one-time codes: issue with throttles, verify with an attempt limit, single use.
 *
 * Nothing identifying is stored: the code's slot is an HMAC of number and purpose, the code an
 * HMAC of number, purpose and code (so a code is useless for another number or purpose), and the
 * throttles count under HMACs of the number and of the client's IP bucket.
 */
export function createOtpService({ store, sender, keyed, limits, now = Date.now, random = randomInt }: OtpServiceOptions): OtpService {
  const blindIndex = keyed;
  const slotKey = (phone: string, purpose: SmsPurpose) => blindIndex('sms_code_slot', `${phone}|${purpose}`);
  const codeHash = (phone: string, purpose: SmsPurpose, code: string) => blindIndex('sms_code', `${phone}|${purpose}|${code}`);
  const throttleKey = (scope: string) => blindIndex('sms_throttle', scope);
  const validMinutes = Math.max(1, Math.round(limits.codeTtlSeconds / 60));
  const window = ({ max, windowSeconds }: { max: number; windowSeconds: number }): RollingLimit => ({ max, windowMs: windowSeconds * 1000 });

  /** Takes a slot in every throttle, or none: a refused request leaves no trace in the others. */
  async function passThrottles(phone: string, purpose: SmsPurpose, clientIp: string, at: number): Promise<IssueResult | undefined> {
    const throttles: { key: string; limit: RollingLimit; reason: 'too_soon' | 'too_many_codes' }[] = [
      { key: throttleKey(`number|${phone}`), limit: window(limits.perNumber), reason: 'too_many_codes' },
      { key: throttleKey(`ip|${ipBucket(clientIp)}`), limit: window(limits.perIp), reason: 'too_many_codes' },
    ];
    if (limits.resendIntervalSeconds > 0) {
      // First, so that a double click hears "wait a minute" rather than "too many".
      throttles.unshift({ key: throttleKey(`resend|${phone}|${purpose}`), limit: { max: 1, windowMs: limits.resendIntervalSeconds * 1000 }, reason: 'too_soon' });
    }
    const taken: (() => Promise<void>)[] = [];
    for (const { key, limit, reason } of throttles) {
      const result = await store.take(key, limit, at);
      if (!result.ok) {
        // Giving slots back can only fail towards refusing more, never towards sending more.
        await Promise.allSettled(taken.map((release) => release()));
        return { ok: false, reason, retryAfterSeconds: Math.max(1, Math.ceil(result.retryAfterMs / 1000)) };
      }
      taken.push(result.release);
    }
    return undefined;
  }

  return {
    async issue({ phone: rawPhone, purpose, clientIp }) {
      checkPurpose(purpose);
      const phone = normalisePhone(rawPhone);
      if (!phone) throw new YihaoError('invalid_input', 'not a mainland China mobile number');
      const at = now();
      const refused = await passThrottles(phone, purpose, clientIp, at);
      if (refused) return refused;

      const code = String(random(CODE_SPACE)).padStart(6, '0');
      const expiresAt = at + limits.codeTtlSeconds * 1000;
      // Stored before sending: a citizen quick enough to type it before we return must find it.
      await store.putCode(slotKey(phone, purpose), { codeHash: codeHash(phone, purpose, code), createdAt: at, expiresAt }, at);
      await sender.send({ to: phone, purpose, text: smsCodeText(purpose, code, validMinutes) });
      return { ok: true, expiresAt, resendAfterSeconds: limits.resendIntervalSeconds };
    },

    async verify({ phone: rawPhone, purpose, code: rawCode }) {
      checkPurpose(purpose);
      const phone = normalisePhone(rawPhone);
      const code = typeof rawCode === 'string' ? normaliseCode(rawCode) : '';
      // Malformed input cannot be right, so it costs no attempt.
      if (!phone || !CODE_PATTERN.test(code)) return 'invalid';

      const key = slotKey(phone, purpose);
      const claim = await store.claimAttempt(key, now(), limits.maxAttempts);
      switch (claim.status) {
        case 'missing':
        case 'consumed':
          return 'invalid';
        case 'exhausted':
          return 'too_many_attempts';
        case 'expired':
          return 'expired';
        case 'claimed':
          break;
      }
      const candidate = Buffer.from(codeHash(phone, purpose, code));
      const stored = Buffer.from(claim.codeHash);
      if (candidate.length !== stored.length || !timingSafeEqual(candidate, stored)) return 'invalid';
      // Two right answers racing (or a new code issued meanwhile): only one consumes this code.
      return (await store.consume(key, claim.codeHash, now())) ? 'ok' : 'invalid';
    },
  };
}
