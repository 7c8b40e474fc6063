import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { deleteInBatches } from '../storage/batched-delete.js';

/**
 * Secrets replaced by a rotation that are still accepted until their grace period ends, so that a
 * relying party can switch over without an outage. Only keyed hashes are stored.
 */
export function secretGrace(db: Database | Knex.Transaction) {
  return {
    async add(clientId: string, digest: string, expiresAt: number): Promise<void> {
      await db('client_secret_grace').insert({ client_id: clientId, digest, expires_at: expiresAt }).onConflict(['client_id', 'digest']).merge();
    },
    /**
     * Ends the grace of every earlier secret at `until` at the latest. A rotation promises that no
     * old secret outlives the grace it gives (none, with 0: see `clear`); a secret still in an
     * earlier rotation's grace would otherwise keep working past it.
     */
    async cap(clientId: string, until: number): Promise<void> {
      await db('client_secret_grace').where({ client_id: clientId }).andWhere('expires_at', '>', until).update({ expires_at: until });
    },
    /** Digests of earlier secrets still in their grace period. */
    async live(clientId: string, now = Date.now()): Promise<string[]> {
      const rows = (await db('client_secret_grace').where({ client_id: clientId }).andWhere('expires_at', '>', now).select('digest')) as { digest: string }[];
      return rows.map((r) => r.digest);
    },
    async clear(clientId: string): Promise<void> {
      await db('client_secret_grace').where({ client_id: clientId }).delete();
    },
    /** Removes rows whose grace period is over; returns how many. */
    async sweep(now = Date.now(), batchSize?: number): Promise<number> {
      return deleteInBatches(db, { table: 'client_secret_grace', key: ['client_id', 'digest'], where: (q) => q.where('expires_at', '<=', now), batchSize });
    },
  };
}
export type SecretGrace = ReturnType<typeof secretGrace>;
