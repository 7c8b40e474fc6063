import type { Knex } from 'knex';

// Passkeys (WebAuthn, src/passkeys). Each passkey is also a `credentials` row of type 'passkey', so
// the portal lists and removes it like any other sign-in method; its `secret` column stays empty,
// because a passkey's public key is not a secret. Times are epoch milliseconds.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('passkeys', (t) => {
    t.string('credential_id', 32).primary().references('id').inTable('credentials').onDelete('CASCADE');
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    // The authenticator's credential ID, base64url (at most 1023 bytes by WebAuthn Level 3).
    t.string('webauthn_id', 1400).notNullable().unique('passkeys_webauthn_id');
    // COSE public key, base64url.
    t.text('public_key').notNullable();
    // The authenticator's signature counter; 0 for authenticators that keep none.
    t.bigInteger('sign_count').notNullable();
    t.string('transports', 200);
    // WebAuthn backup eligibility: 'singleDevice' (bound to one authenticator) or 'multiDevice' (synced).
    t.string('device_type', 16).notNullable();
    t.boolean('backed_up').notNullable();
    t.string('aaguid', 36).notNullable();
    t.index(['account_id'], 'passkeys_account');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('passkeys');
}
