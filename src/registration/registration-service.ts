import type { Logger } from 'pino';
import { maskPhone, type Account, type Accounts, type HashPlace } from '../accounts/index.js';
import type { AuditAction, AuditEventInput, AuditLog } from '../audit/index.js';
import { isYihaoError } from '../errors.js';
import { maskCitizenId, type CitizenId } from '../identity/index.js';
import { isRegistryUnavailable, normaliseName, type IdentityRegistry } from '../registry/index.js';
import { SmsDeliveryError, type OtpService } from '../sms/index.js';
import type { PendingRegistration, PendingRegistrations } from './pending-registrations.js';

/** Where a request came from, for throttles and the audit log. */
export interface RequestOrigin {
  readonly ip: string;
  readonly requestId?: string | undefined;
}

export type SendCodeResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'too_soon' | 'too_many_codes'; readonly retryAfterSeconds: number }
  /** The SMS gateway did not take the message. */
  | { readonly ok: false; readonly reason: 'sms_unavailable' }
  /** No pending registration for this flow (expired, finished, or never started). */
  | { readonly ok: false; readonly reason: 'no_pending' };

export type CompleteResult =
  | { readonly ok: true; readonly account: Account }
  | { readonly ok: false; readonly reason: 'no_pending' | 'invalid_code' | 'expired_code' | 'too_many_attempts' | 'registry_unavailable' | 'duplicate_citizen_id' }
  /** The flow is over; `entered` lets the first step's form be filled in again for a correction. */
  | { readonly ok: false; readonly reason: 'registry_mismatch' | 'phone_not_in_name' | 'duplicate_phone'; readonly entered: Entered };

/** What the citizen typed in step 1 (normalised), handed back only to the page that asked. */
export interface Entered {
  readonly citizenId: CitizenId;
  readonly name: string;
  readonly phone: string;
}

/** What the second step's page may show about a pending registration: masked, nothing more. */
export interface PendingView {
  readonly maskedPhone: string;
  readonly phoneVerified: boolean;
}

export interface RegistrationService {
  /** Step 1: sends the SMS code and remembers the details under `flowId`. */
  start(flowId: string, details: { citizenId: CitizenId; name: string; phone: string }, origin: RequestOrigin): Promise<SendCodeResult>;
  /** Sends a new code for the flow's phone. */
  resend(flowId: string, origin: RequestOrigin): Promise<SendCodeResult>;
  view(flowId: string): Promise<PendingView | undefined>;
  /** Step 2: proves the phone (unless already proven), checks the registry and creates the account. */
  complete(flowId: string, input: { code: string | undefined; password: string }, origin: RequestOrigin): Promise<CompleteResult>;
}

const PURPOSE = 'register';
/**
 * Registry outages one flow may retry through (phone already proven) before it must start over:
 * every retry is a registry request, and starting over costs a throttled SMS code.
 */
export const MAX_REGISTRY_FAILURES = 5;

/**
 * Self-registration with a real-name check.
 *
 * Order of checks in `complete`, and why:
 * 1. The SMS code. Nothing about the ID number is revealed, and the registry is not asked, until
 *    the citizen has proven they hold the phone. That makes every registry question (and every
 *    "already registered" answer) cost a code, which the per-number and per-IP throttles limit.
 * 2. The population registry. A mismatch or an unknown number ends the flow; a registry that
 *    cannot answer leaves the flow as it is (phone proven) so the citizen can simply retry later,
 *    up to `MAX_REGISTRY_FAILURES` times. With `phoneCheck` it is also asked whether the phone is
 *    registered in the citizen's name: the name and number alone are no secret, and without this
 *    a stranger who knows them registers the citizen with the stranger's phone, takes the number
 *    for good ("already registered") and receives its password resets.
 * 3. The duplicate ID number (and phone), told only now: whoever learns that an account exists
 *    holds the phone *and* knows a name that matches the number in the registry. Telling it is
 *    needed (the citizen must learn to sign in instead), and this is the narrowest place to tell it.
 *    The check is the accounts table's unique index inside the one insert, so a race between two
 *    registrations of the same person also ends in this answer.
 *
 * The account is created with assurance 'registry' and the registry's check time in one
 * transaction (account row + password credential), so a failure anywhere leaves no account.
 */
