import type { Knex } from 'knex';

/**
 * The OID4VP verifier's own signing keys (docs/credentials.md, "Verifying online"): they sign the
 * presentation requests that counters and kiosks show, and nothing else. Sealed like the token and
 * credential issuer keys, apart from both so that each rotates on its own.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('verifier_keys', (t) => {
    t.string('kid', 64).primary();
    t.string('alg', 16).notNullable();
    t.text('sealed_private_jwk').notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('retired_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('verifier_keys');
}
