import type Provider from 'oidc-provider';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';
import { isFapi2 } from './fapi2-profile.js';

/**
 * The oidc-provider Client store holds exactly the clients that may be used now. Publishing puts a
 * client's metadata there; unpublishing (suspension) removes it, so /auth, /token and every other
 * endpoint refuse the client as unknown until it is published again.
 */
export function liveClients({ Adapter, provider }: { Adapter: AdapterConstructor; provider: () => Provider }) {
  const store = new Adapter('Client');
  return {
    /** oidc-provider's own validation of the metadata; the problem in its words, or undefined. */
    async problem(metadata: Record<string, unknown>): Promise<string | undefined> {
      // Console settings cannot describe a FAPI 2.0 client (no keys, no profile): a change made
      // there would publish it without the profile, so it is refused instead.
      const live = typeof metadata.client_id === 'string' ? await store.find(metadata.client_id) : undefined;
      if (isFapi2(live as { security_profile?: unknown } | undefined) && !isFapi2(metadata)) {
        return 'this client is held to the FAPI 2.0 Security Profile, which console settings cannot express: a change here would take it out of the profile';
      }
      try {
        await provider().Client.validate(metadata as never);
        return undefined;
      } catch (e) {
        const err = e as { error?: string; error_description?: string };
        return err.error_description ?? err.error ?? 'invalid client metadata';
      }
    },
    /** The metadata the provider serves now; undefined for a client that is not live (suspended, or unknown). */
    async find(clientId: string): Promise<Record<string, unknown> | undefined> {
      return (await store.find(clientId)) as Record<string, unknown> | undefined;
    },
    async publish(clientId: string, metadata: Record<string, unknown>): Promise<void> {
      await store.upsert(clientId, metadata as AdapterPayload);
    },
    async unpublish(clientId: string): Promise<void> {
      await store.destroy(clientId);
    },
  };
}
export type LiveClients = ReturnType<typeof liveClients>;
