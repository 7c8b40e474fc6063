import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';

/**
 * Which certificate a credential offer's tokens are for. The pre-authorized code grant records it
 * under the grant it issued, for as long as the access token lives; the credential endpoint reads it
 * for a token of that grant and issues exactly that certificate. An offer names one certificate, so
 * a citizen holding several of one type gets the one they chose, not the newest.
 */
export function offerBindings(Adapter: AdapterConstructor) {
  const bindings = new Adapter('CredentialOfferBinding');
  return {
    async save(grantId: string, certificateId: string, ttlSeconds: number): Promise<void> {
      await bindings.upsert(grantId, { certificateId } as unknown as AdapterPayload, ttlSeconds);
    },
    async certificateOf(grantId: string): Promise<string | undefined> {
      const found = (await bindings.find(grantId)) as { certificateId?: unknown } | undefined;
      return typeof found?.certificateId === 'string' ? found.certificateId : undefined;
    },
  };
}
export type OfferBindings = ReturnType<typeof offerBindings>;
