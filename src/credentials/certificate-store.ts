import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { uniqueViolation } from '../accounts/account-store.js';
import type { Sealer } from '../identity/index.js';
import type { Database } from '../storage/database.js';
import type { ClaimSchema } from './certificate-types.js';

export type CertificateStatus = 'valid' | 'suspended' | 'revoked';
export type ClaimValues = Record<string, string | number | boolean>;

export interface CertificateType {
  id: string;
  departmentId: string;
  vct: string;
  names: { 'zh-CN': string; en: string };
  claims: ClaimSchema;
  validityDays: number;
  createdBy: string;
  createdAt: number;
}

export interface Certificate {
  id: string;
  typeId: string;
  departmentId: string;
  accountId: string;
  validFrom: number;
  validUntil: number;
  status: CertificateStatus;
  pushedBy: string;
  createdAt: number;
  revokedAt: number | undefined;
}

interface TypeRow {
  id: string;
  department_id: string;
  vct: string;
  name_zh: string;
  name_en: string;
  claims: string;
  validity_days: number;
  created_by: string;
  created_at: number;
}

interface CertificateRow {
  id: string;
  type_id: string;
  department_id: string;
  account_id: string;
  sealed_claims: string;
  valid_from: number;
  valid_until: number;
  status: CertificateStatus;
  pushed_by: string;
  idempotency_key: string | null;
  created_at: number;
  revoked_at: number | null;
}

const toType = (r: TypeRow): CertificateType => ({
  id: r.id,
  departmentId: r.department_id,
  vct: r.vct,
  names: { 'zh-CN': r.name_zh, en: r.name_en },
  claims: JSON.parse(r.claims) as ClaimSchema,
  validityDays: Number(r.validity_days),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
});

const toCertificate = (r: CertificateRow): Certificate => ({
  id: r.id,
  typeId: r.type_id,
  departmentId: r.department_id,
  accountId: r.account_id,
  validFrom: Number(r.valid_from),
  validUntil: Number(r.valid_until),
  status: r.status,
  pushedBy: r.pushed_by,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? undefined : Number(r.revoked_at),
});

/** The seal's associated data names the row, so sealed claims cannot be moved to another certificate. */
const claimsAad = (id: string) => `certificate:${id}:claims`;

/**
 * Certificate types, certificates and their wallet copies. A certificate's claims are sealed (they
 * are a citizen's data, often a licence number); the row names the account by internal id only.
 */
