import type { Knex } from 'knex';
import { isPostgres, type Database } from './database.js';
import { parseStored, stringifyStored } from './stored-json.js';
import { statements } from './statements.js';
import { writeBatch, type SqlWrite } from './write-batch.js';
import { settleLater } from './settle-later.js';
import { runAfter, type RevokedGrant, type SendRevocations } from './revocation-hold.js';
import { accountColumns } from '../accounts/account-store.js';
import {
  AlreadyConsumedError,
  ReplayDetectedError,
  type Adapter,
  type AdapterPayload,
  type GiveBack,
  keptSeconds,
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

// Expired rows linger until the sweeper runs, so every read filters them out itself (LIVE below).

function toPayload(row: OidcModelRow): AdapterPayload {
  const payload = parseStored<AdapterPayload>(row.payload);
  return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
}

const COLUMNS = 'model, id, payload, grant_id, user_code, uid, expires_at, consumed_at';
const UPSERT =
  `insert into ${TABLE} (${COLUMNS}) values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (model, id) do update set ` +
  'payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at';
const LIVE = '(expires_at is null or expires_at > ?)';
const CONSUME = `update ${TABLE} set consumed_at = ? where model = ? and id = ? and consumed_at is null and ${LIVE}`;
// Only the consume that set this very mark: one made after it was given back stays.
const UNCONSUME = `update ${TABLE} set consumed_at = null where model = ? and id = ? and consumed_at = ?`;
// One statement on PostgreSQL: the insert happens only if this very statement consumed the old row.
const CONSUME_THEN_UPSERT_PG =
  `with consumed as (${CONSUME} returning id) ` +
  `insert into ${TABLE} (${COLUMNS}) select ?::varchar, ?::varchar, ?::text, ?::varchar, ?::varchar, ?::varchar, ?::bigint, ?::bigint where exists (select 1 from consumed) ` +
  'on conflict (model, id) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at ' +
  'returning id';

const rowValues = (r: OidcModelRow) => [r.model, r.id, r.payload, r.grant_id, r.user_code, r.uid, r.expires_at, r.consumed_at];

function toRow(model: string, id: string, payload: AdapterPayload, expiresIn: number | undefined, now: number): OidcModelRow {
  return {
    model,
    id,
    payload: stringifyStored(payload),
    grant_id: indexed(payload.grantId),
    user_code: indexed(payload.userCode),
    uid: indexed(payload.uid),
    expires_at: typeof expiresIn === 'number' ? now + Math.ceil(keptSeconds(expiresIn)! * 1000) : null,
    // A re-saved artifact keeps its consumed mark, or a second consume would succeed.
    consumed_at: typeof payload.consumed === 'number' ? payload.consumed * 1000 : null,
  };
}

/** A SQL-stored model's adapter, plus the one write that consumes a token and saves its successor. */
export interface SqlStore extends Adapter {
  /**
   * Consumes `consumedId` (compare-and-set, as `consume`) and saves `id` only if that succeeded, in
   * one step: a rotated refresh token costs one round trip instead of two. AlreadyConsumedError if
   * the old one was consumed already (then nothing is saved). Returns what takes both back.
   */
  consumeThenUpsert(consumedId: string, id: string, payload: AdapterPayload, expiresIn?: number): Promise<GiveBack>;
  /** `consume`, returning what takes this consume back. */
  consumeOnce(id: string): Promise<GiveBack>;
  /** The statements `destroy` and `revokeByGrantId` run, to be sent with others (storage/revocation-hold.ts). */
  destroyWrite(id: string): SqlWrite;
  revokeWrite(grantId: string): SqlWrite;
}

/** Every oidc-provider model in the one `oidc_models` table, keyed by (model, id). */
/** Models whose saves can wait for the end of the request (see write-batch.ts). */
const DEFERRED_WRITE: ReadonlySet<string> = new Set(['Grant', 'SessionAuthentication']);

export function sqlAdapter(db: Database): new (model: string) => SqlStore {
  const sql = statements(db);
  const batch = writeBatch(db);
  // A give-back that found the database away is sent again until it answers (then the artifact stays spent).
  const later = settleLater({ forMs: 30_000 });
  const giveBack =
    (...steps: [string, unknown[]][]): GiveBack =>
    async () => {
      const run = async () => {
        for (const [text, params] of steps) await sql.run(text, params);
      };
      await run().catch((err: unknown) => {
        later(run);
        throw err;
      });
    };
  return class SqlAdapter implements SqlStore {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const now = Date.now();
      const row = toRow(this.#model, id, payload, expiresIn, now);
      if (this.#model === 'ReplayDetection') {
        await batch.flush();
        // Insert-if-absent: only an expired, not yet swept row may be replaced. Of two instances
        // racing through find-then-upsert, exactly one gets its row back.
        const won = await db(TABLE).insert(row).onConflict(['model', 'id']).merge().where(`${TABLE}.expires_at`, '<=', now).returning('id');
        if (won.length === 0) throw new ReplayDetectedError();
        return;
      }
      if (DEFERRED_WRITE.has(this.#model)) return batch.defer(`${TABLE}:${this.#model}:${id}`, UPSERT, rowValues(row));
      await batch.flush();
      await sql.run(UPSERT, rowValues(row));
    }

    async consumeThenUpsert(consumedId: string, id: string, payload: AdapterPayload, expiresIn?: number): Promise<GiveBack> {
      const now = Date.now();
      const row = toRow(this.#model, id, payload, expiresIn, now);
      const consume = [now, this.#model, consumedId, now];
      await batch.flush();
      let saved: boolean;
      if (sql.pg) saved = (await sql.all(CONSUME_THEN_UPSERT_PG, [...consume, ...rowValues(row)])).length > 0;
      else {
        saved = await sql.onSqlite((statement, conn) =>
          conn
            .transaction(() => {
              if (statement(CONSUME).run(...consume).changes === 0) return false;
              statement(UPSERT).run(...rowValues(row));
              return true;
            })
            .immediate(),
        );
      }
      if (!saved) throw new AlreadyConsumedError(this.#model);
      // The successor was never handed out: it goes, and its predecessor is unspent again.
      return giveBack([`delete from ${TABLE} where model = ? and id = ?`, [this.#model, id]], [UNCONSUME, [this.#model, consumedId, now]]);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const row = await sql.first<OidcModelRow>(`select payload, consumed_at from ${TABLE} where model = ? and id = ? and ${LIVE}`, [this.#model, id, Date.now()]);
      return row && toPayload(row);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#newest('user_code', userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#newest('uid', uid);
    }

    async consume(id: string): Promise<void> {
      await this.consumeOnce(id);
    }

    async consumeOnce(id: string): Promise<GiveBack> {
      await batch.flush();
      const now = Date.now();
      if ((await sql.run(CONSUME, [now, this.#model, id, now])) === 0) throw new AlreadyConsumedError(this.#model);
      return giveBack([UNCONSUME, [this.#model, id, now]]);
    }

    async destroy(id: string): Promise<void> {
      await batch.flush();
      const { sql: text, params } = this.destroyWrite(id);
      await sql.run(text, params);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await batch.flush();
      const { sql: text, params } = this.revokeWrite(grantId);
      await sql.run(text, params);
    }

    destroyWrite(id: string): SqlWrite {
      return { sql: `delete from ${TABLE} where model = ? and id = ?`, params: [this.#model, id] };
    }

    revokeWrite(grantId: string): SqlWrite {
      return { sql: `delete from ${TABLE} where model = ? and grant_id = ?`, params: [this.#model, grantId] };
    }

    async #newest(column: 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> {
      // Newest first: a Session's old id can still be stored under the same uid for a moment.
      const row = await sql.first<OidcModelRow>(
        `select payload, consumed_at from ${TABLE} where model = ? and ${column} = ? and ${LIVE} order by expires_at desc limit 1`,
        [this.#model, value, Date.now()],
      );
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

/** A SQL-stored token's session, when sessions are stored in SQL too: what its session-binding check reads next. */
export interface TokenSession {
  uid: string;
  /** Undefined: no live session has that uid. */
  payload: AdapterPayload | undefined;
}

interface ContextRow {
  g_payload: string | null;
  g_consumed_at: number | null;
  [column: string]: unknown;
}

const CONTEXT_COLUMNS = `g.payload as g_payload, g.consumed_at as g_consumed_at, ${accountColumns('a')}`;
const LIVE_GRANT = `g.model = 'Grant' and (g.expires_at is null or g.expires_at > ?)`;

function splitContext(row: ContextRow | undefined): TokenContext {
  if (!row) return { grant: undefined, account: undefined };
  const { g_payload, g_consumed_at, r_payload: _payload, r_consumed_at: _consumed, ...account } = row;
  return {
    grant: g_payload === null ? undefined : toPayload({ payload: g_payload, consumed_at: g_consumed_at } as OidcModelRow),
    account: account.sub === null || account.sub === undefined ? undefined : account,
  };
}


/**
 * Hand-written statements for the hot path: a token's use (userinfo, introspection, the code and
 * refresh grants) reads the token, its grant and its account; these read all of it in one round trip.
 * `sessionsInSql`: sessions are stored in SQL too (no Redis), so a SQL-stored token's session, which
 * oidc-provider's session binding reads next, comes in the same round trip.
 */
export function tokenContextQueries(db: Database, { sessionsInSql = false }: { sessionsInSql?: boolean } = {}) {
  const sql = statements(db);
  const pg = isPostgres(db);
  const accountIdOf = pg ? `(r.payload::json ->> 'accountId')` : `json_extract(r.payload, '$.accountId')`;
  const sessionUidOf = pg ? `(r.payload::json ->> 'sessionUid')` : `json_extract(r.payload, '$.sessionUid')`;
  // As the adapter's findByUid: the newest live session of that uid (an old id lingers for a moment).
  /**
   * PostgreSQL refuses `::json` on a payload that holds an escaped NUL (`\u0000`, from a request
   * parameter such as a nonce): 22P05. Such a record is read on its own, and what would have come
   * with it is left to the reads that follow, instead of failing the request.
   */
  const unreadableAsJson = (err: unknown) => pg && (err as { code?: unknown } | undefined)?.code === '22P05';
  const alone = async (model: string, id: string, now: number): Promise<AdapterPayload | undefined> => {
    const row = await sql.first<OidcModelRow>(`select payload, consumed_at from ${TABLE} where model = ? and id = ? and (expires_at is null or expires_at > ?)`, [model, id, now]);
    return row && toPayload(row);
  };
  const SESSION = sessionsInSql
    ? `, ${sessionUidOf} as s_uid, (select s.payload from ${TABLE} s where s.model = 'Session' and s.uid = ${sessionUidOf} and (s.expires_at is null or s.expires_at > ?) order by s.expires_at desc limit 1) as s_payload`
    : '';
  return {
    /** The grant and the account of a token stored elsewhere (Redis). */
    async context(grantId: string, sub: string): Promise<TokenContext> {
      const row = await sql.first<ContextRow>(
        `select ${CONTEXT_COLUMNS} from (select 1 as one) x left join oidc_models g on g.id = ? and ${LIVE_GRANT} left join accounts a on a.sub = ?`,
        [grantId, Date.now(), sub],
      );
      return splitContext(row);
    },
    /**
     * Where sessions are in SQL too: an interaction with its session (the newest live one of its
     * `session.uid`) and the record of `alsoModel` under the same id (a pending second factor), all
     * of which the interaction routes and oidc-provider read next; as the Redis store's
     * findWithSession. Undefined when the interaction is not there.
     */
    async interaction(id: string, alsoModel: string): Promise<{ payload: AdapterPayload; session?: TokenSession | undefined; also: AdapterPayload | undefined; alone?: true } | undefined> {
      if (!sessionsInSql) throw new Error('sessions are not stored in SQL');
      const now = Date.now();
      const uidOf = pg ? `(i.payload::json -> 'session' ->> 'uid')` : `json_extract(i.payload, '$.session.uid')`;
      const row = await sql
        .first<{ i_payload: string; i_consumed_at: number | null; s_uid: string | null; s_payload: string | null; o_payload: string | null; o_consumed_at: number | null }>(
        `select i.payload as i_payload, i.consumed_at as i_consumed_at, ${uidOf} as s_uid, ` +
          `(select s.payload from ${TABLE} s where s.model = 'Session' and s.uid = ${uidOf} and (s.expires_at is null or s.expires_at > ?) order by s.expires_at desc limit 1) as s_payload, ` +
          `o.payload as o_payload, o.consumed_at as o_consumed_at from ${TABLE} i ` +
          `left join ${TABLE} o on o.model = ? and o.id = i.id and (o.expires_at is null or o.expires_at > ?) ` +
          `where i.model = 'Interaction' and i.id = ? and (i.expires_at is null or i.expires_at > ?)`,
          [now, alsoModel, now, id, now],
        )
        .catch(async (err: unknown) => {
          if (!unreadableAsJson(err)) throw err;
          return alone('Interaction', id, now).then((payload) => payload && { payload, alone: true as const });
        });
      if (!row) return undefined;
      if ('alone' in row) return { payload: row.payload, also: undefined, alone: true };
      return {
        payload: toPayload({ payload: row.i_payload, consumed_at: row.i_consumed_at } as OidcModelRow),
        session: typeof row.s_uid === 'string' ? { uid: row.s_uid, payload: typeof row.s_payload === 'string' ? parseStored<AdapterPayload>(row.s_payload) : undefined } : undefined,
        also: typeof row.o_payload === 'string' ? toPayload({ payload: row.o_payload, consumed_at: row.o_consumed_at } as OidcModelRow) : undefined,
      };
    },
    /** A SQL-stored token (a refresh token) with its grant and account, and its session where sessions are in SQL. */
    async find(model: string, id: string): Promise<(TokenContext & { payload: AdapterPayload; session?: TokenSession | undefined; alone?: true }) | undefined> {
      const now = Date.now();
      const row = await sql
        .first<ContextRow & { s_uid?: string | null; s_payload?: string | null }>(
        `select r.payload as r_payload, r.consumed_at as r_consumed_at${SESSION}, ${CONTEXT_COLUMNS} from oidc_models r ` +
          `left join oidc_models g on g.id = r.grant_id and ${LIVE_GRANT} left join accounts a on a.sub = ${accountIdOf} ` +
          `where r.model = ? and r.id = ? and (r.expires_at is null or r.expires_at > ?)`,
          [...(SESSION ? [now] : []), now, model, id, now],
        )
        .catch(async (err: unknown) => {
          if (!unreadableAsJson(err)) throw err;
          return alone(model, id, now).then((payload) => payload && { payload, alone: true as const });
        });
      if (!row) return undefined;
      if ('alone' in row && row.alone === true) return { payload: row.payload as AdapterPayload, grant: undefined, account: undefined, alone: true };
      const { s_uid, s_payload, ...rest } = row as ContextRow & { s_uid?: string | null; s_payload?: string | null };
      const payload = toPayload({ payload: rest.r_payload, consumed_at: rest.r_consumed_at } as OidcModelRow);
      const session = typeof s_uid === 'string' ? { uid: s_uid, payload: typeof s_payload === 'string' ? parseStored<AdapterPayload>(s_payload) : undefined } : undefined;
      return { payload, session, ...splitContext(rest as ContextRow) };
    },
  };
}
export type TokenContextQueries = ReturnType<typeof tokenContextQueries>;

/** The models that are tokens of a grant: they die with it. */
const GRANT_TOKEN_MODELS = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode'];

/**
 * Runs held grant revocations (storage/revocation-hold.ts) in one transaction, after the request's
 * queued upserts: each grant's delete (reading what it deleted), its tokens' deletes, and the record
 * when a grant was deleted; then what waits for the commit.
 */
export function revocationSender(db: Database): SendRevocations {
  const batch = writeBatch(db);
  return async (held, record, opts) => {
    await batch.flush();
    await db.transaction(async (trx) => {
      const revoked: RevokedGrant[] = [];
      for (const [grantId, h] of held) {
        if (h.grant) {
          const row = (await trx(TABLE).where({ model: 'Grant', id: grantId }).first('payload')) as Pick<OidcModelRow, 'payload'> | undefined;
          // The delete's own count decides (portable; a concurrent revocation's read also saw the row, and its delete waits for this one and finds none).
          const deleted = row ? await trx(TABLE).where({ model: 'Grant', id: grantId }).del() : 0;
          if (row && deleted > 0) {
            const { accountId, clientId } = parseStored<AdapterPayload>(row.payload);
            revoked.push({ grantId, accountId: typeof accountId === 'string' ? accountId : undefined, clientId: typeof clientId === 'string' ? clientId : undefined });
          }
          // Every SQL-stored token of the grant, not only those of the grant types the requesting
          // app may use (oidc-provider's revoke: a code-only app's logout left another app's
          // refresh tokens behind its revoked grant). Tokens only: an interaction names the grant
          // it may extend, and deleting it broke a sign-in that went on past a logout.
          await trx(TABLE).where({ grant_id: grantId }).whereIn('model', GRANT_TOKEN_MODELS).del();
        }
        for (const w of h.sql) await trx.raw(w.sql, w.params as Knex.RawBinding[]);
      }
      if (record && (revoked.length || opts?.always)) await record(trx, revoked);
    });
    for (const [, h] of held) await runAfter(h.after);
  };
}
