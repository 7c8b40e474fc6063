import { randomBytes, randomInt } from 'node:crypto';
import type { Knex } from 'knex';
import { uniqueViolation } from '../accounts/account-store.js';
import type { Database } from '../storage/database.js';
import { statements } from '../storage/statements.js';

/** `suspended` only in 2-bit lists (department certificates): Token Status List's value 2. */
export type CredentialStatus = 'valid' | 'revoked' | 'suspended';

interface IssuedRow {
  id: string;
  account_id: string;
  type: string;
  client_id: string;
  holder_jkt: string;
  status_list_id: string;
  status_index: number;
  status: CredentialStatus;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  /** The issuer key that signed it (null: issued before credentials named theirs). */
  kid?: string | null;
}

interface ListRow {
  id: string;
  bits: number;
  size: number;
  issued: number;
  created_at: number;
}

export interface IssuedCredential {
  id: string;
  accountId: string;
  type: string;
  clientId: string;
  holderJkt: string;
  statusListId: string;
  statusIndex: number;
  status: CredentialStatus;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | undefined;
}

export interface StatusListInfo {
  id: string;
  /** 1: valid or invalid (identity credentials); 2: also suspended (department certificates). */
  bits: 1 | 2;
  size: number;
}

/** An issued credential as the admin API and the CLI show it (times as ISO strings). */
export const credentialView = (c: IssuedCredential) => ({
  id: c.id,
  type: c.type,
  client_id: c.clientId,
  status: c.status,
  status_list: c.statusListId,
  status_index: c.statusIndex,
  issued_at: new Date(c.issuedAt).toISOString(),
  expires_at: new Date(c.expiresAt).toISOString(),
  revoked_at: c.revokedAt === undefined ? null : new Date(c.revokedAt).toISOString(),
});

const toCredential = (r: IssuedRow): IssuedCredential => ({
  id: r.id,
  accountId: r.account_id,
  type: r.type,
  clientId: r.client_id,
  holderJkt: r.holder_jkt,
  statusListId: r.status_list_id,
  statusIndex: Number(r.status_index),
  status: r.status,
  issuedAt: Number(r.issued_at),
  expiresAt: Number(r.expires_at),
  revokedAt: r.revoked_at === null ? undefined : Number(r.revoked_at),
});

/** The account a credential was about to be recorded for is no longer active (it was disabled meanwhile). */
export class AccountNotActive extends Error {
  constructor() {
    super('the account is not active');
    this.name = 'AccountNotActive';
  }
}

/** The certificate a wallet copy was about to be recorded for is no longer valid (revoked or suspended meanwhile). */
export class CertificateNotValid extends Error {
  constructor() {
    super('the certificate is no longer valid');
    this.name = 'CertificateNotValid';
  }
}

/** Attempts at a free random index before giving up: a list is closed half full, so each succeeds with odds of at least one half. */
const INDEX_ATTEMPTS = 24;

/**
 * Issued credentials and their status lists. An entry's index is drawn at random, not counted up,
 * so that neighbouring indices say nothing about who got a credential when (the herd privacy the
 * Token Status List draft asks for); a list is closed once half its entries are handed out, which
 * keeps a draw's odds of a free entry above one half. A list is not stored as bits: its bits are
 * the revoked rows, read when it is served, so that two revocations can never overwrite each other.
 */
