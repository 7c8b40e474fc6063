import type { Knex } from 'knex';

// SMS one-time codes and the send throttles behind them. Neither table holds a phone number, an IP
// address or a code: `key` columns are keyed HMACs (blind indexes) and `code_hash` is a keyed HMAC
// of the code bound to its number and purpose. Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  // One live code per number + purpose; issuing a new one overwrites the row.
  await knex.schema.createTable('sms_codes', (t) => {
    t.string('key', 64).primary();
    t.string('code_hash', 64).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('consumed_at');
    t.bigInteger('created_at').notNullable();
    t.index(['expires_at'], 'sms_codes_expires_at');
  });

  // A ring of `max` slots per throttle key, each holding the time of one send: a send may take the
  // oldest slot only if that send has left the window (a compare-and-set UPDATE, so concurrent
  // instances cannot both take it). This gives an exact rolling window without locks.
  await knex.schema.createTable('sms_sends', (t) => {
    t.string('key', 64).notNullable();
    t.integer('slot').notNullable();
    t.bigInteger('sent_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['key', 'slot']);
    t.index(['expires_at'], 'sms_sends_expires_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sms_sends');
  await knex.schema.dropTableIfExists('sms_codes');
}
