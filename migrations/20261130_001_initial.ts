import type { Knex } from 'knex';

// Times are epoch milliseconds in BIGINT columns: the same on SQLite and PostgreSQL.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_models', (t) => {
    t.string('model', 64).notNullable();
    t.string('id', 255).notNullable();
    t.text('payload').notNullable();
    t.string('grant_id', 255);
    t.string('user_code', 255);
    t.string('uid', 255);
    t.bigInteger('expires_at');
    t.bigInteger('consumed_at');
    t.primary(['model', 'id']);
    t.index(['grant_id'], 'oidc_models_grant_id');
    t.index(['model', 'user_code'], 'oidc_models_user_code');
    t.index(['model', 'uid'], 'oidc_models_uid');
    t.index(['expires_at'], 'oidc_models_expires_at');
  });

  await knex.schema.createTable('accounts', (t) => {
    t.string('id', 32).primary();
    t.string('sub', 64).notNullable().unique();
    t.string('status', 16).notNullable();
    t.string('citizen_index', 64).notNullable().unique();
    t.text('citizen_sealed').notNullable();
    t.string('name', 128).notNullable();
    t.string('phone', 32).unique();
    t.string('assurance', 32).notNullable();
    t.bigInteger('assurance_at');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('credentials', (t) => {
    t.string('id', 32).primary();
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('type', 16).notNullable();
    t.text('secret').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.index(['account_id', 'type'], 'credentials_account_type');
  });

  await knex.schema.createTable('signing_keys', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('sealed_private_jwk').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retired_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['signing_keys', 'credentials', 'accounts', 'oidc_models']) {
    await knex.schema.dropTableIfExists(table);
  }
}
