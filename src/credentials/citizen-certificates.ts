import type { Sealer } from '../identity/index.js';
import type { Database } from '../storage/database.js';
import { certificateStore } from './certificate-store.js';
import { configurationIdOf } from './certificate-types.js';

/** A certificate as the citizen sees it in the portal: never its claims, which the wallet shows. */
export interface CertificateSummary {
  id: string;
  /** Its OID4VCI configuration: what a wallet asks for (and what a credential offer would name). */
  configurationId: string;
  names: { 'zh-CN': string; en: string };
  department: string;
  validFrom: number;
  validUntil: number;
  status: 'valid' | 'suspended' | 'revoked' | 'expired' | 'pending';
}

/** The citizen's own certificates, newest first, for the portal's certificates page. */
export function citizenCertificates(db: Database, sealer: Sealer) {
  const store = certificateStore(db, sealer);
  return {
    async list(accountId: string, now = Date.now()): Promise<CertificateSummary[]> {
      const certificates = await store.listByAccount(accountId);
      if (certificates.length === 0) return [];
      const types = new Map((await store.types()).map((t) => [t.id, t]));
      const departments = new Map(
        ((await db('departments').whereIn('id', [...new Set(certificates.map((c) => c.departmentId))]).select('id', 'name')) as { id: string; name: string }[]).map((d) => [d.id, d.name]),
      );
      return certificates.map((c) => ({
        id: c.id,
        configurationId: configurationIdOf(c.typeId),
        names: types.get(c.typeId)?.names ?? { 'zh-CN': c.typeId, en: c.typeId },
        department: departments.get(c.departmentId) ?? '',
        validFrom: c.validFrom,
        validUntil: c.validUntil,
        status: c.status !== 'valid' ? c.status : c.validUntil <= now ? 'expired' : c.validFrom > now ? 'pending' : 'valid',
      }));
    },
  };
}
export type CitizenCertificates = ReturnType<typeof citizenCertificates>;
