import type { Knex } from 'knex';

/**
 * Audit rows sealed from now on hash their id too (`hash_version` 2, src/audit/audit-chain.ts):
 * the console, the admin API and the portal list events by id, so a database writer who swapped the
 * ids of two sealed rows changed the order auditors read them in (or buried an event below a
 * citizen's page), and verify still said intact. Rows sealed before keep version 1 (null): their ids
 * stay unprotected, as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.integer('hash_version');
  });
}

/** Rows sealed under version 2 no longer verify once it is gone: go down only before any was sealed. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropColumn('hash_version');
  });
}
