import { createHash } from 'node:crypto';
import type { RedisClient } from './redis.js';
import {
  AlreadyConsumedError,
  ReplayDetectedError,
  type Adapter,
  type AdapterConstructor,
  type AdapterPayload,
} from './adapter-types.js';

// Each record is a hash: `payload` (JSON), `consumed` (epoch s, once used) and copies of the
// indexed fields, so destroy can clean the indexes without parsing the payload.

/** Adds a member and stretches the index TTL to cover it; a member with no TTL makes it persist. */
const ADD_TO_GRANT = `
local fresh = redis.call('EXISTS', KEYS[1]) == 0
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl < 0 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
local current = redis.call('PTTL', KEYS[1])
if fresh or (current >= 0 and current < ttl) then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`;

/** Sets `consumed` once, on a record that still exists. 1 = this call consumed it. */
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`;

/**
 * SET NX for a hash record. ReplayDetection.unique() is find-then-upsert: two instances handed the
 * same JWT can both find nothing and both upsert, and both would accept the replay. Creating the
 * record only if absent, in one step on the server, lets exactly one of them succeed.
 */
const CREATE_IF_ABSENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

/** Deletes each index key that still points at ARGV[1]; a Session's uid may already point at its new id. */
const DELETE_IF_POINTS_AT = `
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1`;

type Arg = string | number;

function script(redis: RedisClient, source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (keys: string[], args: Arg[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}

/** MULTI reports command errors per entry instead of rejecting. */
async function execAll(multi: ReturnType<RedisClient['multi']>): Promise<void> {
  const results = await multi.exec();
  const failed = results?.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Milliseconds for PX/PEXPIRE, which refuse 0 and negatives; undefined means no expiry. */
const ttlMs = (expiresIn: number | undefined): number | undefined =>
  typeof expiresIn === 'number' ? Math.max(1, Math.ceil(expiresIn * 1000)) : undefined;

/** Short-lived oidc-provider models in Redis, with native expiry. Keys start with `prefix`. */
export function redisAdapter(redis: RedisClient, prefix: string): AdapterConstructor {
  const consume = script(redis, CONSUME);
  const createIfAbsent = script(redis, CREATE_IF_ABSENT);
  const grantKey = (grantId: string) => `${prefix}grant:${grantId}`;

  return class RedisAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${prefix}oidc:${this.#model}:${id}`;
    }

    #uidKey(uid: string): string {
      return `${prefix}uid:${this.#model}:${uid}`;
    }

    #userCodeKey(userCode: string): string {
      return `${prefix}userCode:${this.#model}:${userCode}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.#key(id);
      const ms = ttlMs(expiresIn);
      const json = JSON.stringify(payload);

      if (this.#model === 'ReplayDetection') {
        if ((await createIfAbsent([key], [json, ms ?? -1])) !== 1) throw new ReplayDetectedError();
        return;
      }

      const grantId = text(payload.grantId);
      const uid = text(payload.uid);
      const userCode = text(payload.userCode);
      const fields: Record<string, string | number> = { payload: json };
      if (typeof payload.consumed === 'number') fields.consumed = payload.consumed;
      if (grantId) fields.grantId = grantId;
      if (uid) fields.uid = uid;
      if (userCode) fields.userCode = userCode;

      const multi = redis.multi().del(key).hset(key, fields);
      if (ms) multi.pexpire(key, ms);
      // Index keys live exactly as long as the record they point at.
      for (const indexKey of [uid && this.#uidKey(uid), userCode && this.#userCodeKey(userCode)]) {
        if (!indexKey) continue;
        if (ms) multi.set(indexKey, id, 'PX', ms);
        else multi.set(indexKey, id);
      }
      // MULTI cannot run EVALSHA safely (a NOSCRIPT aborts only that entry), so send the source.
      if (grantId) multi.eval(ADD_TO_GRANT, 1, grantKey(grantId), key, ms ?? -1);
      await execAll(multi);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const { payload, consumed } = await redis.hgetall(this.#key(id));
      if (payload === undefined) return undefined;
      const parsed = JSON.parse(payload) as AdapterPayload;
      return consumed === undefined ? parsed : { ...parsed, consumed: Number(consumed) };
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const id = await redis.get(this.#userCodeKey(userCode));
      return id === null ? undefined : this.find(id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = await redis.get(this.#uidKey(uid));
      return id === null ? undefined : this.find(id);
    }

    async consume(id: string): Promise<void> {
      if ((await consume([this.#key(id)], [Math.floor(Date.now() / 1000)])) !== 1) {
        throw new AlreadyConsumedError(this.#model);
      }
    }

    async destroy(id: string): Promise<void> {
      const key = this.#key(id);
      const [grantId, uid, userCode] = await redis.hmget(key, 'grantId', 'uid', 'userCode');
      const multi = redis.multi().del(key);
      if (grantId) multi.srem(grantKey(grantId), key);
      const indexKeys = [uid && this.#uidKey(uid), userCode && this.#userCodeKey(userCode)].filter(
        (k): k is string => Boolean(k),
      );
      if (indexKeys.length) multi.eval(DELETE_IF_POINTS_AT, indexKeys.length, ...indexKeys, id);
      await execAll(multi);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const index = grantKey(grantId);
      // The index is shared by every model of the grant; this model removes only its own members.
      const own = `${prefix}oidc:${this.#model}:`;
      const members = (await redis.smembers(index)).filter((member) => member.startsWith(own));
      if (members.length === 0) return;
      // A member re-saved under another grant since it was indexed is no longer this grant's.
      const owners = await Promise.all(members.map((member) => redis.hget(member, 'grantId')));
      const revoked = members.filter((_, i) => owners[i] === grantId);
      const multi = redis.multi().srem(index, ...members);
      // A revoked record's uid/userCode index keys now point at nothing and expire with it.
      if (revoked.length) multi.del(...revoked);
      await execAll(multi);
    }
  };
}
