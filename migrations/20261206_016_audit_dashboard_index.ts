import type { Knex } from 'knex';

/**
 * The console's dashboard counts sign-ins, failures and lockouts over the last 7 days
 * (src/audit/audit-stats.ts): a few actions over a time range. With (action, at) each action is one
 * range scan, however many other events (admin actions, consents, tokens) the week holds.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.index(['action', 'at'], 'audit_events_action_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['action', 'at'], 'audit_events_action_at');
  });
}
