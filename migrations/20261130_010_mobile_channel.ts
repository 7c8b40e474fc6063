import type { Knex } from 'knex';

// The mobile app channel (src/channels). Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  // A P-256 public key made on a phone and registered by the government app for one account.
  // `amr` is what a login with it proves: `hwk` only where the key's hardware origin is trusted.
  await knex.schema.createTable('device_keys', (t) => {
    t.string('id', 40).primary();
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    // The app (client_id) that enrolled it: only that app may log in with it.
    t.string('client_id', 128).notNullable();
    // RFC 7638 thumbprint: one key, one enrolment.
    t.string('jkt', 64).notNullable().unique();
    t.text('public_jwk').notNullable();
    t.string('amr', 8).notNullable();
    // What the app said about the key's storage (its attestation format), kept as claimed.
    t.string('claimed_storage', 32);
    t.string('name', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.bigInteger('revoked_at');
    t.index(['account_id'], 'device_keys_account');
  });

  // The inbox of the approvals API: requests a citizen approves or denies on the phone (QR
  // hand-offs, CIBA requests, and what other channels add). One conditional UPDATE decides each,
  // so a request is decided once however many instances or phones race.
  await knex.schema.createTable('approval_requests', (t) => {
    t.string('id', 40).primary();
    t.string('kind', 32).notNullable();
    // The kind's own reference (a CIBA auth_req_id, a hand-off id).
    t.string('ref', 255).notNullable();
    // Null until the request is tied to an account (a QR hand-off, when a phone scans it).
    t.string('account_id', 32).references('id').inTable('accounts').onDelete('CASCADE');
    t.string('client_id', 128).notNullable();
    // JSON shown to the citizen on the phone: requesting app, binding code or message, time.
    t.text('display').notNullable();
    t.string('status', 16).notNullable();
    t.text('decision');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('decided_at');
    t.index(['account_id', 'status'], 'approval_requests_account');
    t.index(['kind', 'ref'], 'approval_requests_ref');
    t.index(['expires_at'], 'approval_requests_expires');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('approval_requests');
  await knex.schema.dropTableIfExists('device_keys');
}