export function createRegistrationService({ accounts, registry, phoneCheck, otp, audit, pending, registryQuestions, logger }: {
  accounts: Accounts;
  registry: IdentityRegistry;
  phoneCheck: boolean;
  otp: OtpService;
  audit: AuditLog;
  pending: PendingRegistrations;
  /**
   * Spends one of a flow's `MAX_REGISTRY_FAILURES` registry questions (by a key naming the flow and
   * its start), atomically and on every instance; answers the seconds to wait when none is left. The count kept in the pending record
   * is read, added to and written back, so steps sent at once each saw room for one more (found by
   * a review: 20 parallel steps during an outage asked the registry 20 more times).
   */
  registryQuestions?: (flowId: string) => Promise<number | undefined>;
  logger?: Pick<Logger, 'warn' | 'error'>;
}): RegistrationService {
  /** Bound to the flow: someone else registering with the same number neither replaces the code nor spends its tries. */
  async function sendCode(flowId: string, phone: string, origin: RequestOrigin): Promise<SendCodeResult> {
    try {
      const issued = await otp.issue({ phone, purpose: PURPOSE, clientIp: origin.ip, flow: flowId });
      return issued.ok ? { ok: true } : { ok: false, reason: issued.reason, retryAfterSeconds: issued.retryAfterSeconds };
    } catch (e) {
      if (!(e instanceof SmsDeliveryError)) throw e;
      logger?.warn({ event: 'registration.sms_failed', requestId: origin.requestId, error: e.message }, 'registration code could not be sent');
      return { ok: false, reason: 'sms_unavailable' };
    }
  }

  /** Audit entries never carry the ID number, the name or the full phone number. */
  const eventOf = (action: AuditAction, origin: RequestOrigin, extra: { accountId?: string; details: Record<string, unknown> }): AuditEventInput => ({
    action,
    actorType: 'citizen',
    actorId: extra.accountId,
    accountId: extra.accountId,
    channel: 'web',
    ip: origin.ip,
    requestId: origin.requestId,
    details: extra.details,
  });

  /** A refusal's record: it changes nothing, so it is written on its own. */
  async function record(action: AuditAction, origin: RequestOrigin, extra: { accountId?: string; details: Record<string, unknown> }) {
    try {
      await audit.append(eventOf(action, origin, extra));
    } catch (err) {
      // The refusal stands; a lost audit line is an operational alarm, not the citizen's problem.
      logger?.error({ err, event: 'audit.append_failed', action, requestId: origin.requestId }, 'could not append to the audit log');
    }
  }

  async function refuse(flowId: string, reason: 'registry_mismatch' | 'phone_not_in_name' | 'duplicate_citizen_id' | 'duplicate_phone', origin: RequestOrigin, entered: Entered, detail?: string): Promise<CompleteResult> {
    await pending.remove(flowId);
    await record('registration.refused', origin, { details: { reason, ...(detail ? { registry_outcome: detail } : {}) } });
    const { citizenId, name, phone } = entered;
    return reason === 'duplicate_citizen_id' ? { ok: false, reason } : { ok: false, reason, entered: { citizenId, name, phone } };
  }

  async function proveCode(flowId: string, current: PendingRegistration, code: string | undefined): Promise<PendingRegistration | CompleteResult> {
    if (current.phoneVerified) return current;
    const verdict = await otp.verify({ phone: current.phone, purpose: PURPOSE, code: code ?? '', flow: flowId });
    switch (verdict) {
      case 'ok':
        return pending.update(flowId, { ...current, phoneVerified: true });
      case 'invalid':
        return { ok: false, reason: 'invalid_code' };
      case 'expired':
        return { ok: false, reason: 'expired_code' };
      case 'too_many_attempts':
        return { ok: false, reason: 'too_many_attempts' };
    }
  }

  /** The registration's last step, holding a place in the argon2 queue for the password. */
  async function completeWith(place: HashPlace, flowId: string, { code, password }: { code?: string | undefined; password: string }, origin: RequestOrigin): Promise<CompleteResult> {
    const found = await pending.find(flowId);
    if (!found) return { ok: false, reason: 'no_pending' };
    const proven = await proveCode(flowId, found, code);
    if ('ok' in proven) return proven;
    const { citizenId, name, phone } = proven;
    // Per start of the flow (each start is a new record, and must prove its phone again): a citizen
    // who corrects a phone not in their name starts again in the same browser, under the same flow
    // id, and must not find the budget spent (found by a second review).
    if (registryQuestions && (await registryQuestions(`${flowId}:${proven.expiresAt}`)) !== undefined) {
      // The flow asked all it may: over, as after the outages that would have spent them.
      await pending.remove(flowId);
      return { ok: false, reason: 'registry_unavailable' };
    }

    let result;
    try {
      result = await registry.verify({ citizenId, name, ...(phoneCheck ? { phone } : {}) });
    } catch (e) {
      if (!isRegistryUnavailable(e)) throw e;
      logger?.warn({ event: 'registration.registry_unavailable', requestId: origin.requestId, reason: e.reason, attempts: e.attempts }, e.message);
      const failures = proven.registryFailures + 1;
      if (failures >= MAX_REGISTRY_FAILURES) await pending.remove(flowId);
      else await pending.update(flowId, { ...proven, registryFailures: failures });
      return { ok: false, reason: 'registry_unavailable' };
    }
    if (result.outcome === 'phone_mismatch') return refuse(flowId, 'phone_not_in_name', origin, proven);
    if (result.outcome !== 'match') return refuse(flowId, 'registry_mismatch', origin, proven, result.outcome);

    let account: Account;
    try {
      const details = { assurance: 'registry', registry: result.source, checked_at: result.checkedAt.toISOString(), phone_in_name: phoneCheck };
      // In the account's transaction: no account lands without its record.
      account = await accounts.create({ citizenId, name, password, phone }, { assurance: 'registry', at: result.checkedAt.getTime() }, place, (created, trx) =>
        audit.append(eventOf('account.registered', origin, { accountId: created.sub, details }), { trx }),
      );
    } catch (e) {
      if (isYihaoError(e) && (e.code === 'duplicate_citizen_id' || e.code === 'duplicate_phone')) return refuse(flowId, e.code, origin, proven);
      throw e;
    }
    await pending.remove(flowId);
    return { ok: true, account };
  }
  return {
    async start(flowId, { citizenId, name, phone }, origin) {
      // The code goes out first: a throttled or failed send leaves an earlier pending step as it was.
      const sent = await sendCode(flowId, phone, origin);
      if (sent.ok) await pending.save(flowId, { citizenId, name: normaliseName(name), phone });
      return sent;
    },

    async resend(flowId, origin) {
      const current = await pending.find(flowId);
      if (!current) return { ok: false, reason: 'no_pending' };
      return sendCode(flowId, current.phone, origin);
    },

    async view(flowId) {
      const current = await pending.find(flowId);
      return current && { maskedPhone: maskPhone(current.phone), phoneVerified: current.phoneVerified };
    },

    async complete(flowId, args, origin) {
      // Shed (503) before the code is proven or the registry asked: a full argon2 queue must not spend either.
      const place = accounts.reserveHashing();
      try {
        return await completeWith(place, flowId, args, origin);
      } finally {
        place.release();
      }
    },
  };

}

/** The masked number for the success page. */
export const maskedCitizenIdOf = (account: Account): string => maskCitizenId(account.citizenId());
