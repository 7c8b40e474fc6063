import type { Knex } from 'knex';

// Operators and the client registry (src/admin, src/clients). Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  // A tree: national → province → city → district. `path` is the ids from the root down,
  // '/a/b/c/', so a subtree is one prefix match.
  await knex.schema.createTable('departments', (t) => {
    t.string('id', 32).primary();
    t.string('parent_id', 32).references('id').inTable('departments');
    t.string('level', 16).notNullable();
    t.string('name', 128).notNullable();
    t.string('path', 512).notNullable().unique();
    t.bigInteger('created_at').notNullable();
    t.index(['parent_id'], 'departments_parent');
  });

  // An operator is an account holding one or more of these.
  await knex.schema.createTable('role_assignments', (t) => {
    t.string('id', 32).primary();
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('role', 32).notNullable();
    t.string('department_id', 32).notNullable().references('id').inTable('departments');
    t.string('created_by', 64);
    t.bigInteger('created_at').notNullable();
    t.unique(['account_id', 'role', 'department_id'], { indexName: 'role_assignments_unique' });
    t.index(['department_id'], 'role_assignments_department');
  });

  // A managed client: what was approved, its status and owner. The oidc-provider Client store holds
  // the live projection of an active client only, so a draft or suspended client does not exist there.
  await knex.schema.createTable('client_registrations', (t) => {
    t.string('client_id', 128).primary();
    t.string('department_id', 32).notNullable().references('id').inTable('departments');
    t.string('status', 16).notNullable();
    t.string('name', 128).notNullable();
    t.text('settings').notNullable();
    t.string('secret_digest', 128);
    t.integer('version').notNullable();
    t.string('created_by', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['department_id'], 'client_registrations_department');
  });

  // Proposed changes to a client: draft → submitted → approved (live) or rejected.
  await knex.schema.createTable('client_changes', (t) => {
    t.string('id', 32).primary();
    t.string('client_id', 128).notNullable().references('client_id').inTable('client_registrations');
    t.string('department_id', 32).notNullable().references('id').inTable('departments');
    t.string('kind', 16).notNullable();
    t.string('status', 16).notNullable();
    t.text('proposed').notNullable();
    t.integer('base_version').notNullable();
    t.string('author_id', 64).notNullable();
    t.bigInteger('submitted_at');
    t.string('reviewer_id', 64);
    t.bigInteger('reviewed_at');
    t.string('review_note', 512);
    t.bigInteger('created_at').notNullable();
    t.index(['client_id'], 'client_changes_client');
    t.index(['department_id', 'status'], 'client_changes_department_status');
  });

  // Earlier secrets of a client still accepted during a rotation's grace period (keyed hashes only).
  await knex.schema.createTable('client_secret_grace', (t) => {
    t.string('client_id', 128).notNullable();
    t.string('digest', 128).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['client_id', 'digest']);
  });

  // Audit events about a department's things, so that a department's auditor sees them; and the
  // chain's head, so that deleting the newest rows is detected too.
  await knex.schema.alterTable('audit_events', (t) => {
    t.string('department_id', 32);
    t.index(['department_id', 'id'], 'audit_events_department');
    t.index(['actor_id', 'id'], 'audit_events_actor');
    t.index(['action', 'id'], 'audit_events_action');
    t.index(['at'], 'audit_events_at');
  });
  await knex.schema.createTable('audit_head', (t) => {
    t.integer('id').primary();
    t.bigInteger('last_id').notNullable();
    t.string('last_hash', 64).notNullable();
  });
  const last = (await knex('audit_events').select('id', 'hash').orderBy('id', 'desc').first()) as { id: number; hash: string } | undefined;
  if (last) await knex('audit_head').insert({ id: 1, last_id: last.id, last_hash: last.hash });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('audit_head');
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['department_id', 'id'], 'audit_events_department');
    t.dropIndex(['actor_id', 'id'], 'audit_events_actor');
    t.dropIndex(['action', 'id'], 'audit_events_action');
    t.dropIndex(['at'], 'audit_events_at');
    t.dropColumn('department_id');
  });
  for (const table of ['client_secret_grace', 'client_changes', 'client_registrations', 'role_assignments', 'departments']) {
    await knex.schema.dropTableIfExists(table);
  }
}
