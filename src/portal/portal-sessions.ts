import { randomBytes } from 'node:crypto';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';

/** A signed-in portal visit: who, and which Yihao session of this browser it rides on. */
export interface PortalSession {
  id: string;
  sub: string;
  sessionUid: string;
  /** Epoch seconds of the sign-in behind it. */
  authTime: number;
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
    async destroy(id: string): Promise<void> {
      await store.destroy(id);
    },
  };
}
export type PortalSessions = ReturnType<typeof portalSessions>;
