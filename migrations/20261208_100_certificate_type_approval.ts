import type { Knex } from 'knex';

/**
 * Who approved a certificate type, and when (epoch ms). A type an operator defines is pending until
 * a second super-admin of a national department approves it (src/admin/certificate-service.ts):
 * its id becomes the `vct` verifiers trust, so naming one is not one person's act. Types defined
 * before this were in force at once and stay so: approved when they were defined, by nobody named.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificate_types', (t) => {
    t.string('approved_by', 255);
    t.bigInteger('approved_at');
  });
  await knex('certificate_types').update({ approved_at: knex.ref('created_at') });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('certificate_types', (t) => {
    t.dropColumn('approved_at');
    t.dropColumn('approved_by');
  });
}
