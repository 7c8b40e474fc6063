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
  /** The current version: 1 at creation, one more at each change. */
  version: number;
  updatedAt: number | undefined;
  /** Once retired: no new pushes; issued certificates stay valid until revoked. */
  retiredAt: number | undefined;
  /**
   * When a second national super-admin approved it (or it was defined with the server's own
   * authority, or before approvals existed); until then it takes no push and is announced nowhere.
   */
  approvedAt: number | undefined;
  /** Who approved it: an operator's `sub`, `cli`, or undefined for a type older than approvals. */
  approvedBy: string | undefined;
  /**
   * A change to a type in force waits as this version until a second national super-admin approves
   * it; meanwhile the version above stays in force. Undefined when none waits.
   */
  pendingVersion: number | undefined;
}

/** A type in force: approved. A pending one is known only to the admin API. */
export const approvedType = (t: CertificateType): boolean => t.approvedAt !== undefined;

/**
 * One version of a type's names, claim schema and default validity; `approvedAt` when it went in
 * force (undefined for one pending, or replaced before it was approved).
 */
export type CertificateTypeVersion = Pick<CertificateType, 'names' | 'claims' | 'validityDays' | 'createdBy' | 'createdAt' | 'version' | 'approvedAt' | 'approvedBy'>;

export interface Certificate {
  id: string;
  typeId: string;
  departmentId: string;
  accountId: string;
  /** The type's version whose schema its claims were checked against at push. */
  typeVersion: number;
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
  version: number;
  updated_at: number | null;
  retired_at: number | null;
  approved_at: number | null;
  approved_by: string | null;
  pending_version: number | null;
}

interface VersionRow {
  type_id: string;
  version: number;
  name_zh: string;
  name_en: string;
  claims: string;
  validity_days: number;
  created_by: string;
  created_at: number;
  approved_at: number | null;
  approved_by: string | null;
}

interface CertificateRow {
  id: string;
  type_id: string;
  department_id: string;
  account_id: string;
  type_version: number;
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
  version: Number(r.version),
  updatedAt: r.updated_at === null ? undefined : Number(r.updated_at),
  retiredAt: r.retired_at === null ? undefined : Number(r.retired_at),
  approvedAt: r.approved_at === null ? undefined : Number(r.approved_at),
  approvedBy: r.approved_by ?? undefined,
  pendingVersion: r.pending_version === null ? undefined : Number(r.pending_version),
});

const toVersion = (r: VersionRow): CertificateTypeVersion => ({
  version: Number(r.version),
  names: { 'zh-CN': r.name_zh, en: r.name_en },
  claims: JSON.parse(r.claims) as ClaimSchema,
  validityDays: Number(r.validity_days),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  approvedAt: r.approved_at === null ? undefined : Number(r.approved_at),
  approvedBy: r.approved_by ?? undefined,
});

const versionRow = (typeId: string, v: CertificateTypeVersion): VersionRow => ({
  type_id: typeId,
  version: v.version,
  name_zh: v.names['zh-CN'],
  name_en: v.names.en,
  claims: JSON.stringify(v.claims),
  validity_days: v.validityDays,
  created_by: v.createdBy,
  created_at: v.createdAt,
  approved_at: v.approvedAt ?? null,
  approved_by: v.approvedBy ?? null,
});

const toCertificate = (r: CertificateRow): Certificate => ({
  id: r.id,
  typeId: r.type_id,
  departmentId: r.department_id,
  accountId: r.account_id,
  typeVersion: Number(r.type_version),
  validFrom: Number(r.valid_from),
  validUntil: Number(r.valid_until),
  status: r.status,
  pushedBy: r.pushed_by,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? undefined : Number(r.revoked_at),
});

