import type { Knex } from 'knex';

// Federation (src/federation): upstream identity providers, the identities linked through them, and
// the short-lived records of sign-ins and back-channel logouts in flight. Times are epoch ms.
export async function up(knex: Knex): Promise<void> {
  // One upstream OIDC provider. Its client secret or private key is sealed (AES-256-GCM, purpose
  // bound to the upstream's name); everything else is plain configuration.
  await knex.schema.createTable('federation_upstreams', (t) => {
    t.string('name', 32).primary();
    t.string('display_name', 64).notNullable();
    t.string('display_name_en', 64).notNullable();
    t.string('issuer', 512).notNullable();
    t.string('client_id', 255).notNullable();
    t.string('client_auth', 32).notNullable();
    t.text('sealed_credential');
    t.text('public_jwk');
    t.string('scope', 512).notNullable();
    t.string('citizen_id_claim', 64).notNullable();
    t.string('name_claim', 64).notNullable();
    t.string('phone_claim', 64).notNullable();
    t.text('acr_map').notNullable();
    t.string('max_acr', 64).notNullable();
    t.boolean('trust_amr').notNullable();
    t.text('channels').notNullable();
    t.boolean('use_par').notNullable();
    t.string('status', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  // (upstream issuer, upstream sub) -> account, unique both ways: one upstream identity links to
  // exactly one account, and an account has at most one identity at each upstream. The blind index
  // of the citizen ID the upstream asserted lets a later, different assertion be refused.
  await knex.schema.createTable('federated_identities', (t) => {
    t.string('upstream_issuer', 512).notNullable();
    t.string('upstream_sub', 255).notNullable();
    t.string('upstream_name', 32).notNullable();
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.string('citizen_index', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').notNullable();
    t.primary(['upstream_issuer', 'upstream_sub']);
    t.unique(['upstream_issuer', 'account_id'], { indexName: 'federated_identities_issuer_account' });
  });

  // A sign-in sent to an upstream and not yet back: found by its `state`, consumed exactly once.
  await knex.schema.createTable('federation_pending_logins', (t) => {
    t.string('state', 64).primary();
    t.text('payload').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['expires_at'], 'federation_pending_logins_expires_at');
  });

  // Which upstream session (sid) signed in which account, for back-channel logouts that name only a sid.
  await knex.schema.createTable('federation_sessions', (t) => {
    t.string('upstream_name', 32).notNullable();
    t.string('upstream_sid', 255).notNullable();
    t.string('account_id', 32).notNullable().references('id').inTable('accounts').onDelete('CASCADE');
    t.bigInteger('expires_at').notNullable();
    t.primary(['upstream_name', 'upstream_sid', 'account_id']);
    t.index(['expires_at'], 'federation_sessions_expires_at');
  });

  // Logout tokens already accepted (their jti), so that a replayed one is refused.
  await knex.schema.createTable('federation_logout_jtis', (t) => {
    t.string('upstream_name', 32).notNullable();
    t.string('jti', 255).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.primary(['upstream_name', 'jti']);
    t.index(['expires_at'], 'federation_logout_jtis_expires_at');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['federation_logout_jtis', 'federation_sessions', 'federation_pending_logins', 'federated_identities', 'federation_upstreams']) {
    await knex.schema.dropTableIfExists(table);
  }
}
