import type { Knex } from 'knex';

// Second factors (src/mfa). The TOTP secret itself is a `credentials` row of type 'totp' whose
// `secret` is sealed (AES-256-GCM, purpose `totp:<credential id>`). Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  // A credential's monotonic counter. For TOTP: the last accepted time step, so a code is accepted
  // only for a later step (one compare-and-set UPDATE, so it holds across instances).
  await knex.schema.alterTable('credentials', (t) => {
    t.bigInteger('counter');
  });

  // One-time recovery codes: only keyed HMACs (blind index, purpose bound to the account).
  await knex.schema.createTable('recovery_codes', (t) => {
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('code_hash', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('used_at');
    t.primary(['account_id', 'code_hash']);
  });

  // Consecutive failed second-factor checks per account. Unlike the shared lockout count, a correct
  // password does not clear it, so interleaving right passwords with code guesses gains nothing.
  await knex.schema.createTable('second_factor_failures', (t) => {
    t.string('account_id', 32).primary().references('id').inTable('accounts').onDelete('CASCADE');
    t.integer('failures').notNullable();
    t.bigInteger('last_failure_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('second_factor_failures');
  await knex.schema.dropTableIfExists('recovery_codes');
  await knex.schema.alterTable('credentials', (t) => {
    t.dropColumn('counter');
  });
}
