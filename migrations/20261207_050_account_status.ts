import type { Knex } from 'knex';

/**
 * Operators disabling and enabling citizen accounts (docs/admin.md, "Citizen accounts"): each
 * disable, each request to enable again and its review is one row. A disable is done at once
 * (`status` 'done'); enabling is asked for ('pending') and then 'approved' or 'rejected' by another
 * operator, or 'superseded' when the account was enabled another way (the CLI). At most one pending
 * request per account: a partial unique index, the same SQL on SQLite and PostgreSQL.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_status_changes', (t) => {
    t.string('id', 32).primary();
    /** Internal account id. */
    t.string('account_id', 64).notNullable();
    /** 'disable' or 'enable'. */
    t.string('kind', 16).notNullable();
    /** 'done', 'pending', 'approved', 'rejected' or 'superseded'. */
    t.string('status', 16).notNullable();
    /** A code from the fixed list (src/admin/account-status.ts). */
    t.string('reason', 32).notNullable();
    t.string('note', 500);
    /** 'operator' (by sub) or 'system' ('cli'). */
    t.string('actor_type', 16).notNullable();
    t.string('actor_id', 128).notNullable();
    t.bigInteger('created_at').notNullable();
    t.string('reviewer_id', 128);
    t.bigInteger('reviewed_at');
    t.string('review_note', 500);
    t.index(['account_id', 'created_at'], 'account_status_changes_account');
    t.index(['status', 'created_at'], 'account_status_changes_status');
  });
  await knex.raw(`create unique index account_status_changes_one_pending on account_status_changes (account_id) where status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('account_status_changes');
}
