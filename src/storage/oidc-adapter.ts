import type { Knex } from 'knex';
import type { Database } from './database.js';
import { forgetWritten, readText, writtenText } from './stored-json.js';
import type { RedisClient } from './redis.js';
import { AlreadyConsumedError, type Adapter, type AdapterConstructor, type AdapterPayload } from './adapter-types.js';
import { revocationSender, sqlAdapter, tokenContextQueries, type SqlStore, type TokenContext } from './sql-adapter.js';
import { deferDelete, flushDeferredDeletes, redisAdapter, type RedisStore } from './redis-adapter.js';
import type { ClientCache } from './client-cache.js';
import type { AccountIndex } from './account-index.js';
import { requestMemo, type RequestMemo } from './request-memo.js';
import { afterRevocationCommit, heldRevocation, inRevocationTransaction, revocationsLanding, type HeldRevocation } from './revocation-hold.js';

export type { Adapter, AdapterConstructor, AdapterPayload } from './adapter-types.js';
export { AlreadyConsumedError, ReplayDetectedError } from './adapter-types.js';

/**
 * Short-lived, high-churn models that go to Redis when there is one. Everything else (Client,
 * Grant, RefreshToken, RegistrationAccessToken, InitialAccessToken, models added by future
 * oidc-provider versions) must survive a Redis flush, so it stays in SQL.
 */
export const REDIS_MODELS: ReadonlySet<string> = new Set([
  'Session',
  'Interaction',
  'AuthorizationCode',
  'AccessToken',
  'ClientCredentials',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  // Yihao's own short-lived records: pending sign-in and registration steps, portal sessions.
  'PendingSecondFactor',
  'RegistrationPending',
  'PortalLogin',
  'PortalSession',
  'PendingSmsLogin',
  'PasswordResetPending',
  'WebAuthnChallenge',
  // The QR hand-offs' browser bindings.
  'QrHandoff',
  // Credential offers (pre-authorized code flow): minutes-long.
  'CredentialOffer',
  // Which certificate an offer's tokens are for: lives as long as their access token.
  'CredentialOfferBinding',
  // Presentation requests (OID4VP) and their results: minutes-long.
  'PresentationRequest',
]);

/**
 * Requests a client polls for (CIBA). oidc-provider answers a poll of an expired one with
 * `expired_token` only while the record is still stored (its own `exp` says it expired), so these
 * stay a while past their expiry instead of vanishing into `invalid_grant`. (The device flow's
 * DeviceCode has the same need.)
 */
const POLLED_MODELS: ReadonlySet<string> = new Set(['BackchannelAuthenticationRequest']);
const POLL_GRACE_SECONDS = 300;

export interface OidcAdapterOptions {
  db: Database;
  /** Without Redis every model is stored in SQL. */
  redis?: RedisClient | undefined;
  /** Start of every Redis key, so several deployments (or tests) can share one Redis. */
  redisPrefix?: string;
  clientCache?: ClientCache | undefined;
  accountIndex?: AccountIndex | undefined;
}

/** Tokens whose every use reads their grant and account next. */
const TOKEN_MODELS: ReadonlySet<string> = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

/** The memo key under which accounts.ts remembers an `accounts` row by sub. */
export const accountKey = (sub: string) => `account:sub:${sub}`;

/** Never over what the request already knows: it may have saved that grant itself (not yet sent, see write-batch.ts). */
function rememberContext(memo: RequestMemo, payload: AdapterPayload, context: TokenContext): void {
  const grantKey = `Grant:${String(payload.grantId)}`;
  if (typeof payload.grantId === 'string' && !memo.records.has(grantKey)) memo.records.set(grantKey, context.grant === undefined ? null : readText(context.grant));
  const account = typeof payload.accountId === 'string' ? accountKey(payload.accountId) : undefined;
  if (account && !memo.values.has(account)) memo.values.set(account, Promise.resolve(context.account));
}

/**
 * A stored record's text with `consumed` set, without parsing it: a member written last wins when
 * the text is parsed (ECMA-262 JSON.parse), whether or not the record had one already.
 */
