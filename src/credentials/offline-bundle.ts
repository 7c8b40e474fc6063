import type { CredentialIssuerMetadata } from '@openid4vc/openid4vci';
import { z } from 'zod';
import type { CredentialStore } from './credential-store.js';
import type { CertificateType } from './certificate-store.js';
import { storedClaimSchema, type ClaimSchema } from './certificate-types.js';
import type { IssuerSigner } from './issuer-signer.js';
import type { IssuerTrust, StatusListSource } from './presentation-check.js';
import type { StatusLists } from './status-lists.js';

export const BUNDLE_FORMAT = 'yihao-credential-bundle/1';

/**
 * What a counter without a network needs to check a credential (docs/credentials.md): the issuer
 * metadata, the issuer's public keys and every status list, signed, with when it was taken and how
 * long the issuer meant it to be used before a fresh fetch (`ttl`).
 */
export const offlineBundleSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  created_at: z.string(),
  issuer: z.string().url(),
  credential_issuer_metadata: z.record(z.string(), z.unknown()),
  jwt_vc_issuer: z.object({
    issuer: z.string().url(),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }),
  }),
  status_lists: z.array(z.object({ uri: z.string().url(), jwt: z.string().min(1), fetched_at: z.string(), ttl: z.number().int().nonnegative() })),
  /** Department certificate types: each `vct` with its current claim schema (which holds every earlier version's claims). */
  certificate_types: z.array(z.object({ vct: z.string().url(), claims: storedClaimSchema })).optional(),
});
export type OfflineBundle = z.infer<typeof offlineBundleSchema>;

export async function exportBundle(
  deps: { issuer: string; metadata: CredentialIssuerMetadata; certificateTypes: readonly CertificateType[]; signer: IssuerSigner; store: CredentialStore; statusLists: StatusLists; ttlSeconds: number },
  now = Date.now(),
): Promise<OfflineBundle> {
  const lists: OfflineBundle['status_lists'] = [];
  for (const id of await deps.store.statusListIds()) {
    const jwt = await deps.statusLists.render(id, now);
    if (jwt) lists.push({ uri: deps.statusLists.uri(id), jwt, fetched_at: new Date(now).toISOString(), ttl: deps.ttlSeconds });
  }
  const jwks = await deps.signer.publicJwks();
  return {
    format: BUNDLE_FORMAT,
    created_at: new Date(now).toISOString(),
    issuer: deps.issuer,
    credential_issuer_metadata: deps.metadata as unknown as Record<string, unknown>,
    jwt_vc_issuer: { issuer: deps.issuer, jwks: jwks as OfflineBundle['jwt_vc_issuer']['jwks'] },
    status_lists: lists,
    certificate_types: deps.certificateTypes.map((t) => ({ vct: t.vct, claims: t.claims })),
  };
}

/** The trust and the status lists a bundle holds, for checkPresentation. */
export function bundleTrust(bundle: OfflineBundle): { trust: IssuerTrust; statusLists: StatusListSource } {
  const lists = new Map(bundle.status_lists.map((l) => [l.uri, l.jwt]));
  return {
    trust: {
      issuer: bundle.jwt_vc_issuer.issuer,
      jwks: bundle.jwt_vc_issuer.jwks as IssuerTrust['jwks'],
      certificateTypes: new Map((bundle.certificate_types ?? []).map((t) => [t.vct, t.claims as ClaimSchema])),
    },
    statusLists: async (uri) => lists.get(uri),
  };
}
