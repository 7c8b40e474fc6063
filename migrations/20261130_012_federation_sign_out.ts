import type { Knex } from 'knex';

// Federation sign-out (src/federation/upstream-sign-out.ts): whether a Yihao sign-out in the browser
// also goes through the upstream's end_session_endpoint, and the sign-outs sent there and not yet
// back. Times are epoch ms.
export async function up(knex: Knex): Promise<void> {
  // Off for every upstream that exists: an operator turns it on per upstream.
  await knex.schema.alterTable('federation_upstreams', (t) => {
    t.boolean('sign_out_upstream').notNullable().defaultTo(false);
  });

  // A browser sent to an upstream's end_session_endpoint: found by its `state`, consumed exactly
  // once, and holding where Yihao continues (a URL Yihao chose, never one from the request).
  await knex.schema.createTable('federation_pending_sign_outs', (t) => {
    t.string('state', 64).primary();
    t.text('payload').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at'], 'federation_pending_sign_outs_expires_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('federation_pending_sign_outs');
  await knex.schema.alterTable('federation_upstreams', (t) => {
    t.dropColumn('sign_out_upstream');
  });
}
