import type { Knex } from 'knex';

/**
 * Which app each indexed grant is for, so that "what did this citizen allow this app before"
 * (src/oidc/remembered-consent.ts) is one index probe. Without it the lookup read every grant the
 * citizen holds and parsed its JSON to find the app's: each session makes a grant that lives for
 * 30 days, so a citizen who signs in often held hundreds, and each sign-in cost PostgreSQL 20x more
 * after a few hundred sign-ins than at the first (bench/README.md).
 *
 * Grants indexed before this migration get their client id from their own record. Rows of other
 * models leave it empty.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_index', (t) => {
    t.string('client_id', 255);
    t.index(['account_id', 'model', 'client_id', 'expires_at'], 'account_index_account_client');
  });
  // Batches in id order, so that a grant whose record has no client id (or no record) is passed, not read again.
  let after = '';
  for (;;) {
    const rows = (await knex('account_index as i')
      .join('oidc_models as g', function joinGrant() {
        this.on('g.id', '=', 'i.id').andOn('g.model', '=', knex.raw('?', ['Grant']));
      })
      .where('i.model', 'Grant')
      .andWhere('i.id', '>', after)
      .orderBy('i.id')
      .limit(500)
      .select('i.id', 'g.payload')) as { id: string; payload: string }[];
    if (rows.length === 0) break;
    // One statement per batch (a CASE over its ids), not one per grant: a national table holds millions.
    const found = rows.flatMap((row) => {
      const clientId = clientIdOf(row.payload);
      return clientId ? [{ id: row.id, clientId }] : [];
    });
    if (found.length > 0) {
      await knex('account_index')
        .where('model', 'Grant')
        .whereIn('id', found.map((f) => f.id))
        .update({ client_id: knex.raw(`case id ${found.map(() => 'when ? then ?').join(' ')} end`, found.flatMap((f) => [f.id, f.clientId])) });
    }
    after = rows.at(-1)!.id;
  }
}

function clientIdOf(payload: string): string | undefined {
  try {
    const clientId = (JSON.parse(payload) as { clientId?: unknown }).clientId;
    return typeof clientId === 'string' && clientId.length <= 255 ? clientId : undefined;
  } catch {
    return undefined;
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('account_index', (t) => {
    t.dropIndex(['account_id', 'model', 'client_id', 'expires_at'], 'account_index_account_client');
    t.dropColumn('client_id');
  });
}
