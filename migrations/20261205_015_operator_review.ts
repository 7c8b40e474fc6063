import type { Knex } from 'knex';

/**
 * Four-eyes review that holds (docs/admin.md, "Review"): a client change remembers every operator
 * who created, edited or submitted it, and a revision that goes up with each of those steps, so an
 * approval lands only on the very revision the reviewer was shown. Changes made before this
 * migration list their author (all that was recorded on the row).
 *
 * In-person proofing evidence (docs/channels/assurance.md, "Identity proofing"): who checked which
 * document type, where and when; the standing proofing of an account rises only once the evidence
 * is confirmed. No document number is stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('client_changes', (t) => {
    t.text('participants');
    t.integer('revision').notNullable().defaultTo(1);
  });
  // '||' concatenates on both SQLite and PostgreSQL; a sub is base64url, so needs no JSON escaping.
  await knex('client_changes').update({ participants: knex.raw(`'["' || author_id || '"]'`) });

  await knex.schema.createTable('identity_proofing_evidence', (t) => {
    t.string('id', 32).primary();
    /** Internal account id. */
    t.string('account_id', 64).notNullable();
    /** What the evidence would raise the account to: 'in_person' or 'id_chip'. */
    t.string('method', 16).notNullable();
    t.string('channel', 16).notNullable();
    t.string('client_id', 128).notNullable();
    t.string('department_id', 32);
    /** 'staff' (a counter-staff member, by sub) or 'kiosk' (the kiosk client). */
    t.string('actor_type', 16).notNullable();
    t.string('actor_id', 128).notNullable();
    t.string('document_type', 32).notNullable();
    /** 'pending' until confirmed; then 'confirmed'. */
    t.string('status', 16).notNullable();
    t.string('confirmed_by_type', 16);
    t.string('confirmed_by', 128);
    t.bigInteger('confirmed_at');
    t.bigInteger('created_at').notNullable();
    t.index(['account_id', 'created_at'], 'identity_proofing_evidence_account');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('identity_proofing_evidence');
  await knex.schema.alterTable('client_changes', (t) => {
    t.dropColumn('participants');
    t.dropColumn('revision');
  });
}
