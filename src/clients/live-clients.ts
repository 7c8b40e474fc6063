import type Provider from 'oidc-provider';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';
import type { ClientStore } from './client-store.js';

/**
 * The oidc-provider Client store holds exactly the clients that may be used now. Publishing puts a
 * client's metadata there; unpublishing (suspension) removes it, so /auth, /token and every other
 * endpoint refuse the client as unknown until it is published again.
 */
export function liveClients({ Adapter, provider, recorded }: { Adapter: AdapterConstructor; provider: () => Provider; recorded: Pick<ClientStore, 'find'> }) {
  const store = new Adapter('Client');

  /**
   * The security profile a client was registered under, from its recorded settings: the provider's
   * store holds only live clients, and a suspended one is not there, so judging by it let a change
   * drafted during a suspension drop the profile. A client registered by the CLI before settings
   * were recorded has them only in its live metadata. Undefined while a client is being created
   * (new, or a draft never approved): its first settings choose the profile.
   */
  async function registeredProfile(clientId: string): Promise<{ profile: unknown } | undefined> {
    const record = await recorded.find(clientId);
    if (record?.settings) return { profile: record.settings.security_profile };
    const live = await store.find(clientId);
    return live ? { profile: live.security_profile } : undefined;
  }

  return {
    /** oidc-provider's own validation of the metadata; the problem in its words, or undefined. */
    async problem(metadata: Record<string, unknown>): Promise<string | undefined> {
      const registered = typeof metadata.client_id === 'string' ? await registeredProfile(metadata.client_id) : undefined;
      if (registered && registered.profile !== metadata.security_profile) {
        return registered.profile === undefined
          ? 'security_profile is set at creation only: this client was registered without one; register a new client under the profile'
          : `security_profile is set at creation only: this client is held to ${String(registered.profile)}, and a change must keep it`;
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
