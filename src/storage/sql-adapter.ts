import type { Knex } from 'knex';
import { isPostgres, type Database } from './database.js';
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

/** What a token's use reads next: its grant and its account (by `sub`, the token's accountId). */
export interface TokenContext {
  /** Undefined: no live grant of that id. */
  grant: AdapterPayload | undefined;
  /** The `accounts` row as stored, or undefined. */
  account: Record<string, unknown> | undefined;
}

interface ContextRow {
  g_payload: string | null;
  g_consumed_at: number | null;
  [column: string]: unknown;
}

const CONTEXT_COLUMNS = `g.payload as g_payload, g.consumed_at as g_consumed_at, a.*`;
const LIVE_GRANT = `g.model = 'Grant' and (g.expires_at is null or g.expires_at > ?)`;

function splitContext(row: ContextRow | undefined): TokenContext {
  if (!row) return { grant: undefined, account: undefined };
  const { g_payload, g_consumed_at, r_payload: _payload, r_consumed_at: _consumed, ...account } = row;
  return {
    grant: g_payload === null ? undefined : toPayload({ payload: g_payload, consumed_at: g_consumed_at } as OidcModelRow),
    account: account.sub === null || account.sub === undefined ? undefined : account,
  };
}

const rowsOf = (result: unknown): ContextRow[] => (Array.isArray(result) ? result : (result as { rows: ContextRow[] }).rows);

/**
 * Hand-written statements for the hot path: a token's use (userinfo, introspection, the code and
 * refresh grants) reads the token, its grant and its account; these read all of it in one round trip.
 */
export function tokenContextQueries(db: Database) {
  const accountIdOf = isPostgres(db) ? `(r.payload::json ->> 'accountId')` : `json_extract(r.payload, '$.accountId')`;
  return {
    /** The grant and the account of a token stored elsewhere (Redis). */
    async context(grantId: string, sub: string): Promise<TokenContext> {
      const rows = rowsOf(
        await db.raw(`select ${CONTEXT_COLUMNS} from (select 1 as one) x left join oidc_models g on g.id = ? and ${LIVE_GRANT} left join accounts a on a.sub = ?`, [
          grantId,
          Date.now(),
          sub,
        ]),
      );
      return splitContext(rows[0]);
    },
    /** A SQL-stored token (a refresh token) with its grant and account. */
    async find(model: string, id: string): Promise<(TokenContext & { payload: AdapterPayload }) | undefined> {
      const now = Date.now();
      const rows = rowsOf(
        await db.raw(
          `select r.payload as r_payload, r.consumed_at as r_consumed_at, ${CONTEXT_COLUMNS} from oidc_models r ` +
            `left join oidc_models g on g.id = r.grant_id and ${LIVE_GRANT} left join accounts a on a.sub = ${accountIdOf} ` +
            `where r.model = ? and r.id = ? and (r.expires_at is null or r.expires_at > ?)`,
          [now, model, id, now],
        ),
      );
      const row = rows[0];
      if (!row) return undefined;
      const payload = toPayload({ payload: row.r_payload, consumed_at: row.r_consumed_at } as OidcModelRow);
      return { payload, ...splitContext(row) };
    },
  };
}
export type TokenContextQueries = ReturnType<typeof tokenContextQueries>;
