import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { ClientSettings } from './client-settings.js';

export const CLIENT_STATUSES = ['draft', 'active', 'suspended'] as const;
export type ClientStatus = (typeof CLIENT_STATUSES)[number];
export const CHANGE_STATUSES = ['draft', 'submitted', 'approved', 'rejected'] as const;
export type ChangeStatus = (typeof CHANGE_STATUSES)[number];

/** A managed client: the approved settings, status and owning department. */
export interface ClientRecord {
  clientId: string;
  departmentId: string;
  status: ClientStatus;
  /** What was last approved; undefined while the client has never been approved. */
  settings: ClientSettings | undefined;
  /** The name shown in lists: the approved one, or the first proposal's. */
  name: string;
  secretDigest: string | undefined;
  /** Goes up with every approved change, suspension and rotation; a change approved on an older one is stale. */
  version: number;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  /**
   * When (epoch ms) an approved change last let the client see more of the citizen ID number than
   * before: citizens' consents from before it cover less (src/oidc/citizen-id-consent.ts).
   */
  citizenIdConsentSince?: number | undefined;
}

export interface ClientChange {
  id: string;
  clientId: string;
  departmentId: string;
  kind: 'create' | 'update';
  status: ChangeStatus;
  proposed: ClientSettings;
  baseVersion: number;
  authorId: string;
  /**
   * Everyone who created, edited or submitted this change, in order of first part taken: none of
   * them may review it (four eyes).
   */
  participants: readonly string[];
  /** Goes up with every edit and submission; an approval names the revision its reviewer saw. */
  revision: number;
  submittedAt: number | undefined;
  reviewerId: string | undefined;
  reviewedAt: number | undefined;
  reviewNote: string | undefined;
  createdAt: number;
}

interface RecordRow {
  client_id: string;
  department_id: string;
  status: ClientStatus;
  name: string;
  settings: string;
  secret_digest: string | null;
  version: number;
  created_by: string;
  created_at: number;
  updated_at: number;
  citizen_id_consent_since?: number | string | null;
}

interface ChangeRow {
  id: string;
  client_id: string;
  department_id: string;
  kind: 'create' | 'update';
  status: ChangeStatus;
  proposed: string;
  base_version: number;
  author_id: string;
  participants: string | null;
  revision: number;
  submitted_at: number | null;
  reviewer_id: string | null;
  reviewed_at: number | null;
  review_note: string | null;
  created_at: number;
}

const toRecord = (r: RecordRow): ClientRecord => ({
  clientId: r.client_id,
  departmentId: r.department_id,
  status: r.status,
  settings: r.settings === 'null' ? undefined : (JSON.parse(r.settings) as ClientSettings),
  name: r.name,
  secretDigest: r.secret_digest ?? undefined,
  version: Number(r.version),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  citizenIdConsentSince: r.citizen_id_consent_since === null || r.citizen_id_consent_since === undefined ? undefined : Number(r.citizen_id_consent_since),
});

const toChange = (r: ChangeRow): ClientChange => ({
  id: r.id,
  clientId: r.client_id,
  departmentId: r.department_id,
  kind: r.kind,
  status: r.status,
  proposed: JSON.parse(r.proposed) as ClientSettings,
  baseVersion: Number(r.base_version),
  authorId: r.author_id,
  participants: r.participants ? (JSON.parse(r.participants) as string[]) : [r.author_id],
  revision: Number(r.revision),
  submittedAt: r.submitted_at === null ? undefined : Number(r.submitted_at),
  reviewerId: r.reviewer_id ?? undefined,
  reviewedAt: r.reviewed_at === null ? undefined : Number(r.reviewed_at),
  reviewNote: r.review_note ?? undefined,
  createdAt: Number(r.created_at),
});

export interface ListFilter {
  departmentIds: readonly string[];
  q?: string | undefined;
  status?: string | undefined;
  offset: number;
  limit: number;
}

