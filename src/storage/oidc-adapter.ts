import type { Database } from './database.js';
import type { RedisClient } from './redis.js';
import type { Adapter, AdapterConstructor, AdapterPayload } from './adapter-types.js';
import { sqlAdapter } from './sql-adapter.js';
import { redisAdapter } from './redis-adapter.js';
import type { ClientCache } from './client-cache.js';
import type { AccountIndex } from './account-index.js';
import { requestMemo } from './request-memo.js';

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

/** The `adapter` for oidc-provider's configuration: each model to Redis or SQL. */
export function oidcAdapter({ db, redis, redisPrefix = 'yihao:', clientCache, accountIndex }: OidcAdapterOptions): AdapterConstructor {
  const Sql = sqlAdapter(db);
  const Redis = redis ? redisAdapter(redis, redisPrefix) : undefined;

  return class OidcAdapter implements Adapter {
    readonly #store: Adapter;
    readonly #grace: number;

    constructor(model: string) {
      this.#model = model;
      this.#grace = POLLED_MODELS.has(model) ? POLL_GRACE_SECONDS : 0;
      let store: Adapter = Redis && REDIS_MODELS.has(model) ? new Redis(model) : new Sql(model);
      if (model === 'Client' && clientCache) store = clientCache.wrap(store);
      if (accountIndex) store = accountIndex.wrap(model, store);
      this.#store = store;
    }

    readonly #model: string;

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      await this.#store.upsert(id, payload, this.#keep(expiresIn));
      const memo = requestMemo();
      if (!memo) return;
      memo.records.set(this.#recordKey(id), JSON.stringify(payload));
      if (typeof payload.uid === 'string') memo.uids.set(this.#recordKey(payload.uid), id);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const memo = requestMemo();
      if (!memo) return this.#store.find(id);
      const key = this.#recordKey(id);
      const known = memo.records.get(key);
      if (known !== undefined) return known === null ? undefined : (JSON.parse(known) as AdapterPayload);
      const found = await this.#store.find(id);
      memo.records.set(key, found === undefined ? null : JSON.stringify(found));
      return found;
    }

    #keep(expiresIn: number | undefined): number | undefined {
      return typeof expiresIn === 'number' ? expiresIn + this.#grace : expiresIn;
    }

    #recordKey(id: string): string {
      return `${this.#model}:${id}`;
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#store.findByUserCode(userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const memo = requestMemo();
      if (!memo) return this.#store.findByUid(uid);
      const id = memo.uids.get(this.#recordKey(uid));
      if (id !== undefined) return this.find(id);
      const found = await this.#store.findByUid(uid);
      const foundId = typeof found?.jti === 'string' ? found.jti : undefined;
      if (found && foundId) {
        memo.uids.set(this.#recordKey(uid), foundId);
        memo.records.set(this.#recordKey(foundId), JSON.stringify(found));
      }
      return found;
    }

    async consume(id: string): Promise<void> {
      await this.#store.consume(id);
      const memo = requestMemo();
      const known = memo?.records.get(this.#recordKey(id));
      // The store decided (compare-and-set); this request now knows the record as consumed, as the store would answer.
      if (memo && known) memo.records.set(this.#recordKey(id), JSON.stringify({ ...(JSON.parse(known) as AdapterPayload), consumed: Math.floor(Date.now() / 1000) }));
    }

    async destroy(id: string): Promise<void> {
      await this.#store.destroy(id);
      requestMemo()?.records.set(this.#recordKey(id), null);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await this.#store.revokeByGrantId(grantId);
      const memo = requestMemo();
      if (!memo) return;
      for (const key of memo.records.keys()) if (key.startsWith(`${this.#model}:`)) memo.records.delete(key);
    }
  };
}
