import type { Knex } from 'knex';
import type { Database } from './database.js';
import {
  AlreadyConsumedError,
  ReplayDetectedError,
  type Adapter,
  type AdapterConstructor,
  type AdapterPayload,
} from './adapter-types.js';

const TABLE = 'oidc_models';

interface OidcModelRow {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  /** Epoch ms; null never expires. */
  expires_at: number | null;
  /** Epoch ms. */
  consumed_at: number | null;
}

const indexed = (value: unknown): string | null => (typeof value === 'string' ? value : null);

// Expired rows linger until the sweeper runs, so every read filters them out itself.
function live(query: Knex.QueryBuilder, now = Date.now()): Knex.QueryBuilder {
  return query.andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', now));
}

function toPayload(row: OidcModelRow): AdapterPayload {
  const payload = JSON.parse(row.payload) as AdapterPayload;
  return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
}

/** Every oidc-provider model in the one `oidc_models` table, keyed by (model, id). */
export function sqlAdapter(db: Database): AdapterConstructor {
  return class SqlAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const now = Date.now();
      const row: OidcModelRow = {
        model: this.#model,
        id,
        payload: JSON.stringify(payload),
        grant_id: indexed(payload.grantId),
        user_code: indexed(payload.userCode),
        uid: indexed(payload.uid),
        expires_at: typeof expiresIn === 'number' ? now + Math.ceil(expiresIn * 1000) : null,
        // A re-saved artifact keeps its consumed mark, or a second consume would succeed.
        consumed_at: typeof payload.consumed === 'number' ? payload.consumed * 1000 : null,
      };
      const upsert = db(TABLE).insert(row).onConflict(['model', 'id']).merge();

      if (this.#model === 'ReplayDetection') {
        // Insert-if-absent: only an expired, not yet swept row may be replaced. Of two instances
        // racing through find-then-upsert, exactly one gets its row back.
        const won = await upsert.where(`${TABLE}.expires_at`, '<=', now).returning('id');
        if (won.length === 0) throw new ReplayDetectedError();
        return;
      }
      await upsert;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return this.#first({ id });
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#first({ user_code: userCode });
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#first({ uid });
    }

    async consume(id: string): Promise<void> {
      const now = Date.now();
      const updated = await live(db(TABLE).where({ model: this.#model, id }).whereNull('consumed_at'), now).update({
        consumed_at: now,
      });
      if (updated === 0) throw new AlreadyConsumedError(this.#model);
    }

    async destroy(id: string): Promise<void> {
      await db(TABLE).where({ model: this.#model, id }).delete();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await db(TABLE).where({ model: this.#model, grant_id: grantId }).delete();
    }

    async #first(where: Partial<OidcModelRow>): Promise<AdapterPayload | undefined> {
      // Newest first: a Session's old id can still be stored under the same uid for a moment.
      const row = (await live(db(TABLE).where({ ...where, model: this.#model }))
        .orderBy('expires_at', 'desc')
        .first()) as OidcModelRow | undefined;
      return row && toPayload(row);
    }
  };
}
