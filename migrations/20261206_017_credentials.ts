import type { Knex } from 'knex';

/**
 * Verifiable credentials (docs/credentials.md): the credential issuer's own signing keys (sealed,
 * rotated like the token signing keys), the Token Status Lists that revocation flips bits in, and
 * one row per issued credential. A credential row holds the account's internal id, never the
 * citizen ID number nor any claim it carried: the credential itself lives in the wallet.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('credential_issuer_keys', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('sealed_private_jwk').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retired_at');
  });

  await knex.schema.createTable('credential_status_lists', (t) => {
    t.string('id', 32).primary();
    /** Bits per status (1: valid or revoked). */
    t.integer('bits').notNullable();
    /** How many entries the list has; indices are drawn at random below it. */
    t.integer('size').notNullable();
    /** Entries handed out so far; a list past half full is closed and a new one opened. */
    t.integer('issued').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('issued_credentials', (t) => {
    t.string('id', 32).primary();
    /** Internal account id. */
    t.string('account_id', 32).notNullable();
    /** The credential type (its `vct`). */
    t.string('type', 200).notNullable();
    /** The wallet app that asked for it. */
    t.string('client_id', 128).notNullable();
    /** The JWK thumbprint of the wallet key it is bound to (`cnf.jwk`). */
    t.string('holder_jkt', 64).notNullable();
    t.string('status_list_id', 32).notNullable();
    t.integer('status_index').notNullable();
    /** 'valid' or 'revoked'. */
    t.string('status', 16).notNullable();
    t.bigInteger('issued_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('revoked_at');
    t.unique(['status_list_id', 'status_index'], { indexName: 'issued_credentials_status_entry' });
    t.index(['account_id', 'issued_at'], 'issued_credentials_account');
    // The status list is built from its revoked entries.
    t.index(['status_list_id', 'status'], 'issued_credentials_list_status');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['issued_credentials', 'credential_status_lists', 'credential_issuer_keys']) {
    await knex.schema.dropTableIfExists(table);
  }
}