export function credentialStore(db: Database, settings: { statusListSize: number }) {
  const sql = statements(db);

  /**
   * Inserts `row` only while its account is active, so that a request let in just before a disable
   * cannot leave a live credential behind. A disable updates the account row and then revokes its
   * credentials in one transaction (src/oidc/sign-out.ts). On PostgreSQL the account row is read
   * FOR SHARE: an insert waits for a disable in flight, then sees it; one that got in first is
   * committed before the disable's revocation reads. On SQLite both are immediate transactions.
   *
   * A certificate's wallet copy is held to its certificate the same way: inserted and linked only
   * while the certificate is valid, read FOR SHARE. Revoking or suspending a certificate updates
   * its row and then turns the copies linked to it (src/credentials/certificates.ts), so a copy
   * either is linked before they are collected, or sees the certificate changed and is refused;
   * a link made after the commit would name a copy that nothing revokes.
   */
  async function insertWhileActive(row: IssuedRow, certificateId: string | undefined): Promise<void> {
    const link = certificateId === undefined ? undefined : { credential_id: row.id, certificate_id: certificateId };
    if (sql.pg) {
      await db.transaction(async (trx) => {
        const account = (await trx('accounts').where({ id: row.account_id }).forShare().first('status')) as { status: string } | undefined;
        if (account?.status !== 'active') throw new AccountNotActive();
        if (link) {
          const certificate = (await trx('certificates').where({ id: link.certificate_id }).forShare().first('status')) as { status: string } | undefined;
          if (certificate?.status !== 'valid') throw new CertificateNotValid();
        }
        await trx('issued_credentials').insert(row);
        if (link) await trx('certificate_credentials').insert(link);
      });
      return;
    }
    const columns = Object.keys(row);
    const insert = `insert into issued_credentials (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`;
    await sql.onSqlite((statement, conn) =>
      conn
        .transaction(() => {
          const account = statement('select status from accounts where id = ?').get(row.account_id) as { status: string } | undefined;
          if (account?.status !== 'active') throw new AccountNotActive();
          if (link) {
            const certificate = statement('select status from certificates where id = ?').get(link.certificate_id) as { status: string } | undefined;
            if (certificate?.status !== 'valid') throw new CertificateNotValid();
          }
          statement(insert).run(...columns.map((c) => row[c as keyof IssuedRow]));
          if (link) statement('insert into certificate_credentials (credential_id, certificate_id) values (?, ?)').run(link.credential_id, link.certificate_id);
        })
        .immediate(),
    );
  }

  async function openList(now: number, bits: 1 | 2): Promise<ListRow> {
    const open = (await db<ListRow>('credential_status_lists')
      .whereRaw('issued * 2 < size')
      .where({ bits })
      .orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'asc' }])
      .first()) as ListRow | undefined;
    if (open) return open;
    // Instances racing here may each open one; both are served, and the newest fills first.
    const fresh: ListRow = { id: randomBytes(12).toString('base64url'), bits, size: settings.statusListSize, issued: 0, created_at: now };
    await db('credential_status_lists').insert(fresh);
    return fresh;
  }

  return {
    /**
     * Records a credential about to be issued, with a free entry in an open status list; throws
     * `AccountNotActive` once its account is disabled (or being disabled). `bits: 2` puts it in a
     * list that can also say "suspended". A certificate's copy names its `certificateId`: it is
     * linked to it in the same transaction, and refused with `CertificateNotValid` once the
     * certificate is revoked or suspended (or being so).
     */
    async record(c: { accountId: string; type: string; clientId: string; holderJkt: string; issuedAt: number; expiresAt: number; bits?: 1 | 2; certificateId?: string | undefined; kid?: string | undefined }): Promise<IssuedCredential> {
      const list = await openList(c.issuedAt, c.bits ?? 1);
      for (let attempt = 0; attempt < INDEX_ATTEMPTS; attempt++) {
        const row: IssuedRow = {
          id: randomBytes(16).toString('base64url'),
          account_id: c.accountId,
          type: c.type,
          client_id: c.clientId,
          holder_jkt: c.holderJkt,
          status_list_id: list.id,
          status_index: randomInt(Number(list.size)),
          status: 'valid',
          issued_at: c.issuedAt,
          expires_at: c.expiresAt,
          revoked_at: null,
          kid: c.kid ?? null,
        };
        try {
          await insertWhileActive(row, c.certificateId);
        } catch (e) {
          if (uniqueViolation(e)) continue;
          throw e;
        }
        // Only the fill level that closes the list; a lost increment closes it a little later.
        await db('credential_status_lists').where({ id: list.id }).increment('issued', 1);
        return toCredential(row);
      }
      throw new Error(`no free entry found in status list ${list.id}`);
    },

    async find(id: string): Promise<IssuedCredential | undefined> {
      const row = (await db<IssuedRow>('issued_credentials').where({ id }).first()) as IssuedRow | undefined;
      return row && toCredential(row);
    },

    /** The department certificate a credential is a wallet copy of; undefined for the identity credential. */
    async certificateOf(id: string): Promise<string | undefined> {
      const row = (await db('certificate_credentials').where({ credential_id: id }).first('certificate_id')) as { certificate_id: string } | undefined;
      return row?.certificate_id;
    },

    /** The credential that holds a status entry: each entry is one credential's (a unique index). */
    async findByStatusEntry(statusListId: string, statusIndex: number): Promise<IssuedCredential | undefined> {
      const row = (await db<IssuedRow>('issued_credentials').where({ status_list_id: statusListId, status_index: statusIndex }).first()) as IssuedRow | undefined;
      return row && toCredential(row);
    },

    async listByAccount(accountId: string): Promise<IssuedCredential[]> {
      const rows = (await db<IssuedRow>('issued_credentials').where({ account_id: accountId }).orderBy('issued_at', 'desc')) as IssuedRow[];
      return rows.map(toCredential);
    },

    /** Revokes a valid (or suspended) credential; false if it was neither (unknown or already revoked). */
    async revoke(id: string, at: number, trx: Knex.Transaction): Promise<boolean> {
      const n = await trx('issued_credentials').where({ id }).whereIn('status', ['valid', 'suspended']).update({ status: 'revoked', revoked_at: at });
      return n === 1;
    },

    /** Revokes every valid or suspended credential of an account (its account is disabled); the ones it revoked. */
    async revokeAllOf(accountId: string, at: number, trx: Knex.Transaction): Promise<{ id: string; type: string }[]> {
      const live = (await trx('issued_credentials').where({ account_id: accountId }).whereIn('status', ['valid', 'suspended']).select('id', 'type')) as { id: string; type: string }[];
      if (live.length === 0) return [];
      await trx('issued_credentials').whereIn('id', live.map((r) => r.id)).whereIn('status', ['valid', 'suspended']).update({ status: 'revoked', revoked_at: at });
      return live;
    },

    async statusList(id: string): Promise<StatusListInfo | undefined> {
      const row = (await db<ListRow>('credential_status_lists').where({ id }).first()) as ListRow | undefined;
      return row && { id: row.id, bits: Number(row.bits) === 2 ? 2 : 1, size: Number(row.size) };
    },

    /** A list's entries that are not valid, with their state. */
    async invalidEntries(listId: string): Promise<{ index: number; status: 'revoked' | 'suspended' }[]> {
      const rows = (await db('issued_credentials').where({ status_list_id: listId }).whereIn('status', ['revoked', 'suspended']).select('status_index', 'status')) as { status_index: number; status: 'revoked' | 'suspended' }[];
      return rows.map((r) => ({ index: Number(r.status_index), status: r.status }));
    },

    /** Moves credentials from one of `from` to `to` (suspend, resume, revoke a certificate's copies); how many moved. */
    async setStatus(ids: readonly string[], from: readonly CredentialStatus[], to: CredentialStatus, at: number, trx: Knex.Transaction): Promise<number> {
      if (ids.length === 0) return 0;
      return trx('issued_credentials').whereIn('id', [...ids]).whereIn('status', [...from]).update({ status: to, ...(to === 'revoked' ? { revoked_at: at } : {}) });
    },

    /** The indices of a list's revoked entries. */
    async revokedIndices(listId: string): Promise<number[]> {
      const rows = (await db('issued_credentials').where({ status_list_id: listId, status: 'revoked' }).select('status_index')) as { status_index: number }[];
      return rows.map((r) => Number(r.status_index));
    },

    /** Every status list's id (for the offline bundle). */
    async statusListIds(): Promise<string[]> {
      const rows = (await db('credential_status_lists').select('id').orderBy('created_at', 'asc')) as { id: string }[];
      return rows.map((r) => r.id);
    },
  };
}
export type CredentialStore = ReturnType<typeof credentialStore>;
