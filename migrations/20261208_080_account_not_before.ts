import type { Knex } from 'knex';

/**
 * When the account was last signed out everywhere (epoch seconds; src/oidc/sign-out.ts): nothing
 * authenticated before then is honoured again, whatever a request that was in flight at that
 * moment saves afterwards (a session written back, a code or token issued from it). Empty until
 * the first such sign-out.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.bigInteger('not_before');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('not_before');
  });
}
