import { randomBytes } from 'node:crypto';
import { normalisePhone, type Accounts } from '../accounts/index.js';
import type { Logger } from 'pino';
import { appendAfterAnswer, type AuditEventInput, type AuditLog } from '../audit/index.js';
import { recordedOf, type SignOut } from '../oidc/sign-out.js';
import { SmsDeliveryError, type OtpService } from '../sms/index.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { revokeEvenWithoutRecord } from '../storage/revocation-hold.js';

export type ResetSendResult =
  | { ok: true }
  | { ok: false; reason: 'too_soon' | 'too_many_codes'; retryAfterSeconds: number }
  | { ok: false; reason: 'sms_unavailable' };

export type ResetResult = { ok: true } | { ok: false; reason: 'no_pending' | 'invalid' | 'expired' | 'too_many_attempts' };

interface Origin {
  ip: string;
  requestId: string;
}

const MODEL = 'PasswordResetPending';
const ID = /^[A-Za-z0-9_-]{32}$/;

/**
 * Password reset through a verified SMS code (purpose `reset_password`). Knows nothing about HTTP.
 *
 * The flow record (server-side, under a random flow id) names the account, or none: an unknown
 * identifier, an account that is not active and an account without a phone all get the same
 * "if ... a code has been sent" answer, no SMS, and "wrong code" at the second step.
 *
 * A correct code replaces the password, clears the failed-attempt count (a lock in force stays
 * until it ends or an operator lifts it), signs the account out everywhere (sessions, grants,
 * refresh tokens, back-channel logout) and is audited as `password.reset`.
 */
export function createPasswordResetService({ accounts, otp, audit, signOut, Adapter, logger, ttlSeconds }: {
  accounts: Accounts;
  otp: OtpService;
  audit: AuditLog;
  signOut: Pick<SignOut, 'everywhere'>;
  Adapter: AdapterConstructor;
  logger: Pick<Logger, 'error'>;
  ttlSeconds: number;
}) {
  const store = new Adapter(MODEL);
  /**
   * A request or a wrong code is recorded after the answer: a decoy flow records nothing, so an
   * answer that waited for the insert would take longer when the ID number has an account, for a
   * stranger to time.
   */
  const recordAfterAnswer = (e: AuditEventInput) => appendAfterAnswer(audit, logger, e);
  const isId = (value: unknown): value is string => typeof value === 'string' && ID.test(value);

  async function pending(flowId: string): Promise<{ accountId: string | null; decoy?: string } | undefined> {
    if (!isId(flowId)) return undefined;
    const payload = await store.find(flowId);
    if (!payload || !('accountId' in payload)) return undefined;
    return { accountId: typeof payload.accountId === 'string' ? payload.accountId : null, ...(typeof payload.decoy === 'string' ? { decoy: payload.decoy } : {}) };
  }

  return {
    newId: () => randomBytes(24).toString('base64url'),
    isId,
    /** Whether the flow is at its second step. */
    started: async (flowId: string) => (await pending(flowId)) !== undefined,

    /** Sends a code to the phone of the account that `identifier` (ID number or mobile number) names, if any. */
    async start(flowId: string, identifier: string, origin: Origin): Promise<ResetSendResult> {
      const { account, subject } = await accounts.lockoutSubjectOf(identifier);
      const target = account?.status === 'active' && account.phone ? account : undefined;
      // No one to send to: a decoy code, throttled and counted like a real one, under the number
      // itself (sharing its throttles with real sends) or a keyed hash of the identifier.
      const decoy = target ? undefined : (normalisePhone(identifier) ?? subject);
      // Asked for where the account signed in lately: the citizen's own share of the number's hour.
      // Looked up for every identifier alike, so the answer takes the same time with or without an account.
      const proven = await accounts.lockout.isFamiliar(subject, origin.ip);
      try {
        // Bound to this flow: a stranger's reset of the same account neither replaces this code nor spends its tries.
        const issued = target
          ? await otp.issue({ phone: target.phone!, purpose: 'reset_password', clientIp: origin.ip, proven, flow: flowId, background: true })
          : await otp.issueDecoy({ target: decoy!, purpose: 'reset_password', clientIp: origin.ip, flow: flowId });
        if (!issued.ok) return issued;
      } catch (e) {
        if (e instanceof SmsDeliveryError) return { ok: false, reason: 'sms_unavailable' };
        throw e;
      }
      if (target) recordAfterAnswer({ action: 'password.reset_requested', actorType: 'citizen', accountId: target.sub, channel: 'web', ...origin });
      await store.upsert(flowId, target ? { accountId: target.id } : { accountId: null, decoy: otp.decoyTicket(decoy!, 'reset_password', flowId) }, ttlSeconds);
      return { ok: true };
    },

    async complete(flowId: string, code: string, password: string, origin: Origin): Promise<ResetResult> {
      const flow = await pending(flowId);
      if (!flow) return { ok: false, reason: 'no_pending' };
      // Shed (503) before the code is spent: a full argon2 queue must not cost the citizen the code.
      // Before looking at the account, so that a decoy flow is shed alike.
      const place = accounts.reserveHashing();
      let account;
      try {
        // A decoy flow reads an account row as a real one does, so that its answer takes as long: by
        // the flow's own id, 32 characters where an account id is `a_` and 16, so it names none.
        account = await accounts.findById(flow.accountId ?? flowId);
        // No account to reset: the decoy code counts attempts and expires like a real one, and is never right.
        if (account?.status !== 'active' || !account.phone) return { ok: false, reason: flow.decoy ? await otp.verifyDecoy({ ticket: flow.decoy, code }) : 'invalid' };
        const result = await otp.verify({ phone: account.phone, purpose: 'reset_password', code, flow: flowId });
        if (result !== 'ok') {
          recordAfterAnswer({ action: 'password.reset_failed', actorType: 'citizen', accountId: account.sub, channel: 'web', details: { reason: result }, ...origin });
          return { ok: false, reason: result };
        }
        await store.destroy(flowId);
        const by = { actorType: 'citizen', actorId: account.sub, accountId: account.sub, channel: 'web', ...origin } as const;
        // The new password, its record and the end of every earlier login (`not_before`) land
        // together, or none does.
        const accountId = account.id;
        await accounts.replacePassword(account.id, password, place, {
          recovered: true,
          record: async (trx) => {
            await audit.append({ action: 'password.reset', ...by, details: { method: 'sms' } }, { trx });
            await accounts.notBeforeNow(accountId, trx);
          },
        });
      } finally {
        place.release();
      }
      // Proven by a code to the account's phone: a distributed lock on its password ends here too.
      await accounts.lockout.unlock(account.id);
      // Every session and grant the old password (or whoever held it) made ends, with its own record,
      // or without it when that fails: the code is spent, so no retry would come to end them.
      await revokeEvenWithoutRecord(
        () => signOut.everywhere(account.sub),
        (ended, trx) => audit.append({ action: 'session.ended', actorType: 'citizen', actorId: account.sub, accountId: account.sub, channel: 'web', details: { reason: 'password_reset', everywhere: true, ...recordedOf(ended) }, ...origin }, { trx }),
      );
      return { ok: true };
    },
  };
}
export type PasswordResetService = ReturnType<typeof createPasswordResetService>;
