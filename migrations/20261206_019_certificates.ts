import type { Knex } from 'knex';

/**
 * Department certificates (docs/credentials.md): certificate types that a department defines (its
 * `vct`, names, claim schema, default validity), the certificates its system pushes for a citizen,
 * and which issued credentials (wallet copies) carry which certificate, so that revoking a
 * certificate flips every copy's status entry. A certificate row names the account by its internal
 * id, never by the ID number; its claims are sealed (the seal key, like other citizen data).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('certificate_types', (t) => {
    /** Short id, unique installation-wide; the OID4VCI configuration is `cert_<id>`. */
    t.string('id', 40).primary();
    t.string('department_id', 32).notNullable();
    t.string('vct', 300).notNullable().unique();
    t.string('name_zh', 100).notNullable();
    t.string('name_en', 100).notNullable();
    /** The claim schema, JSON: { claim: { type, required, max_length } }. */
    t.text('claims').notNullable();
    t.integer('validity_days').notNullable();
    t.string('created_by', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.index(['department_id'], 'certificate_types_department');
  });

  await knex.schema.createTable('certificates', (t) => {
    t.string('id', 32).primary();
    t.string('type_id', 40).notNullable();
    /** The issuing department (the type's). */
    t.string('department_id', 32).notNullable();
    /** Internal account id. */
    t.string('account_id', 32).notNullable();
    /** The claims, JSON, sealed. */
    t.text('sealed_claims').notNullable();
    t.bigInteger('valid_from').notNullable();
    t.bigInteger('valid_until').notNullable();
    /** 'valid' or 'revoked'. */
    t.string('status', 16).notNullable();
    /** The department system (client id) that pushed it. */
    t.string('pushed_by', 128).notNullable();
    /** The pushing system's Idempotency-Key, unique per system. */
    t.string('idempotency_key', 128);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('revoked_at');
    t.unique(['pushed_by', 'idempotency_key'], { indexName: 'certificates_idempotency' });
    t.index(['account_id', 'type_id'], 'certificates_account');
    t.index(['department_id', 'created_at'], 'certificates_department');
  });

  await knex.schema.createTable('certificate_credentials', (t) => {
    t.string('credential_id', 32).primary();
    t.string('certificate_id', 32).notNullable();
    t.index(['certificate_id'], 'certificate_credentials_certificate');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['certificate_credentials', 'certificates', 'certificate_types']) {
    await knex.schema.dropTableIfExists(table);
  }
}
