import type { Knex } from 'knex';

// Staff allowed to attest an in-person document check at a counter (assisted login, RFC 8693 token
// exchange). A minimal list, read only through isCounterStaff(); the admin work's department-scoped
// `counter-staff` role replaces it. Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('counter_staff', (t) => {
    t.string('account_id', 32).primary().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('added_by', 64);
    t.bigInteger('added_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('counter_staff');
}