/** The SQL side of the client registry; knows nothing of who may do what. */
export function clientStore(db: Database | Knex.Transaction): ClientStore {
  return {
    /** Runs `fn` with a store whose writes commit together, or not at all. */
    async transaction<T>(fn: (store: ClientStore, trx: Knex.Transaction) => Promise<T>): Promise<T> {
      if (db.isTransaction) return fn(clientStore(db), db as Knex.Transaction);
      return db.transaction((trx) => fn(clientStore(trx), trx));
    },
    async insert(r: ClientRecord): Promise<void> {
      await db('client_registrations').insert({
        client_id: r.clientId,
        department_id: r.departmentId,
        status: r.status,
        name: r.name,
        settings: JSON.stringify(r.settings ?? null),
        secret_digest: r.secretDigest ?? null,
        version: r.version,
        created_by: r.createdBy,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
        citizen_id_consent_since: r.citizenIdConsentSince ?? null,
      });
    },
    async find(clientId: string): Promise<ClientRecord | undefined> {
      const row = (await db('client_registrations').where({ client_id: clientId }).first()) as RecordRow | undefined;
      return row && toRecord(row);
    },
    /** Writes `next` only if the stored version is still `expectedVersion`; false when it moved on. */
    async update(next: ClientRecord, expectedVersion: number): Promise<boolean> {
      const n = await db('client_registrations').where({ client_id: next.clientId, version: expectedVersion }).update({
        status: next.status,
        name: next.name,
        settings: JSON.stringify(next.settings ?? null),
        secret_digest: next.secretDigest ?? null,
        version: next.version,
        updated_at: next.updatedAt,
        citizen_id_consent_since: next.citizenIdConsentSince ?? null,
      });
      return n === 1;
    },
    async list(f: ListFilter): Promise<{ items: ClientRecord[]; total: number }> {
      const base = () => {
        const q = db('client_registrations').whereIn('department_id', [...f.departmentIds]);
        if (f.q) q.where((w) => w.where('name', 'like', `%${f.q!.replace(/[\\%_]/g, '')}%`).orWhere('client_id', f.q!));
        if (f.status) q.where('status', f.status);
        return q;
      };
      const [count] = (await base().count({ n: '*' })) as { n: number | string }[];
      const rows = (await base().orderBy('created_at', 'desc').orderBy('client_id').offset(f.offset).limit(f.limit)) as RecordRow[];
      return { items: rows.map(toRecord), total: Number(count?.n ?? 0) };
    },
    async clientIdsIn(departmentIds: readonly string[]): Promise<string[]> {
      const rows = (await db('client_registrations').whereIn('department_id', [...departmentIds]).select('client_id')) as { client_id: string }[];
      return rows.map((r) => r.client_id);
    },

    async insertChange(c: ClientChange): Promise<void> {
      await db('client_changes').insert({
        id: c.id,
        client_id: c.clientId,
        department_id: c.departmentId,
        kind: c.kind,
        status: c.status,
        proposed: JSON.stringify(c.proposed),
        base_version: c.baseVersion,
        author_id: c.authorId,
        participants: JSON.stringify(c.participants),
        revision: c.revision,
        submitted_at: c.submittedAt ?? null,
        reviewer_id: c.reviewerId ?? null,
        reviewed_at: c.reviewedAt ?? null,
        review_note: c.reviewNote ?? null,
        created_at: c.createdAt,
      });
    },
    async findChange(id: string): Promise<ClientChange | undefined> {
      const row = (await db('client_changes').where({ id }).first()) as ChangeRow | undefined;
      return row && toChange(row);
    },
    /**
     * Moves a change on only from the status and revision it is expected to be at; false when
     * someone was first (so an approval never lands on content its reviewer did not see).
     */
    async updateChange(next: ClientChange, expected: { status: ChangeStatus; revision: number }): Promise<boolean> {
      const n = await db('client_changes').where({ id: next.id, status: expected.status, revision: expected.revision }).update({
        status: next.status,
        proposed: JSON.stringify(next.proposed),
        base_version: next.baseVersion,
        participants: JSON.stringify(next.participants),
        revision: next.revision,
        submitted_at: next.submittedAt ?? null,
        reviewer_id: next.reviewerId ?? null,
        reviewed_at: next.reviewedAt ?? null,
        review_note: next.reviewNote ?? null,
      });
      return n === 1;
    },
    async openChangeFor(clientId: string): Promise<ClientChange | undefined> {
      const row = (await db('client_changes').where({ client_id: clientId }).whereIn('status', ['draft', 'submitted']).first()) as ChangeRow | undefined;
      return row && toChange(row);
    },
    async listChanges(f: { departmentIds: readonly string[]; status?: string | undefined; clientId?: string | undefined; offset: number; limit: number }) {
      const base = () => {
        const q = db('client_changes').whereIn('department_id', [...f.departmentIds]);
        if (f.status) q.where('status', f.status);
        if (f.clientId) q.where('client_id', f.clientId);
        return q;
      };
      const [count] = (await base().count({ n: '*' })) as { n: number | string }[];
      const rows = (await base().orderBy('created_at', 'desc').orderBy('id').offset(f.offset).limit(f.limit)) as ChangeRow[];
      return { items: rows.map(toChange), total: Number(count?.n ?? 0) };
    },
  };
}
export interface ClientStore {
  transaction<T>(fn: (store: ClientStore, trx: Knex.Transaction) => Promise<T>): Promise<T>;
  insert(r: ClientRecord): Promise<void>;
  find(clientId: string): Promise<ClientRecord | undefined>;
  update(next: ClientRecord, expectedVersion: number): Promise<boolean>;
  list(f: ListFilter): Promise<{ items: ClientRecord[]; total: number }>;
  clientIdsIn(departmentIds: readonly string[]): Promise<string[]>;
  insertChange(c: ClientChange): Promise<void>;
  findChange(id: string): Promise<ClientChange | undefined>;
  updateChange(next: ClientChange, expected: { status: ChangeStatus; revision: number }): Promise<boolean>;
  openChangeFor(clientId: string): Promise<ClientChange | undefined>;
  listChanges(f: { departmentIds: readonly string[]; status?: string | undefined; clientId?: string | undefined; offset: number; limit: number }): Promise<{ items: ClientChange[]; total: number }>;
}
