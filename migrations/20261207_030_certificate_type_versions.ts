import type { Knex } from 'knex';

/**
 * Certificate types change and retire (docs/credentials.md): each change is a new version of the
 * type's names, claim schema and default validity, kept in `certificate_type_versions` beside the
 * current one in `certificate_types` (with its `version` and, once retired, `retired_at`). Each
 * certificate records the version its claims were checked against at push, so a later version
 * never re-judges a certificate already issued. Existing types become version 1.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificate_types', (t) => {
    t.integer('version').notNullable().defaultTo(1);
    t.bigInteger('updated_at');
    /** Once set, no new pushes; certificates already issued stay valid until revoked. */
    t.bigInteger('retired_at');
  });
  await knex.schema.createTable('certificate_type_versions', (t) => {
    t.string('type_id', 40).notNullable();
    t.integer('version').notNullable();
    t.string('name_zh', 100).notNullable();
    t.string('name_en', 100).notNullable();
    t.text('claims').notNullable();
    t.integer('validity_days').notNullable();
    t.string('created_by', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.primary(['type_id', 'version']);
  });
  await knex.raw(
    `insert into certificate_type_versions (type_id, version, name_zh, name_en, claims, validity_days, created_by, created_at)
     select id, 1, name_zh, name_en, claims, validity_days, created_by, created_at from certificate_types`,
  );
  await knex.schema.alterTable('certificates', (t) => {
    t.integer('type_version').notNullable().defaultTo(1);
    t.index(['department_id', 'status', 'created_at'], 'certificates_department_status');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificates', (t) => {
    t.dropIndex(['department_id', 'status', 'created_at'], 'certificates_department_status');
    t.dropColumn('type_version');
  });
  await knex.schema.dropTableIfExists('certificate_type_versions');
  await knex.schema.alterTable('certificate_types', (t) => {
    t.dropColumn('retired_at');
    t.dropColumn('updated_at');
    t.dropColumn('version');
  });
}
