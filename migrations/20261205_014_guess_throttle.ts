import type { Knex } from 'knex';

// Issue 11: guessing is slowed per (subject, client address) and locked per subject only by a
// distributed attack (src/accounts/lockout.ts). A subject is an account id, or a keyed hash of an
// identifier that names no account, so no foreign key. The row with ip '' counts the subject's
// failures from every address. Times are epoch milliseconds. The per-account lock it replaces held
// only short-lived counts, so nothing is carried over.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sign_in_guesses', (t) => {
    t.string('subject', 64).notNullable();
    t.string('ip', 64).notNullable();
    t.integer('failures').notNullable();
    t.bigInteger('window_ends_at').notNullable();
    t.bigInteger('next_at').notNullable();
    t.bigInteger('known_until');
    /** The token of the last attempt this row admitted: how a caller learns that it was admitted. */
    t.string('attempt', 32);
    t.primary(['subject', 'ip']);
  });
  await knex.schema.dropTableIfExists('login_lockouts');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sign_in_guesses');
  await knex.schema.createTable('login_lockouts', (t) => {
    t.string('account_id', 32).primary().references('id').inTable('accounts').onDelete('CASCADE');
    t.integer('attempts').notNullable();
    t.bigInteger('window_ends_at').notNullable();
    t.bigInteger('locked_until');
  });
}
