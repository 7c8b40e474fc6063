import type { Knex } from 'knex';

// Which sessions and grants belong to which account, wherever those records live (SQL or Redis),
// so that an account can be signed out everywhere or disabled with all its tokens.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('account_index', (t) => {
    t.string('model', 32).notNullable();
    t.string('id', 255).notNullable();
    t.string('account_id', 64).notNullable();
    t.bigInteger('expires_at');
    t.primary(['model', 'id']);
    t.index(['account_id'], 'account_index_account');
    t.index(['expires_at'], 'account_index_expires_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('account_index');
}
