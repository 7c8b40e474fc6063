import type { Knex } from 'knex';

/**
 * The audit chain moves off the hot path (docs/audit.md). An append is one insert of an unsealed
 * row (no `seq`, no hashes); one elected sealer later gives each row its place in the chain
 * (`seq`, which PostgreSQL ids cannot be: they may commit out of order) and its hashes, and signs
 * the head of each batch as a checkpoint. Rows chained before this migration keep their hashes and
 * take their id as their place, the order they were chained in.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.bigInteger('seq');
  });
  await knex('audit_events').update({ seq: knex.ref('id') });
  await knex.schema.alterTable('audit_events', (t) => {
    t.string('prev_hash', 64).nullable().alter();
    t.string('hash', 64).nullable().alter();
    // Unique: a row is sealed once. Also how the sealer finds the unsealed rows (seq is null).
    t.unique(['seq'], { indexName: 'audit_events_seq' });
  });
  await knex.schema.createTable('audit_checkpoints', (t) => {
    t.bigIncrements('id').primary();
    /** The last sealed row this checkpoint covers (0: none yet), and its hash. */
    t.bigInteger('seq').notNullable();
    t.string('hash', 64).notNullable();
    t.bigInteger('at').notNullable();
    t.string('kid', 64).notNullable();
    /** Compact JWS (EdDSA) over {v, seq, hash, at}: the columns above are only for queries. */
    t.text('jws').notNullable();
    t.index(['seq'], 'audit_checkpoints_seq');
  });
  // One row: who seals, until when. Taken and renewed by compare-and-set (see audit-sealer.ts).
  await knex.schema.createTable('audit_sealer_lease', (t) => {
    t.string('name', 32).primary();
    t.string('holder', 128);
    t.bigInteger('expires_at').notNullable();
  });
  await knex('audit_sealer_lease').insert({ name: 'sealer', holder: null, expires_at: 0 });
  // Signed checkpoints replace the unsigned head row, which anyone who can write could move.
  await knex.schema.dropTableIfExists('audit_head');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_head', (t) => {
    t.integer('id').primary();
    t.bigInteger('last_id').notNullable();
    t.string('last_hash', 64).notNullable();
  });
  await knex.schema.dropTableIfExists('audit_sealer_lease');
  await knex.schema.dropTableIfExists('audit_checkpoints');
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropUnique(['seq'], 'audit_events_seq');
    t.dropColumn('seq');
  });
}
