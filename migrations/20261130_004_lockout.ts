import type { Knex } from 'knex';

// Lockout counters when no Redis is configured: one row per account with recent sign-in attempts
// or a lock in force. Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_lockouts', (t) => {
    t.string('account_id', 32).primary().references('id').inTable('accounts').onDelete('CASCADE');
    t.integer('attempts').notNullable();
    t.bigInteger('window_ends_at').notNullable();
    t.bigInteger('locked_until');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('login_lockouts');
}
