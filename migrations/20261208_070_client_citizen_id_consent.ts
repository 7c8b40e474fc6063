import type { Knex } from 'knex';

/**
 * When an approved change last let a client see more of the citizen ID number than before
 * (epoch ms; src/oidc/citizen-id-consent.ts): citizens' consents given before then cover less, so
 * their grants release none of the number until the citizen allows it again. It must outlive a
 * suspension, which takes the client's live metadata away, so it is kept with the registration.
 *
 * Empty for every client at first: a change approved before this version is not known.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('client_registrations', (t) => {
    t.bigInteger('citizen_id_consent_since');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('client_registrations', (t) => {
    t.dropColumn('citizen_id_consent_since');
  });
}
