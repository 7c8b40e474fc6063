import type { Knex } from 'knex';

/**
 * Every version of a certificate type in force takes a second national super-admin's approval, as
 * its first did (src/admin/certificate-service.ts): a department's admin who could change a type's
 * names or claims alone could show one certificate as another under the vct verifiers trust. A
 * change is kept as a pending version (`certificate_types.pending_version`) beside the one in force
 * until approved; each version records when it went in force and who approved it.
 *
 * Versions made before this went in force as they were made, save those made while their type
 * awaited its first approval: of those, the one approved went in force then, the others never.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificate_types', (t) => {
    t.integer('pending_version');
  });
  await knex.schema.alterTable('certificate_type_versions', (t) => {
    t.bigInteger('approved_at');
    t.string('approved_by', 255);
  });
  const approvedOf = (column: string) => `(select t.${column} from certificate_types t where t.id = certificate_type_versions.type_id)`;
  await knex.raw(`update certificate_type_versions set approved_at = created_at where created_at > ${approvedOf('approved_at')}`);
  await knex.raw(
    `update certificate_type_versions set approved_at = ${approvedOf('approved_at')}, approved_by = ${approvedOf('approved_by')}
     where version = (select max(v.version) from certificate_type_versions v join certificate_types t on t.id = v.type_id
                      where v.type_id = certificate_type_versions.type_id and v.created_at <= t.approved_at)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificate_type_versions', (t) => {
    t.dropColumn('approved_by');
    t.dropColumn('approved_at');
  });
  await knex.schema.alterTable('certificate_types', (t) => {
    t.dropColumn('pending_version');
  });
}
