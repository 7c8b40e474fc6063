import type { Knex } from 'knex';

/**
 * Which app each indexed grant is for, so that "what did this citizen allow this app before"
 * (src/oidc/remembered-consent.ts) is an index probe. Without it the lookup read every grant the
 * citizen holds and parsed its JSON to find the app's: each session makes a grant that lives for
 * 30 days, so a citizen who signs in often held hundreds, and each sign-in cost PostgreSQL 20x more
 * after a few hundred sign-ins than at the first (bench/README.md).
 *
 * No backfill: a national table holds tens of millions of live grants, and filling them in here
 * would hold the upgrade for an hour. Rows without an app (indexed before this, or by an instance
 * still on the older code during a rolling upgrade) are found by their record, as before, until
 * they expire (30 days at most).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_index', (t) => {
    t.string('client_id', 255);
    t.index(['account_id', 'model', 'client_id', 'expires_at'], 'account_index_account_client');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_index', (t) => {
    t.dropIndex(['account_id', 'model', 'client_id', 'expires_at'], 'account_index_account_client');
    t.dropColumn('client_id');
  });
}
