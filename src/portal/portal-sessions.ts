import { randomBytes } from 'node:crypto';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';
import type { KeyLinkModel } from '../oidc/token-facts.js';

/** A signed-in portal visit: who, and which Yihao session of this browser it rides on. */
export interface PortalSession {
  id: string;
  sub: string;
  sessionUid: string;
  /** Epoch seconds of the sign-in behind it. */
  authTime: number;
  /** The level of that sign-in. */
  acr?: string | undefined;
  /** Its methods (RFC 8176): a first passkey needs one that used the password (lasting-credential-gate.ts). */
  amr?: string[] | undefined;
  /** That sign-in was a phone's approval of a QR code (phishable: the code can be relayed to the citizen). */
  approvedOnPhone?: boolean | undefined;
  /** The keys that made or approved that sign-in: a key bound in this session is filed under them (storage/account-index.ts). */
  keys?: { model: KeyLinkModel; id: string }[] | undefined;
  /** Epoch seconds at which the account's mobile number was last proven by an SMS code in this portal session. */
  phoneProvenAt?: number | undefined;
  createdAt: number;
}

/**
 * Server-side portal sessions. The browser holds only a random id (in a signed cookie); the record
 * lives in the shared store with a TTL, so every instance sees it and ending it takes effect at once.
 */
export function portalSessions(Adapter: AdapterConstructor, ttlSeconds: number) {
  const store = new Adapter('PortalSession');
  return {
    ttlSeconds,
    async create(s: Omit<PortalSession, 'id' | 'createdAt'>): Promise<PortalSession> {
      const session: PortalSession = { ...s, id: randomBytes(32).toString('base64url'), createdAt: Date.now() };
      const { id, ...payload } = session;
      await store.upsert(id, payload as AdapterPayload, ttlSeconds);
      return session;
    },
    async find(id: string): Promise<PortalSession | undefined> {
      const payload = (await store.find(id)) as Omit<PortalSession, 'id'> | undefined;
      return payload && typeof payload.sub === 'string' && typeof payload.sessionUid === 'string' ? { ...payload, id } : undefined;
    },
    /** Records that the mobile number was proven just now; the session keeps its remaining lifetime. */
    async markPhoneProven(session: PortalSession): Promise<void> {
      const { id, ...payload } = session;
      const left = Math.max(1, Math.floor(session.createdAt / 1000) + ttlSeconds - Math.floor(Date.now() / 1000));
      await store.upsert(id, { ...payload, phoneProvenAt: Math.floor(Date.now() / 1000) } as AdapterPayload, left);
    },
    async destroy(id: string): Promise<void> {
      await store.destroy(id);
    },
  };
}
export type PortalSessions = ReturnType<typeof portalSessions>;