export function certificateStore(db: Database, sealer: Sealer) {
  return {
    /** Adds a type; false if its id or vct is taken. */
    async insertType(t: CertificateType, trx?: Knex.Transaction): Promise<boolean> {
      try {
        await (trx ?? db)('certificate_types').insert({
          id: t.id,
          department_id: t.departmentId,
          vct: t.vct,
          name_zh: t.names['zh-CN'],
          name_en: t.names.en,
          claims: JSON.stringify(t.claims),
          validity_days: t.validityDays,
          created_by: t.createdBy,
          created_at: t.createdAt,
        });
        return true;
      } catch (e) {
        if (uniqueViolation(e)) return false;
        throw e;
      }
    },

    async type(id: string): Promise<CertificateType | undefined> {
      const row = (await db<TypeRow>('certificate_types').where({ id }).first()) as TypeRow | undefined;
      return row && toType(row);
    },

    /** Types, of some departments or all. */
    async types(departmentIds?: readonly string[]): Promise<CertificateType[]> {
      const q = db<TypeRow>('certificate_types').orderBy('id');
      const rows = (await (departmentIds ? q.whereIn('department_id', [...departmentIds]) : q)) as TypeRow[];
      return rows.map(toType);
    },

    /** Records a pushed certificate; returns the one an earlier push with the same key made instead, if any. */
    async insert(
      c: Omit<Certificate, 'id' | 'status' | 'revokedAt'> & { claims: ClaimValues; idempotencyKey: string | undefined },
      trx: Knex.Transaction,
    ): Promise<{ certificate: Certificate; created: boolean }> {
      const id = randomBytes(16).toString('base64url');
      const row: CertificateRow = {
        id,
        type_id: c.typeId,
        department_id: c.departmentId,
        account_id: c.accountId,
        sealed_claims: sealer.seal(JSON.stringify(c.claims), claimsAad(id)),
        valid_from: c.validFrom,
        valid_until: c.validUntil,
        status: 'valid',
        pushed_by: c.pushedBy,
        idempotency_key: c.idempotencyKey ?? null,
        created_at: c.createdAt,
        revoked_at: null,
      };
      await trx('certificates').insert(row);
      return { certificate: toCertificate(row), created: true };
    },

    async byIdempotencyKey(pushedBy: string, key: string): Promise<Certificate | undefined> {
      const row = (await db<CertificateRow>('certificates').where({ pushed_by: pushedBy, idempotency_key: key }).first()) as CertificateRow | undefined;
      return row && toCertificate(row);
    },

    async find(id: string): Promise<Certificate | undefined> {
      const row = (await db<CertificateRow>('certificates').where({ id }).first()) as CertificateRow | undefined;
      return row && toCertificate(row);
    },

    async claims(c: Pick<Certificate, 'id'>): Promise<ClaimValues> {
      const row = (await db<CertificateRow>('certificates').where({ id: c.id }).select('sealed_claims').first()) as Pick<CertificateRow, 'sealed_claims'> | undefined;
      if (!row) throw new Error(`no certificate ${c.id}`);
      return JSON.parse(sealer.open(row.sealed_claims, claimsAad(c.id))) as ClaimValues;
    },

    async listByDepartment(departmentIds: readonly string[], page: { offset: number; limit: number; typeId?: string | undefined }): Promise<{ items: Certificate[]; total: number }> {
      const base = () => {
        const q = db<CertificateRow>('certificates').whereIn('department_id', [...departmentIds]);
        return page.typeId ? q.where({ type_id: page.typeId }) : q;
      };
      const [rows, count] = await Promise.all([
        base().orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }]).offset(page.offset).limit(page.limit),
        base().count({ n: '*' }).first(),
      ]);
      return { items: (rows as CertificateRow[]).map(toCertificate), total: Number((count as { n: number | string } | undefined)?.n ?? 0) };
    },

    async listByAccount(accountId: string): Promise<Certificate[]> {
      const rows = (await db<CertificateRow>('certificates').where({ account_id: accountId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }])) as CertificateRow[];
      return rows.map(toCertificate);
    },

    /** The citizen's certificate of a type that a wallet gets now: the newest valid one in its validity. */
    async current(accountId: string, typeId: string, now: number): Promise<Certificate | undefined> {
      const row = (await db<CertificateRow>('certificates')
        .where({ account_id: accountId, type_id: typeId, status: 'valid' })
        .where('valid_from', '<=', now)
        .where('valid_until', '>', now)
        .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }])
        .first()) as CertificateRow | undefined;
      return row && toCertificate(row);
    },

    async linkCredential(certificateId: string, credentialId: string): Promise<void> {
      await db('certificate_credentials').insert({ credential_id: credentialId, certificate_id: certificateId });
    },

    async credentialIds(certificateId: string, trx?: Knex.Transaction): Promise<string[]> {
      const rows = (await (trx ?? db)('certificate_credentials').where({ certificate_id: certificateId }).select('credential_id')) as { credential_id: string }[];
      return rows.map((r) => r.credential_id);
    },

    /** Revokes a valid or suspended certificate; false if it was neither. */
    async revoke(id: string, at: number, trx: Knex.Transaction): Promise<boolean> {
      return (await trx('certificates').where({ id }).whereIn('status', ['valid', 'suspended']).update({ status: 'revoked', revoked_at: at })) === 1;
    },

    /** Suspends a valid certificate, or resumes a suspended one; false if it was not in the `from` state. */
    async setSuspended(id: string, suspended: boolean, trx: Knex.Transaction): Promise<boolean> {
      const [from, to] = suspended ? ['valid', 'suspended'] : ['suspended', 'valid'];
      return (await trx('certificates').where({ id, status: from }).update({ status: to })) === 1;
    },
  };
}
export type CertificateStore = ReturnType<typeof certificateStore>;
