import { ACR, type Account, type Authentication, type Channel } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { ChannelApiError } from '../../http/api-error.js';
import type { DeviceKey } from '../mobile/device-keys.js';
import type { DeviceKeyLogin } from '../../oidc/token-facts.js';
import type { ApprovalDisplay, ApprovalRequest, ApprovalStore } from './approval-store.js';

/**
 * One kind of request the phone can approve (a QR hand-off, a CIBA request; kiosk and counter
 * requests register theirs the same way). The approvals API lists, ties and decides requests; the
 * kind turns a decision into its effect, once, after the decision is recorded.
 */
export interface ApprovalKind {
  kind: string;
  /** The channel a login approved this way belongs to (`mobile` for a web QR hand-off, `counter` for CIBA). */
  channel: Channel;
  /** Requests of this kind are found by a code the phone scans (`POST /mobile/approvals/scan`). */
  scannable?: boolean;
  onDecision?(request: ApprovalRequest, outcome: { approved: boolean; account: Account; authentication?: Authentication }): Promise<void>;
}

/** How a request looks in the approvals API. */
export const approvalView = (r: ApprovalRequest) => ({
  id: r.id,
  kind: r.kind,
  client_id: r.clientId,
  ...r.display,
  status: r.status,
  created_at: Math.floor(r.createdAt / 1000),
  expires_at: Math.floor(r.expiresAt / 1000),
});

/** A new request; `accountId` may come later (`claim`). */
type NewRequest = { kind: string; ref: string; clientId: string; display: ApprovalDisplay; expiresAt: number };

/**
 * How many requests of one client may reach one account's phone without being approved: those still
 * live and undecided, and those denied or left to expire within PUSH_WINDOW_MS. Whoever can start a
 * request for a named citizen (a counter system that knows an ID number) reaches their phone, but
 * cannot bury it in requests until one is approved by mistake, nor wear the citizen down by sending
 * a new one for each they deny; an approval frees a place (a counter that asks again after the
 * citizen said yes).
 */
export const MAX_PENDING_PER_CLIENT = 3;

/**
 * How many unapproved requests of all clients together may reach one account's phone in the same
 * window: whoever runs several counter clients (a department's halls) gets no more pushes for each
 * one it adds. A citizen whose phone holds this many waits for the window before another counter
 * reaches it: bombing weighs more than a second hall asking within ten minutes.
 */
export const MAX_UNAPPROVED_PER_ACCOUNT = 6;

/** How long a denied or ignored request keeps its place (a CIBA request lives 10 minutes). */
export const PUSH_WINDOW_MS = 10 * 60_000;

export function createApprovals({ store, audit }: { store: ApprovalStore; audit: AuditLog }) {
  const kinds = new Map<string, ApprovalKind>();
  const notFound = () => new ChannelApiError(404, 'not_found', 'no such request for this account');

  /**
   * A new request in the inbox. One addressed to an account is refused (undefined) while that
   * account already holds MAX_PENDING_PER_CLIENT unapproved requests of the client, or
   * MAX_UNAPPROVED_PER_ACCOUNT of all clients (above); its caller answers as if it had been made
   * (nothing tells a stranger apart).
   */
  function create(input: NewRequest & { accountId: string }): Promise<ApprovalRequest | undefined>;
  function create(input: NewRequest & { accountId?: undefined }): Promise<ApprovalRequest>;
  async function create(input: NewRequest & { accountId?: string | undefined }): Promise<ApprovalRequest | undefined> {
    if (!kinds.has(input.kind)) throw new Error(`unknown approval kind ${input.kind}`);
    return store.create(input, input.accountId === undefined ? undefined : { perClient: MAX_PENDING_PER_CLIENT, perAccount: MAX_UNAPPROVED_PER_ACCOUNT, windowMs: PUSH_WINDOW_MS });
  }

  return {
    store,

    register(kind: ApprovalKind): void {
      if (kinds.has(kind.kind)) throw new Error(`approval kind ${kind.kind} is registered twice`);
      kinds.set(kind.kind, kind);
    },

    create,

    pendingFor: (account: Account) => store.pendingFor(account.id),

    /**
     * Ties an unclaimed request (found by its kind's reference, e.g. a scanned QR code) to the
     * account. Refused when it is expired, decided, or already tied to another account.
     */
    async claimByRef(kind: string, ref: string, account: Account): Promise<ApprovalRequest> {
      if (!kinds.get(kind)?.scannable) throw new ChannelApiError(400, 'invalid_request', `requests of kind ${kind} are not scanned`);
      const request = await store.findByRef(kind, ref);
      if (!request || request.expiresAt <= Date.now()) throw new ChannelApiError(410, 'expired', 'this code is unknown or has expired');
      if (request.status !== 'pending') throw new ChannelApiError(409, 'already_decided', 'this request was already decided');
      if (!(await store.claim(request.id, account.id))) throw new ChannelApiError(409, 'already_claimed', 'this code was already used on another phone');
      return { ...request, accountId: account.id };
    },

    /**
     * Approves or denies a request of the account with one of its device keys. Only the account the
     * request is tied to can decide it, and only once, while it lives.
     */
    async decide(id: string, account: Account, key: DeviceKey, approved: boolean, where: { ip: string; requestId?: string }): Promise<ApprovalRequest> {
      const request = await store.find(id);
      if (!request || request.accountId !== account.id) throw notFound();
      const kind = kinds.get(request.kind);
      if (!kind) throw notFound();
      if (request.status !== 'pending') throw new ChannelApiError(409, 'already_decided', 'this request was already decided');
      if (request.expiresAt <= Date.now()) throw new ChannelApiError(410, 'expired', 'this request has expired');
      // Marked as the key's approval: it never enrols a device key, and it ends when the key is revoked.
      const authentication: DeviceKeyLogin | undefined = approved
        ? { accountId: account.sub, channel: kind.channel, amr: [key.amr], acr: ACR.twoFactor, at: Math.floor(Date.now() / 1000), deviceKey: { id: key.id, use: 'approval' } }
        : undefined;
      // The decision lands with its record, or not at all.
      const won = await store.decide(id, account.id, approved ? 'approved' : 'denied', { deviceKeyId: key.id, ...(authentication ? { authentication } : {}) }, (trx) =>
        audit.append(
          {
            action: approved ? 'approval.approved' : 'approval.denied',
            actorType: 'citizen',
            actorId: account.sub,
            accountId: account.sub,
            clientId: request.clientId,
            channel: 'mobile',
            ip: where.ip,
            requestId: where.requestId,
            details: { kind: request.kind, approvalId: id, deviceKeyId: key.id },
          },
          { trx },
        ),
      );
      if (!won) throw new ChannelApiError(409, 'already_decided', 'this request was already decided');
      const decided = { ...request, status: approved ? 'approved' : 'denied', decision: { deviceKeyId: key.id, authentication } } as ApprovalRequest;
      await kind.onDecision?.(decided, { approved, account, ...(authentication ? { authentication } : {}) });
      return decided;
    },
  };
}
export type Approvals = ReturnType<typeof createApprovals>;