function withConsumed(text: string, consumed: number): string {
  const end = text.lastIndexOf('}');
  const empty = text.slice(0, end).trim() === '{';
  return `${text.slice(0, end)}${empty ? '' : ','}"consumed":${consumed}}`;
}

/** Redis-stored models whose delete oidc-provider follows with a save (see redis-adapter's deferDelete). */
const DEFERRED_DESTROY: ReadonlySet<string> = new Set(['Interaction', 'Session']);

/** What a sign-out ends besides grants: browser sessions, the logins of the channels without one, an operator's console session. */
const SIGNED_OUT_MODELS: ReadonlySet<string> = new Set(['Session', 'ChannelSession', 'AdminConsoleSession']);

function rememberSession(memo: RequestMemo, session: { uid: string; payload: AdapterPayload | undefined }): void {
  // Never over what the request already knows of it: it may have saved that session itself.
  if (memo.uids.has(`Session:${session.uid}`)) return;
  const sessionId = session.payload?.jti;
  memo.uids.set(`Session:${session.uid}`, typeof sessionId === 'string' ? sessionId : '');
  if (typeof sessionId === 'string') memo.records.set(`Session:${sessionId}`, readText(session.payload!));
}

/**
 * Models whose consume is always followed, in the same request, by the save of a successor: the
 * refresh_token grant consumes the presented refresh token and then saves the rotated one. The
 * consume waits for that save and both go out as one compare-and-set statement; the loser of two
 * concurrent rotations gets AlreadyConsumedError from the save, exactly as it would have from the
 * consume, and nothing was issued to it. Any other write in the meantime, or the end of the
 * request, sends the consume on its own first.
 */
const DEFERRED_CONSUME: ReadonlySet<string> = new Set(['RefreshToken']);
const PENDING_CONSUME = 'storage:pendingConsume';

/**
 * The artifacts whose second use oidc-provider takes for theft and answers by revoking their grant
 * (see oidc/reuse-revocation.ts). A token request spends one first and saves the tokens after: when
 * a store fails in between (or the answer is a 5xx for any other reason), nothing was delivered, and
 * the relying party's retry must not find it spent. The request gives it back as it fails (a rotated
 * refresh token's successor goes with it).
 */
const GIVEN_BACK_ON_FAILURE: ReadonlySet<string> = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

interface PendingConsume {
  model: string;
  id: string;
  flush(): Promise<void>;
}

/**
 * A consume that lost names the grant of what it consumed, as this request read it (from the memo,
 * so only the losing path pays, and no round trip): the caller revokes that grant, as for any reuse.
 */
function nameTheGrant(memo: RequestMemo | undefined, key: string): (err: unknown) => never {
  return (err) => {
    const known = err instanceof AlreadyConsumedError ? memo?.records.get(key) : undefined;
    const grantId = known ? (JSON.parse(known) as AdapterPayload).grantId : undefined;
    if (typeof grantId === 'string') (err as AlreadyConsumedError).grantId ??= grantId;
    throw err;
  };
}

function deferConsume(memo: RequestMemo, model: string, id: string, store: SqlStore): void {
  const lost = nameTheGrant(memo, `${model}:${id}`);
  const pending: PendingConsume = { model, id, flush: () => store.consumeOnce(id).then((giveBack) => void memo.onFailure.push(giveBack), lost) };
  memo.notes.set(PENDING_CONSUME, pending);
  memo.settle.push(async () => {
    // Nothing was saved after it: consume it anyway, as oidc-provider asked; whoever consumed it first already did.
    if (takePendingConsume(memo) === pending) await pending.flush().catch(() => undefined);
  });
}

function takePendingConsume(memo: RequestMemo): PendingConsume | undefined {
  const pending = memo.notes.get(PENDING_CONSUME) as PendingConsume | undefined;
  memo.notes.delete(PENDING_CONSUME);
  return pending;
}