/** The type's row if it is still as `from` saw it: the same version in force and pending, not retired. */
function asSeen(trx: Knex.Transaction, id: string, from: Pick<CertificateType, 'version' | 'pendingVersion'>) {
  const q = trx('certificate_types').where({ id, version: from.version }).whereNull('retired_at');
  return from.pendingVersion === undefined ? q.whereNull('pending_version') : q.where({ pending_version: from.pendingVersion });
}

/** The seal's associated data names the row, so sealed claims cannot be moved to another certificate. */
export const certificateClaimsPurpose = (id: string) => `certificate:${id}:claims`;
const claimsAad = certificateClaimsPurpose;

/**
 * Certificate types, certificates and their wallet copies. A certificate's claims are sealed (they
 * are a citizen's data, often a licence number); the row names the account by internal id only.
 */
export function certificateStore(db: Database, sealer: Sealer) {
  return {
    /** Adds a type (version 1, recorded among its versions too); false if its id or vct is taken. */
    async insertType(t: Omit<CertificateType, 'version' | 'updatedAt' | 'retiredAt' | 'pendingVersion'>, trx?: Knex.Transaction): Promise<boolean> {
      if (!trx) return db.transaction((own) => this.insertType(t, own));
      try {
        await trx('certificate_types').insert({
          id: t.id,
          department_id: t.departmentId,
          vct: t.vct,
          name_zh: t.names['zh-CN'],
          name_en: t.names.en,
          claims: JSON.stringify(t.claims),
          validity_days: t.validityDays,
          created_by: t.createdBy,
          created_at: t.createdAt,
          version: 1,
          approved_at: t.approvedAt ?? null,
          approved_by: t.approvedBy ?? null,
        });
        await trx('certificate_type_versions').insert(versionRow(t.id, { ...t, version: 1 }));
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

    /**
     * Makes `next` the type's version in force, if the type is still as `from` saw it (the version in
     * force and the pending one) and not retired: false otherwise (another change came first, or it
     * was retired meanwhile). A version pending is dropped: this one replaces it.
     */
    async updateType(id: string, next: CertificateTypeVersion, from: Pick<CertificateType, 'version' | 'pendingVersion'>, trx: Knex.Transaction): Promise<boolean> {
      const changed = await asSeen(trx, id, from).update({ version: next.version, pending_version: null, name_zh: next.names['zh-CN'], name_en: next.names.en, claims: JSON.stringify(next.claims), validity_days: next.validityDays, updated_at: next.createdAt });
      if (changed !== 1) return false;
      await trx('certificate_type_versions').insert(versionRow(id, next));
      return true;
    },

    /** Records `next` as the type's pending version beside the one in force; false as updateType. */
    async proposeVersion(id: string, next: CertificateTypeVersion, from: Pick<CertificateType, 'version' | 'pendingVersion'>, trx: Knex.Transaction): Promise<boolean> {
      if ((await asSeen(trx, id, from).update({ pending_version: next.version })) !== 1) return false;
      await trx('certificate_type_versions').insert(versionRow(id, { ...next, approvedAt: undefined, approvedBy: undefined }));
      return true;
    },

    /** Puts a pending type in force at `version`; false if it is approved or retired already, or has moved on from that version. */
    async approveType(id: string, version: number, by: string, at: number, trx: Knex.Transaction): Promise<boolean> {
      if ((await trx('certificate_types').where({ id, version }).whereNull('approved_at').whereNull('retired_at').update({ approved_at: at, approved_by: by, updated_at: at })) !== 1) return false;
      await trx('certificate_type_versions').where({ type_id: id, version }).update({ approved_at: at, approved_by: by });
      return true;
    },

    /**
     * Puts a type's pending version `v` in force in place of version `inForce`; false if the type
     * moved on meanwhile (another version pending, in force, or retired).
     */
    async approveVersion(id: string, v: CertificateTypeVersion, inForce: number, by: string, at: number, trx: Knex.Transaction): Promise<boolean> {
      const changed = await asSeen(trx, id, { version: inForce, pendingVersion: v.version })
        .whereNotNull('approved_at')
        .update({ version: v.version, pending_version: null, name_zh: v.names['zh-CN'], name_en: v.names.en, claims: JSON.stringify(v.claims), validity_days: v.validityDays, updated_at: at });
      if (changed !== 1) return false;
      return (await trx('certificate_type_versions').where({ type_id: id, version: v.version }).whereNull('approved_at').update({ approved_at: at, approved_by: by })) === 1;
    },

    /** Retires a type; false if it was retired already. */
    async retireType(id: string, at: number, trx: Knex.Transaction): Promise<boolean> {
      return (await trx('certificate_types').where({ id }).whereNull('retired_at').update({ retired_at: at, updated_at: at, pending_version: null })) === 1;
    },

    /** Every version of a type, oldest first. */
    async typeVersions(id: string): Promise<CertificateTypeVersion[]> {
      const rows = (await db<VersionRow>('certificate_type_versions').where({ type_id: id }).orderBy('version')) as VersionRow[];
      return rows.map(toVersion);
    },

    async typeVersion(id: string, version: number): Promise<CertificateTypeVersion | undefined> {
      const row = (await db<VersionRow>('certificate_type_versions').where({ type_id: id, version }).first()) as VersionRow | undefined;
      return row && toVersion(row);
    },

    /** Every version of every type, by type id (for the issuer metadata and the offline bundle). */
    async allTypeVersions(): Promise<Map<string, CertificateTypeVersion[]>> {
      const rows = (await db<VersionRow>('certificate_type_versions').orderBy([{ column: 'type_id' }, { column: 'version' }])) as VersionRow[];
      const byType = new Map<string, CertificateTypeVersion[]>();
      for (const r of rows) byType.set(r.type_id, [...(byType.get(r.type_id) ?? []), toVersion(r)]);
      return byType;
    },

    /** Types, of some departments or all. */
    async types(departmentIds?: readonly string[]): Promise<CertificateType[]> {
      const q = db<TypeRow>('certificate_types').orderBy('id');
      const rows = (await (departmentIds ? q.whereIn('department_id', [...departmentIds]) : q)) as TypeRow[];
      return rows.map(toType);
    },

    /** Records a pushed certificate; returns the one an earlier push with the same key made instead, if any. */
    async insert(
      c: Omit<Certificate, 'id' | 'status' | 'revokedAt' | 'typeVersion'> & { typeVersion?: number; claims: ClaimValues; idempotencyKey: string | undefined },
      trx: Knex.Transaction,
    ): Promise<{ certificate: Certificate; created: boolean }> {
      const id = randomBytes(16).toString('base64url');
      const row: CertificateRow = {
        id,
        type_id: c.typeId,
        department_id: c.departmentId,
        account_id: c.accountId,
        type_version: c.typeVersion ?? 1,
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

    async listByDepartment(
      departmentIds: readonly string[],
      page: { offset: number; limit: number; typeId?: string | undefined; status?: CertificateStatus | undefined },
    ): Promise<{ items: Certificate[]; total: number }> {
      const base = () => {
        const q = db<CertificateRow>('certificates').whereIn('department_id', [...departmentIds]);
        if (page.typeId) q.where({ type_id: page.typeId });
        if (page.status) q.where({ status: page.status });
        return q;
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

    /**
     * The citizen's certificate of a type that a wallet gets now: the one named (an offer names
     * one), else the newest; valid and within its validity either way.
     */
    async current(accountId: string, typeId: string, now: number, certificateId?: string): Promise<Certificate | undefined> {
      const row = (await db<CertificateRow>('certificates')
        .where({ account_id: accountId, type_id: typeId, status: 'valid', ...(certificateId ? { id: certificateId } : {}) })
        .where('valid_from', '<=', now)
        .where('valid_until', '>', now)
        .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }])
        .first()) as CertificateRow | undefined;
      return row && toCertificate(row);
    },

    /** The certificate's wallet copies, linked as each is recorded (CredentialStore.record). */
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
