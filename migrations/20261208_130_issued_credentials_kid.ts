import type { Knex } from 'knex';

/**
 * Each issued credential names the issuer key that signed it. A retired issuer key stays published
 * while a credential it signed is still valid (src/credentials/index.ts): a department certificate
 * can be valid for years, far beyond `credentials.validitySeconds`, and its verifiers fetch the key
 * from /.well-known/jwt-vc-issuer for as long. The index finds a key's one unexpired credential
 * without reading the others. Credentials issued before this name no key; the time rule keeps their
 * keys as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('issued_credentials', (t) => {
    t.string('kid', 64);
    t.index(['kid', 'expires_at'], 'issued_credentials_kid');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('issued_credentials', (t) => {
    t.dropIndex(['kid', 'expires_at'], 'issued_credentials_kid');
    t.dropColumn('kid');
  });
}