/**
 * Ids, codes and uids come from requests (a client id, a token, a user code). No stored one holds a
 * NUL, and PostgreSQL refuses NUL in text outright: such a lookup finds nothing, as it does on SQLite
 * and Redis, instead of failing the request.
 */
const unstorable = (id: string): boolean => typeof id !== 'string' || id.includes('\0');

/** The `adapter` for oidc-provider's configuration: each model to Redis or SQL. */
export function oidcAdapter({ db, redis, redisPrefix = 'yihao:', clientCache, accountIndex }: OidcAdapterOptions): AdapterConstructor {
  const Sql = sqlAdapter(db);
  const Redis = redis ? redisAdapter(redis, redisPrefix) : undefined;
  const tokenContext = tokenContextQueries(db, { sessionsInSql: !Redis });
  const sendRevocations = revocationSender(db);

  return class OidcAdapter implements Adapter {
    readonly #store: Adapter;
    readonly #grace: number;

    constructor(model: string) {
      this.#model = model;
      this.#grace = POLLED_MODELS.has(model) ? POLL_GRACE_SECONDS : 0;
      this.#inRedis = Boolean(Redis && REDIS_MODELS.has(model));
      if (Redis && this.#inRedis) this.#redisStore = new Redis(model);
      else this.#sqlStore = new Sql(model);
      let store: Adapter = this.#redisStore ?? this.#sqlStore!;
      if (model === 'Client' && clientCache) store = clientCache.wrap(store);
      if (accountIndex) store = accountIndex.wrap(model, store);
      this.#store = store;
    }

    readonly #model: string;
    readonly #inRedis: boolean;
    readonly #redisStore: RedisStore | undefined;
    readonly #sqlStore: SqlStore | undefined;

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const memo = requestMemo();
      const landing = memo && revocationsLanding(memo);
      if (landing) await landing;
      // What the memo keeps is what this save writes (or, deferred, the payload as it is now).
      forgetWritten(payload);
      const pending = memo && takePendingConsume(memo);
      if (pending && pending.model === this.#model && this.#sqlStore) {
        // The rotated refresh token's consume and its successor's save, as one statement.
        memo.onFailure.push(await this.#sqlStore.consumeThenUpsert(pending.id, id, payload, this.#keep(expiresIn)).catch(nameTheGrant(memo, this.#recordKey(pending.id))));
        // Past the account index's wrapper: the successor keeps its grant linked to its login's key.
        await accountIndex?.linkKeys(this.#model, payload, this.#keep(expiresIn));
      } else {
        await pending?.flush();
        await this.#store.upsert(id, payload, this.#keep(expiresIn));
      }
      if (!memo) return;
      memo.records.set(this.#recordKey(id), writtenText(payload));
      if (typeof payload.uid === 'string') memo.uids.set(this.#recordKey(payload.uid), id);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (unstorable(id)) return undefined;
      const memo = requestMemo();
      if (!memo) return this.#store.find(id);
      // The one object the client cache keeps for a client, which nobody writes to: oidc-provider
      // finds its Client instance by it (oidc/internals.ts clientsByPayload). Through the memo it
      // would only be serialised and parsed again. Not cached (or not kept while the cache cannot
      // hear changes), it is read through the memo as any record.
      const cachedClient = this.#model === 'Client' ? clientCache?.cached(id) : undefined;
      if (cachedClient) return cachedClient;
      const key = this.#recordKey(id);
      const known = memo.records.get(key);
      if (known !== undefined) return known === null ? undefined : (JSON.parse(known) as AdapterPayload);
      let found: AdapterPayload | undefined;
      if (TOKEN_MODELS.has(this.#model)) found = await this.#findWithContext(memo, id);
      else if (this.#model === 'Interaction' && this.#redisStore) {
        // The interaction routes and oidc-provider go on to read its session and its pending second factor.
        const withSession = await this.#redisStore.findWithSession(id, 'PendingSecondFactor');
        found = withSession?.payload;
        if (withSession?.session) rememberSession(memo, withSession.session);
        if (withSession) memo.records.set(`PendingSecondFactor:${id}`, withSession.also === undefined ? null : readText(withSession.also));
      } else if (this.#model === 'Interaction' && !Redis) {
        // The same three reads in one statement where everything is in SQL.
        const withSession = await tokenContext.interaction(id, 'PendingSecondFactor');
        found = withSession?.payload;
        if (withSession?.session) rememberSession(memo, withSession.session);
        if (withSession && !withSession.alone) memo.records.set(`PendingSecondFactor:${id}`, withSession.also === undefined ? null : readText(withSession.also));
      } else found = await this.#store.find(id);
      memo.records.set(key, found === undefined ? null : readText(found));
      if (found && this.#model === 'Interaction') await this.#prefetchConsented(memo, found);
      return found;
    }

    /**
     * An interaction that comes back with a consent result is being resumed: the authorization
     * goes on to read the consented grant and the account, which come along in one statement.
     */
    async #prefetchConsented(memo: RequestMemo, interaction: AdapterPayload): Promise<void> {
      const { result, session } = interaction as { result?: { consent?: { grantId?: unknown }; login?: { accountId?: unknown } }; session?: { accountId?: unknown } };
      const grantId = result?.consent?.grantId;
      const sub = result?.login?.accountId ?? session?.accountId;
      if (typeof grantId !== 'string' || typeof sub !== 'string') return;
      if (memo.records.has(`Grant:${grantId}`) && memo.values.has(accountKey(sub))) return;
      rememberContext(memo, { grantId, accountId: sub }, await tokenContext.context(grantId, sub));
    }

    /**
     * Every use of a token goes on to read its grant and its account: they come along in the same
     * SQL round trip as a SQL-stored token, or in one round trip after a Redis-stored one.
     */
    async #findWithContext(memo: RequestMemo, id: string): Promise<AdapterPayload | undefined> {
      if (!this.#inRedis) {
        const found = await tokenContext.find(this.#model, id);
        // Read alone (see tokenContextQueries): its grant, account and session are read as usual next.
        if (found && !found.alone) rememberContext(memo, found.payload, found);
        if (found?.session) rememberSession(memo, found.session);
        return found?.payload;
      }
      const found = await this.#redisStore!.findWithSession(id);
      const payload = found?.payload;
      if (found?.session) rememberSession(memo, found.session);
      const grantId = payload?.grantId;
      const sub = payload?.accountId;
      if (payload && typeof grantId === 'string' && typeof sub === 'string' && !(memo.records.has(`Grant:${grantId}`) && memo.values.has(accountKey(sub)))) {
        rememberContext(memo, payload, await tokenContext.context(grantId, sub));
      }
      return payload;
    }

    #keep(expiresIn: number | undefined): number | undefined {
      return typeof expiresIn === 'number' ? expiresIn + this.#grace : expiresIn;
    }

    #recordKey(id: string): string {
      return `${this.#model}:${id}`;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (unstorable(userCode)) return undefined;
      const memo = requestMemo();
      // An index key still points at a record whose delete waits for a save: carry it out first.
      if (memo) await flushDeferredDeletes(memo);
      return this.#store.findByUserCode(userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (unstorable(uid)) return undefined;
      const memo = requestMemo();
      if (!memo) return this.#store.findByUid(uid);
      const id = memo.uids.get(this.#recordKey(uid));
      // '' : this request already found that no record has this uid.
      if (id !== undefined) return id === '' ? undefined : this.find(id);
      await flushDeferredDeletes(memo);
      const found = await this.#store.findByUid(uid);
      const foundId = typeof found?.jti === 'string' ? found.jti : undefined;
      if (found && foundId) {
        memo.uids.set(this.#recordKey(uid), foundId);
        memo.records.set(this.#recordKey(foundId), readText(found));
      }
      return found;
    }

    async consume(id: string): Promise<void> {
      const memo = requestMemo();
      if (memo) await takePendingConsume(memo)?.flush();
      if (memo) await flushDeferredDeletes(memo);
      if (memo && this.#sqlStore && DEFERRED_CONSUME.has(this.#model)) deferConsume(memo, this.#model, id, this.#sqlStore);
      else if (memo && GIVEN_BACK_ON_FAILURE.has(this.#model)) {
        const store = this.#redisStore ?? this.#sqlStore!;
        memo.onFailure.push(await store.consumeOnce(id).catch(nameTheGrant(memo, this.#recordKey(id))));
      } else await this.#store.consume(id).catch(nameTheGrant(memo, this.#recordKey(id)));
      const known = memo?.records.get(this.#recordKey(id));
      // The store decided (compare-and-set); this request now knows the record as consumed, as the store would answer.
      if (memo && known) memo.records.set(this.#recordKey(id), withConsumed(known, Math.floor(Date.now() / 1000)));
    }

    async destroy(id: string): Promise<void> {
      const memo = requestMemo();
      if (memo) await takePendingConsume(memo)?.flush();
      if (memo && SIGNED_OUT_MODELS.has(this.#model) && this.#holdSignOut(id)) {
        // Gone for the rest of the request, by its uid too (a logout's wrapper looks it up that way).
        const known = memo.records.get(this.#recordKey(id));
        const uid = known ? (JSON.parse(known) as AdapterPayload).uid : undefined;
        if (typeof uid === 'string') memo.uids.set(this.#recordKey(uid), '');
        memo.records.set(this.#recordKey(id), null);
        return;
      }
      const held = memo && this.#held(memo, this.#grantOf(memo, id));
      if (held) {
        if (this.#model === 'Grant') held.grant = true;
        else if (this.#sqlStore) held.sql.push(this.#sqlStore.destroyWrite(id));
        else held.after.push(() => this.#store.destroy(id));
      } else {
        const landing = memo && revocationsLanding(memo);
        if (landing) await landing;
        if (memo && this.#redisStore && DEFERRED_DESTROY.has(this.#model)) deferDelete(memo, this.#redisStore, id);
        else await this.#store.destroy(id);
      }
      requestMemo()?.records.set(this.#recordKey(id), null);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const memo = requestMemo();
      if (memo) await takePendingConsume(memo)?.flush();
      if (memo) await flushDeferredDeletes(memo);
      const held = memo && this.#held(memo, grantId);
      if (held) {
        if (this.#sqlStore) held.sql.push(this.#sqlStore.revokeWrite(grantId));
        else held.after.push(() => this.#store.revokeByGrantId(grantId));
      } else await this.#store.revokeByGrantId(grantId);
      if (!memo) return;
      for (const key of memo.records.keys()) if (key.startsWith(`${this.#model}:`)) memo.records.delete(key);
    }

    /**
     * A session a held sign-out ends (storage/revocation-hold.ts `revokeWithRecord`): deleted in its
     * transaction where it is in SQL, after the commit where it is in Redis (its index row with it).
     * False when no sign-out is held.
     */
    #holdSignOut(id: string): boolean {
      if (!this.#sqlStore) return afterRevocationCommit(() => this.#store.destroy(id));
      const { sql, params } = this.#sqlStore.destroyWrite(id);
      return inRevocationTransaction(async (trx) => {
        await trx.raw(sql, params as Knex.RawBinding[]);
        if (this.#model === 'ChannelSession') await accountIndex?.remove('ChannelSession', id, trx);
      }, sendRevocations);
    }

    /** The grant a record belongs to: a grant is its own; a token names its grant, as this request read it. */
    #grantOf(memo: RequestMemo, id: string): string | undefined {
      if (this.#model === 'Grant') return id;
      if (!TOKEN_MODELS.has(this.#model)) return undefined;
      const known = memo.records.get(this.#recordKey(id));
      const grantId = known ? (JSON.parse(known) as AdapterPayload).grantId : undefined;
      return typeof grantId === 'string' ? grantId : undefined;
    }

    /** Where this request holds `grantId`'s revocation (storage/revocation-hold.ts). */
    #held(memo: RequestMemo, grantId: string | undefined): HeldRevocation | undefined {
      return grantId === undefined ? undefined : heldRevocation(memo, grantId, sendRevocations);
    }
  };
}
