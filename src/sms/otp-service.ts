import { randomInt, timingSafeEqual } from 'node:crypto';
import { normalisePhone } from '../accounts/phone.js';
import { YihaoError } from '../errors.js';
import type { Keyed } from '../identity/purpose-keys.js';
import { ipBucket } from '../http/ip-bucket.js';
import type { OtpStore, RollingLimit } from './otp-store.js';
import type { SmsLimits } from './sms-config.js';
import type { SmsSender } from './sms-sender.js';
import { maskPhone } from '../accounts/phone.js';
import { isSmsPurpose, OFFER_CODE_PURPOSE, smsCodeText, type SmsPurpose } from './sms-text.js';

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
   * send still counts against the throttles: it may have gone out). `proven`: the requester has
   * shown something of the account (signed in, or at an address where it signed in lately); codes
   * without it share `perNumberUnproven`, so strangers cannot use up the number's hour, and count
   * apart from proven ones under `perNumberAndPurpose`, so strangers cannot use up the purpose either.
   * `flow`: the flow the code is for (a reset's or registration's flow id, an interaction's uid);
   * the code then verifies in that flow only, and another flow's code for the same number and
   * purpose neither replaces it nor spends its attempts. Without it, one code per number and purpose.
   * `background`: answer once the code is stored and the throttles taken, and send meanwhile (a
   * failure goes to `onBackgroundFailure`, never to the caller). For a flow that answers alike with
   * or without an account (SMS sign-in, password reset): a decoy waits for no gateway, so a real
   * code must not either, or the answer's time and an outage's "SMS unavailable" would tell a
   * stranger that the number is registered.
   */
  issue(request: { phone: string; purpose: SmsPurpose; clientIp: string; proven?: boolean; flow?: string; background?: boolean }): Promise<IssueResult>;
  /**
   * Checks a code. 'ok' consumes it. Each call with a well-formed code counts as an attempt; after
   * `maxAttempts` the code is dead ('too_many_attempts'). 'expired' is only told apart from
   * 'invalid' for a code that exists; a wrong, used, replaced or unknown code is 'invalid'.
   */
  verify(request: { phone: string; purpose: SmsPurpose; code: string; flow?: string }): Promise<VerifyResult>;
  /**
   * `issue` for a number or identifier that has no account to send to: takes the same throttles
   * and keeps a code that nobody receives, so every answer a stranger can probe ("too soon", "too
   * many codes", attempts, expiry) comes as it would for a registered number. Sends nothing.
   * `target` is a mobile number (then it shares that number's throttles with real sends) or
   * another stable key for the identifier (a keyed hash of an ID number).
   */
  issueDecoy(request: { target: string; purpose: SmsPurpose; clientIp: string; flow?: string }): Promise<IssueResult>;
  /** Names the decoy of `target`, `purpose` (and `flow`) for `verifyDecoy`: a keyed hash, safe to keep in a flow record. */
  decoyTicket(target: string, purpose: SmsPurpose, flow?: string): string;
  /** `verify` against a decoy: never 'ok', otherwise the same answers, attempts and expiry as a real code. */
  verifyDecoy(request: { ticket: string; code: string }): Promise<Exclude<VerifyResult, 'ok'>>;
  /**
   * A slot for a credential offer's transaction code (checked when the offer is redeemed, not
   * here) to `phone`, taken before the offer is made, or the refusal. Counted under
   * `limits.offerCodes` only: per number (an hour, a day) and per staff member `by`, never against
   * the codes the citizen asks for. No limit per client address: a counter serves many citizens.
   * `send` throws the sender's `SmsDeliveryError` as `issue` does.
   */
  offerCodeSlot(request: { phone: string; by: string }): Promise<Refusal | { ok: true; send(text: string): Promise<void> }>;
}

export type Refusal = Extract<IssueResult, { ok: false }>;

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
  /** A send made in the background (`issue`'s `background`) failed: for the log (the number masked). */
  onBackgroundFailure?: (error: unknown, maskedPhone: string) => void;
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
 * Nothing identifying is stored: the code's slot is an HMAC of number and purpose (and of the flow
 * it was asked for in, when the caller names one), the code an
 * HMAC of number, purpose and code (so a code is useless for another number or purpose), and the
 * throttles count under HMACs of the number and of the client's IP bucket.
 */
