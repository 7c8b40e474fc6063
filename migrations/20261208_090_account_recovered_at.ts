import type { Knex } from 'knex';

/**
 * When the account's password was last reset by an SMS code (epoch ms; src/password-reset). For
 * `passwordReset.holdSeconds` after it, no new lasting sign-in method or credential can be added
 * (src/accounts/recovery-hold.ts): whoever held the phone for a moment must not keep a way in.
 * Empty until the first reset.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.bigInteger('recovered_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('recovered_at');
  });
}
