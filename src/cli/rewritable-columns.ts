import type { Knex } from 'knex';
import { upstreamCredentialPurpose } from '../federation/upstream-store.js';
import type { CitizenIdVault, Sealer } from '../identity/index.js';
import type { RewritableColumn } from '../keys/column-rewrite.js';
import { signingKeyPurpose } from '../keys/signing-keys.js';
import { totpPurpose } from '../mfa/second-factors.js';
import { credentialIssuerKeyPurpose, verifierKeyPurpose } from '../credentials/issuer-keys.js';
import { certificateClaimsPurpose } from '../credentials/certificate-store.js';

/** Rows whose value does not start with `prefix` (substr, not LIKE: kids may hold `_`, a LIKE wildcard). */
const notStartingWith = (column: string, prefix: string) => (q: Knex.QueryBuilder) =>
  q.whereNotNull(column).andWhereRaw('substr(??, 1, ?) <> ?', [column, prefix.length, prefix]);

const resealed = (sealer: Sealer, value: string, aad: string) => (sealer.needsReseal(value) ? sealer.seal(sealer.open(value, aad), aad) : undefined);

/**
 * Every column that holds values sealed for good. Values that live minutes or hours (pending
 * registrations, SMS sign-ins, TOTP enrolments, upstream ID tokens kept for sign-out) are not here:
 * they expire, and docs/keys.md says how long to keep an old key for them.
 */
export function sealedColumns({ sealer, vault }: { sealer: Sealer; vault: CitizenIdVault }): RewritableColumn[] {
  return [
    {
      name: 'accounts.citizen_sealed',
      table: 'accounts',
      key: 'id',
      column: 'citizen_sealed',
      with: ['citizen_index'],
      pending: notStartingWith('citizen_sealed', vault.sealedPrefix),
      rewrite: (r) => {
        if (!vault.needsReseal(r.citizen_sealed!)) return undefined;
        // Opened for its own row (its index checked), sealed again naming that row.
        return vault.seal(vault.open(r.citizen_sealed!, { accountId: r.id!, citizenIndex: r.citizen_index! }), r.id!);
      },
    },
    {
      name: 'credentials.secret (totp)',
      table: 'credentials',
      key: 'id',
      column: 'secret',
      pending: (q) => notStartingWith('secret', sealer.currentPrefix)(q.where({ type: 'totp' })),
      rewrite: (r) => resealed(sealer, r.secret!, totpPurpose(r.id!)),
    },
    {
      name: 'signing_keys.sealed_private_jwk',
      table: 'signing_keys',
      key: 'kid',
      column: 'sealed_private_jwk',
      pending: notStartingWith('sealed_private_jwk', sealer.currentPrefix),
      rewrite: (r) => resealed(sealer, r.sealed_private_jwk!, signingKeyPurpose(r.kid!)),
    },
    {
      name: 'credential_issuer_keys.sealed_private_jwk',
      table: 'credential_issuer_keys',
      key: 'kid',
      column: 'sealed_private_jwk',
      pending: notStartingWith('sealed_private_jwk', sealer.currentPrefix),
      rewrite: (r) => resealed(sealer, r.sealed_private_jwk!, credentialIssuerKeyPurpose(r.kid!)),
    },
    {
      name: 'verifier_keys.sealed_private_jwk',
      table: 'verifier_keys',
      key: 'kid',
      column: 'sealed_private_jwk',
      pending: notStartingWith('sealed_private_jwk', sealer.currentPrefix),
      rewrite: (r) => resealed(sealer, r.sealed_private_jwk!, verifierKeyPurpose(r.kid!)),
    },
    {
      name: 'federation_upstreams.sealed_credential',
      table: 'federation_upstreams',
      key: 'name',
      column: 'sealed_credential',
      pending: notStartingWith('sealed_credential', sealer.currentPrefix),
      rewrite: (r) => resealed(sealer, r.sealed_credential!, upstreamCredentialPurpose(r.name!)),
    },
    {
      // A department's certificate for a citizen: its claims live as long as the certificate.
      name: 'certificates.sealed_claims',
      table: 'certificates',
      key: 'id',
      column: 'sealed_claims',
      pending: notStartingWith('sealed_claims', sealer.currentPrefix),
      rewrite: (r) => resealed(sealer, r.sealed_claims!, certificateClaimsPurpose(r.id!)),
    },
  ];
}

/**
 * The citizen ID's blind index, in `accounts` and copied into `federated_identities` (how an
 * upstream identity stays tied to the number it was linked with): moved together, per account.
 */
export function citizenIndexColumn(vault: CitizenIdVault, currentPrefix: string | undefined): RewritableColumn {
  return {
    name: 'accounts.citizen_index',
    table: 'accounts',
    key: 'id',
    column: 'citizen_index',
    with: ['citizen_sealed'],
    // Version 1 indexes are bare: 43 characters, no version prefix.
    pending: currentPrefix ? notStartingWith('citizen_index', currentPrefix) : (q) => q.whereRaw('length(citizen_index) <> 43'),
    rewrite: (r) => (vault.needsReindex(r.citizen_index!) ? vault.index(vault.open(r.citizen_sealed!, { accountId: r.id!, citizenIndex: r.citizen_index! })) : undefined),
    async alsoUpdate(trx, r, next) {
      await trx('federated_identities').where({ account_id: r.id!, citizen_index: r.citizen_index! }).update({ citizen_index: next });
    },
  };
}
