import type { Knex } from 'knex';

// Append-only and hash-chained: each row stores the hash of the one before it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('at').notNullable();
    t.string('action', 64).notNullable();
    t.string('actor_type', 16).notNullable();
    t.string('actor_id', 128);
    t.string('account_id', 32);
    t.string('client_id', 128);
    t.string('channel', 16);
    t.string('ip', 64);
    t.string('request_id', 64);
    t.text('details');
    t.string('prev_hash', 64).notNullable();
    t.string('hash', 64).notNullable().unique();
    t.index(['account_id', 'id'], 'audit_events_account');
    t.index(['client_id', 'id'], 'audit_events_client');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_events');
}
