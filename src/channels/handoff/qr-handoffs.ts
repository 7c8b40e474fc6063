import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { AdapterConstructor } from '../../storage/oidc-adapter.js';
import { AlreadyConsumedError } from '../../storage/oidc-adapter.js';
import type { ApprovalRequest } from '../approvals/approval-store.js';
import type { Approvals } from '../approvals/approvals.js';
import type { DeviceKeys } from '../mobile/device-keys.js';

export const QR_KIND = 'qr';
const MODEL = 'QrHandoff';

/** A hand-off as its browser holds it: server-side, under the interaction uid. */
interface HandoffRecord {
  approvalId: string;
  ref: string;
  bindingCode: string;
  /** SHA-256 of the secret in the browser's cookie: the hand-off completes only in that browser. */
  browserHash: string;
  expiresAt: number;
}

export type HandoffState =
  | { state: 'none' }
  | { state: 'other_browser' }
  | { state: 'pending' | 'approved' | 'denied' | 'expired'; handoff: HandoffRecord; approval: ApprovalRequest | undefined };

const hash = (secret: string) => createHash('sha256').update(secret).digest();

/**
 * QR cross-device sign-in. A web login shows a QR code naming an approvals-inbox request (`ref`)
 * and a binding code; the citizen scans it with the government app, which ties the request to
 * their account and approves it with a device key; the browser that showed the code (and only it:
 * a secret in a cookie) then completes the login. A hand-off lives `ttlSeconds` (2 minutes) and
 * completes once, and only while the key that approved it is active: a key revoked between the
 * approval and the completion (a stolen phone, removed by the citizen) signs nobody in afterwards,
 * since its revocation ended only the logins made by then (oidc/sign-out.ts).
 */
export function qrHandoffs({ Adapter, approvals, deviceKeys, ttlSeconds }: { Adapter: AdapterConstructor; approvals: Approvals; deviceKeys: Pick<DeviceKeys, 'find'>; ttlSeconds: number }) {
  const store = new Adapter(MODEL);
  approvals.register({ kind: QR_KIND, channel: 'mobile', scannable: true });

  return {
    ttlSeconds,

    /** A fresh hand-off for the interaction (replacing any earlier one); `secret` goes into the browser's cookie. */
    async start(uid: string, client: { clientId: string; clientName: string }): Promise<{ handoff: HandoffRecord; secret: string }> {
      const ref = randomBytes(24).toString('base64url');
      const secret = randomBytes(32).toString('base64url');
      const bindingCode = String(randomInt(0, 10_000)).padStart(4, '0');
      const expiresAt = Date.now() + ttlSeconds * 1000;
      const request = await approvals.create({
        kind: QR_KIND,
        ref,
        clientId: client.clientId,
        display: { client_name: client.clientName, binding_code: bindingCode },
        expiresAt,
      });
      const handoff: HandoffRecord = { approvalId: request.id, ref, bindingCode, browserHash: hash(secret).toString('base64url'), expiresAt };
      // Kept a minute past expiry, so the page can say "expired" rather than "unknown".
      await store.upsert(uid, { ...handoff }, ttlSeconds + 60);
      return { handoff, secret };
    },

    /** Where the interaction's hand-off stands, as seen from the browser holding `secret`. */
    async state(uid: string, secret: string | undefined): Promise<HandoffState> {
      const handoff = (await store.find(uid)) as (HandoffRecord & { consumed?: number }) | undefined;
      if (!handoff || handoff.consumed) return { state: 'none' };
      const given = secret ? hash(secret) : Buffer.alloc(32);
      if (!timingSafeEqual(given, Buffer.from(handoff.browserHash, 'base64url'))) return { state: 'other_browser' };
      const approval = await approvals.store.find(handoff.approvalId);
      if (approval?.status === 'approved') {
        const keyId = approval.decision?.deviceKeyId;
        return { state: keyId && (await deviceKeys.find(keyId)) ? 'approved' : 'expired', handoff, approval };
      }
      if (approval?.status === 'denied') return { state: approval.status, handoff, approval };
      if (!approval || handoff.expiresAt <= Date.now()) return { state: 'expired', handoff, approval };
      return { state: 'pending', handoff, approval };
    },

    /** Uses the hand-off up: true for exactly one caller. */
    async finish(uid: string): Promise<boolean> {
      try {
        await store.consume(uid);
        return true;
      } catch (e) {
        if (e instanceof AlreadyConsumedError) return false;
        throw e;
      }
    },
  };
}
export type QrHandoffs = ReturnType<typeof qrHandoffs>;
