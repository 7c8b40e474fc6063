import { isYihaoError } from '../errors.js';
import type { CertificateStore } from './certificate-store.js';
import type { CredentialStore } from './credential-store.js';
import { IDENTITY_VCT } from './identity-credential.js';
import type { CitizenRevoker, CredentialRevocation } from './revocation.js';

/**
 * A credential issued to one of the citizen's wallets, as the portal's wallet page shows it: what it
 * is, when and to which app and wallet key it went, and whether it is still good. Never a claim:
 * Yihao keeps none (credential-store.ts).
 */
export interface WalletCredentialSummary {
  id: string;
  /** The identity credential, or a department certificate's copy (its type's names). */
  kind: 'identity' | 'certificate';
  names: { 'zh-CN': string; en: string } | undefined;
  clientId: string;
  /** The wallet key's JWK thumbprint (RFC 7638): the key the credential is bound to, as the app can show it. */
  holderJkt: string;
  issuedAt: number;
  expiresAt: number;
  status: 'valid' | 'suspended' | 'revoked' | 'expired';
}

/** The credentials in the citizen's own wallets, for the portal: listed, and revoked one at a time. */
export function citizenCredentials(deps: { store: Pick<CredentialStore, 'listByAccount'>; certificates: Pick<CertificateStore, 'types'>; revocation: Pick<CredentialRevocation, 'revokeOwn'> }) {
  return {
    /** Newest first. */
    async list(accountId: string, now = Date.now()): Promise<WalletCredentialSummary[]> {
      const issued = await deps.store.listByAccount(accountId);
      if (issued.length === 0) return [];
      const types = issued.some((c) => c.type !== IDENTITY_VCT) ? new Map((await deps.certificates.types()).map((t) => [t.vct, t.names])) : new Map<string, { 'zh-CN': string; en: string }>();
      return issued.map((c) => ({
        id: c.id,
        kind: c.type === IDENTITY_VCT ? 'identity' : 'certificate',
        names: c.type === IDENTITY_VCT ? undefined : types.get(c.type),
        clientId: c.clientId,
        holderJkt: c.holderJkt,
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
        status: c.status === 'valid' && c.expiresAt <= now ? 'expired' : c.status,
      }));
    },

    /** Revokes one of the account's own credentials (audited as `vc.revoked` by the citizen); false if there is none such left to revoke. */
    async revoke(accountId: string, id: string, by: CitizenRevoker): Promise<boolean> {
      try {
        await deps.revocation.revokeOwn(accountId, id, by);
        return true;
      } catch (e) {
        if (isYihaoError(e) && e.code === 'not_found') return false;
        throw e;
      }
    },
  };
}
export type CitizenCredentials = ReturnType<typeof citizenCredentials>;
