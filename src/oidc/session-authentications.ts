import type { Adapter } from 'oidc-provider';
import type { Authentication } from '../accounts/index.js';

type AdapterClass = new (name: string) => Adapter;

/**
 * oidc-provider's Session keeps accountId, acr and amr but not the channel. We keep the whole
 * Authentication beside it, keyed by the session's stable uid, which codes, access tokens and
 * refresh tokens all carry; so `channel` reaches every token issued from that login.
 */
export function sessionAuthentications(Adapter: AdapterClass, ttlSeconds: number) {
  const adapter = new Adapter('SessionAuthentication');
  return {
    async save(sessionUid: string, auth: Authentication): Promise<void> {
      await adapter.upsert(sessionUid, { ...auth } as never, ttlSeconds);
    },
    async find(sessionUid: string): Promise<Authentication | undefined> {
      return (await adapter.find(sessionUid)) as Authentication | undefined;
    },
  };
}
export type SessionAuthentications = ReturnType<typeof sessionAuthentications>;
