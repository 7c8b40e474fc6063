import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { uniqueViolation, type AccountRow } from '../accounts/account-store.js';
import { normalisePhone } from '../accounts/index.js';
import type { CitizenId, CitizenIdVault } from '../identity/index.js';
import type { Database } from '../storage/database.js';

interface LinkRow {
  upstream_issuer: string;
  upstream_sub: string;
  upstream_name: string;
  account_id: string;
  citizen_index: string;
  created_at: number;
  last_used_at: number;
}

/** What the upstream asserted about the citizen, after the ID token was validated. */
export interface Assertion {
  upstream: string;
  issuer: string;
  sub: string;
  citizenId: CitizenId;
  /** Used only when a new account is created. */
  name: string | undefined;
  /** Likewise; only a number the upstream says it verified. */
  phone: string | undefined;
}

export type LinkRefusal =
  /** This upstream identity is linked already, and to a different citizen ID. */
  | 'citizen_id_conflict'
  /** The account has another identity at this upstream. */
  | 'account_already_linked'
  /** The account is locked or disabled. */
  | 'account_inactive'
  /** A new account needs a name, and the upstream sent none. */
  | 'name_missing';

export type LinkResult =
  | { ok: true; account: { id: string; sub: string }; how: 'returning' | 'linked' | 'created' }
  | { ok: false; reason: LinkRefusal; accountSub?: string };

const newId = (prefix: string) => `${prefix}${randomBytes(12).toString('base64url')}`;

/**
 * Links upstream identities to accounts through the citizen ID's blind index. Each decision and
 * its writes happen in one transaction: a sign-in either links (or creates) completely or leaves
 * nothing behind.
 */
export function createLinkedIdentities(db: Database, vault: CitizenIdVault) {
  async function attempt(trx: Knex.Transaction, a: Assertion): Promise<LinkResult> {
    const now = Date.now();
    const index = vault.index(a.citizenId);
    // During a re-index, rows may still carry the older version of the index.
    const indexes = vault.lookupIndexes(a.citizenId);
    /** This upstream identity is linked already: the same account, if the same citizen ID. */
    const returning = async (link: LinkRow): Promise<LinkResult> => {
      const account = await trx<AccountRow>('accounts').where({ id: link.account_id }).first();
      if (!indexes.includes(link.citizen_index)) return { ok: false, reason: 'citizen_id_conflict', ...(account ? { accountSub: account.sub } : {}) };
      if (!account || account.status !== 'active') return { ok: false, reason: 'account_inactive', ...(account ? { accountSub: account.sub } : {}) };
      await trx('federated_identities').where({ upstream_issuer: a.issuer, upstream_sub: a.sub }).update({ last_used_at: now });
      return { ok: true, account: { id: account.id, sub: account.sub }, how: 'returning' };
    };
    const link = await trx<LinkRow>('federated_identities').where({ upstream_issuer: a.issuer, upstream_sub: a.sub }).first();
    if (link) return returning(link);
    let account = await trx<AccountRow>('accounts').whereIn('citizen_index', indexes).first();
    let how: 'linked' | 'created' = 'linked';
    if (account) {
      if (account.status !== 'active') return { ok: false, reason: 'account_inactive', accountSub: account.sub };
      const other = await trx<LinkRow>('federated_identities').where({ upstream_issuer: a.issuer, account_id: account.id }).first();
      // The same identity, linked by a concurrent sign-in since our first read: as if it had been there.
      if (other?.upstream_sub === a.sub) return returning(other);
      if (other) return { ok: false, reason: 'account_already_linked', accountSub: account.sub };
    } else {
      if (!a.name) return { ok: false, reason: 'name_missing' };
      // A number already bound to another account stays there; the new account simply has none.
      const phone = a.phone ? normalisePhone(a.phone) : undefined;
      const phoneFree = phone && !(await trx('accounts').where({ phone }).first());
      const accountId = newId('a_');
      account = {
        id: accountId,
        sub: randomBytes(16).toString('base64url'),
        status: 'active',
        citizen_index: index,
        citizen_sealed: vault.seal(a.citizenId, accountId),
        name: a.name,
        phone: phoneFree ? phone : null,
        assurance: 'federated',
        assurance_at: now,
        created_at: now,
        updated_at: now,
      };
      await trx('accounts').insert(account);
      how = 'created';
    }
    await trx('federated_identities').insert({
      upstream_issuer: a.issuer,
      upstream_sub: a.sub,
      upstream_name: a.upstream,
      account_id: account.id,
      citizen_index: index,
      created_at: now,
      last_used_at: now,
    } satisfies LinkRow);
    return { ok: true, account: { id: account.id, sub: account.sub }, how };
  }

  return {
    /** `recordLink` writes a new link's audit event in the link's own transaction: no link goes without its record. */
    async link(a: Assertion, recordLink?: (trx: Knex.Transaction, linked: Extract<LinkResult, { ok: true }>) => Promise<void>): Promise<LinkResult> {
      const decide = () =>
        db.transaction(async (trx) => {
          const result = await attempt(trx, a);
          if (result.ok && result.how !== 'returning' && recordLink) await recordLink(trx, result);
          return result;
        });
      try {
        return await decide();
      } catch (e) {
        if (uniqueViolation(e) === undefined) throw e;
        // A concurrent sign-in of the same person linked or created first: decide again on what it wrote.
        return decide();
      }
    },

    /** The account linked to an upstream identity, if any. */
    async accountFor(issuer: string, sub: string): Promise<{ id: string; sub: string } | undefined> {
      const row = await db('federated_identities as f')
        .join('accounts as a', 'a.id', 'f.account_id')
        .where({ 'f.upstream_issuer': issuer, 'f.upstream_sub': sub })
        .first('a.id as id', 'a.sub as sub');
      return row as { id: string; sub: string } | undefined;
    },

    /**
     * Removes a link (an operator's decision, e.g. after the upstream corrected a citizen ID): the next
     * sign-in through that identity links afresh by citizen ID. Returns the account it was linked to.
     */
    async unlink(issuer: string, sub: string, record?: (trx: Knex.Transaction, account: { id: string; sub: string }) => Promise<void>): Promise<{ id: string; sub: string } | undefined> {
      return db.transaction(async (trx) => {
        const row = await trx('federated_identities as f')
          .join('accounts as a', 'a.id', 'f.account_id')
          .where({ 'f.upstream_issuer': issuer, 'f.upstream_sub': sub })
          .first('a.id as id', 'a.sub as sub');
        if (!row) return undefined;
        await trx('federated_identities').where({ upstream_issuer: issuer, upstream_sub: sub }).delete();
        // The audit event, in the same transaction: no link goes without its record.
        await record?.(trx, row as { id: string; sub: string });
        return row as { id: string; sub: string };
      });
    },

    /** The linked identities of an account (for the portal and operators), without any citizen data. */
    async ofAccount(accountId: string): Promise<{ upstream: string; issuer: string; sub: string; createdAt: number; lastUsedAt: number }[]> {
      const rows = await db<LinkRow>('federated_identities').where({ account_id: accountId }).orderBy('created_at');
      return rows.map((r) => ({ upstream: r.upstream_name, issuer: r.upstream_issuer, sub: r.upstream_sub, createdAt: Number(r.created_at), lastUsedAt: Number(r.last_used_at) }));
    },
  };
}
export type LinkedIdentities = ReturnType<typeof createLinkedIdentities>;