export function createOtpService({ store, sender, keyed, limits, now = Date.now, random = randomInt, onBackgroundFailure = () => undefined }: OtpServiceOptions): OtpService {
  const blindIndex = keyed;
  // A flow id never holds '|' (base64url, a uid), so a bound slot never names an unbound one.
  const slotKey = (phone: string, purpose: SmsPurpose, flow?: string) => blindIndex('sms_code_slot', flow === undefined ? `${phone}|${purpose}` : `${phone}|${purpose}|${flow}`);
  const codeHash = (phone: string, purpose: SmsPurpose, code: string) => blindIndex('sms_code', `${phone}|${purpose}|${code}`);
  const throttleKey = (scope: string) => blindIndex('sms_throttle', scope);
  const validMinutes = Math.max(1, Math.round(limits.codeTtlSeconds / 60));
  const window = ({ max, windowSeconds }: { max: number; windowSeconds: number }): RollingLimit => ({ max, windowMs: windowSeconds * 1000 });

  /** Takes a slot in every throttle, or none: a refused request leaves no trace in the others. */
  async function takeAll(throttles: { key: string; limit: RollingLimit; reason: 'too_soon' | 'too_many_codes' }[], at: number): Promise<Refusal | undefined> {
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

  async function passThrottles(phone: string, purpose: SmsPurpose, clientIp: string, at: number, proven: boolean): Promise<Refusal | undefined> {
    const throttles: { key: string; limit: RollingLimit; reason: 'too_soon' | 'too_many_codes' }[] = [
      // Strangers' codes count apart: their requests for one purpose never use up the citizen's own.
      { key: throttleKey(proven ? `number|${phone}|${purpose}` : `unproven|${phone}|${purpose}`), limit: window(limits.perNumberAndPurpose), reason: 'too_many_codes' },
      ...(proven ? [] : [{ key: throttleKey(`unproven|${phone}`), limit: window(limits.perNumberUnproven), reason: 'too_many_codes' as const }]),
      proven
        ? { key: throttleKey(`day|${phone}`), limit: window(limits.perNumberDaily), reason: 'too_many_codes' }
        : { key: throttleKey(`unproven-day|${phone}`), limit: window(limits.perNumberUnprovenDaily), reason: 'too_many_codes' },
      { key: throttleKey(`number|${phone}`), limit: window(limits.perNumber), reason: 'too_many_codes' },
      { key: throttleKey(`ip|${ipBucket(clientIp)}`), limit: window(limits.perIp), reason: 'too_many_codes' },
    ];
    if (limits.resendIntervalSeconds > 0) {
      // First, so that a double click hears "wait a minute" rather than "too many".
      // Apart for strangers too: their request must not make the citizen wait for their own code.
      throttles.unshift({ key: throttleKey(`${proven ? 'resend' : 'unproven-resend'}|${phone}|${purpose}`), limit: { max: 1, windowMs: limits.resendIntervalSeconds * 1000 }, reason: 'too_soon' });
    }
    return takeAll(throttles, at);
  }

  /** Throttles, then a fresh code in the slot; `deliver` sends it (absent for a decoy). */
  async function put(phone: string, purpose: SmsPurpose, flow: string | undefined, clientIp: string, proven: boolean, deliver?: (code: string) => Promise<void>): Promise<IssueResult> {
    const at = now();
    const refused = await passThrottles(phone, purpose, clientIp, at, proven);
    if (refused) return refused;

    const code = String(random(CODE_SPACE)).padStart(6, '0');
    const expiresAt = at + limits.codeTtlSeconds * 1000;
    // Stored before sending: a citizen quick enough to type it before we return must find it.
    await store.putCode(slotKey(phone, purpose, flow), { codeHash: codeHash(phone, purpose, code), createdAt: at, expiresAt }, at);
    await deliver?.(code);
    return { ok: true, expiresAt, resendAfterSeconds: limits.resendIntervalSeconds };
  }

  /** An attempt at the code in slot `key`: 'claimed' when there is a live code to compare with. */
  async function attempt(key: string): Promise<Exclude<VerifyResult, 'ok'> | { claimed: string }> {
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
        return { claimed: claim.codeHash };
    }
  }

  async function check(phone: string | undefined, purpose: SmsPurpose, flow: string | undefined, rawCode: unknown): Promise<VerifyResult> {
    const code = typeof rawCode === 'string' ? normaliseCode(rawCode) : '';
    // Malformed input cannot be right, so it costs no attempt.
    if (!phone || !CODE_PATTERN.test(code)) return 'invalid';

    const key = slotKey(phone, purpose, flow);
    const claim = await attempt(key);
    if (typeof claim === 'string') return claim;
    const candidate = Buffer.from(codeHash(phone, purpose, code));
    const stored = Buffer.from(claim.claimed);
    if (candidate.length !== stored.length || !timingSafeEqual(candidate, stored)) return 'invalid';
    // Two right answers racing (or a new code issued meanwhile): only one consumes this code.
    return (await store.consume(key, claim.claimed, now())) ? 'ok' : 'invalid';
  }

  /** A decoy's key: the number itself (sharing its throttles with real sends), else the caller's stable key. */
  const decoyKey = (target: string) => normalisePhone(target) ?? `decoy|${target}`;

  return {
    async issue({ phone: rawPhone, purpose, clientIp, proven = false, flow, background = false }) {
      checkPurpose(purpose);
      const phone = normalisePhone(rawPhone);
      if (!phone) throw new YihaoError('invalid_input', 'not a mainland China mobile number');
      const send = (code: string) => sender.send({ to: phone, purpose, text: smsCodeText(purpose, code, validMinutes) });
      // In the background, the answer waits for nothing the gateway does: a decoy (which sends
      // nothing) answers alike in time, and alike while the gateway fails.
      return put(phone, purpose, flow, clientIp, proven, background && !sender.local ? async (code) => void send(code).catch((e: unknown) => onBackgroundFailure(e, maskPhone(phone))) : send);
    },

    async verify({ phone: rawPhone, purpose, code, flow }) {
      checkPurpose(purpose);
      return check(normalisePhone(rawPhone), purpose, flow, code);
    },

    async issueDecoy({ target, purpose, clientIp, flow }) {
      checkPurpose(purpose);
      // A number with no account is familiar nowhere: as a real one asked for by a stranger.
      return put(decoyKey(target), purpose, flow, clientIp, false);
    },

    decoyTicket(target, purpose, flow) {
      checkPurpose(purpose);
      return slotKey(decoyKey(target), purpose, flow);
    },

    async offerCodeSlot({ phone: rawPhone, by }) {
      const phone = normalisePhone(rawPhone);
      if (!phone) throw new YihaoError('invalid_input', 'not a mainland China mobile number');
      const offers = limits.offerCodes;
      // No resend interval: each offer has its own code, and a counter may hand a citizen a
      // certificate straight after their identity credential.
      const refused = await takeAll(
        [
          { key: throttleKey(`offer|${phone}`), limit: window(offers.perNumber), reason: 'too_many_codes' },
          { key: throttleKey(`offer-day|${phone}`), limit: window(offers.perNumberDaily), reason: 'too_many_codes' },
          { key: throttleKey(`offer-by|${by}`), limit: window(offers.perStaff), reason: 'too_many_codes' },
        ],
        now(),
      );
      if (refused) return refused;
      return { ok: true, send: (text) => sender.send({ to: phone, purpose: OFFER_CODE_PURPOSE, text }) };
    },

    async verifyDecoy({ ticket, code: rawCode }) {
      const code = typeof rawCode === 'string' ? normaliseCode(rawCode) : '';
      if (typeof ticket !== 'string' || !CODE_PATTERN.test(code)) return 'invalid';
      // The work of a real check, so that a stranger cannot time which one ran: the slot's keyed
      // name (the ticket is that name already), the attempt counted, and for a live code the
      // code's keyed hash. There is no code to compare with, so a live one is just wrong.
      slotKey(ticket, 'reset_password');
      const claim = await attempt(ticket);
      if (typeof claim !== 'string') codeHash(ticket, 'reset_password', code);
      return typeof claim === 'string' ? claim : 'invalid';
    },
  };
}
