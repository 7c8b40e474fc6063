import { randomBytes } from 'node:crypto';
import { parseStored, stringifyStored } from './stored-json.js';
import type { RedisClient } from './redis.js';
import { requestMemo, type RequestMemo } from './request-memo.js';
import { settleLater } from './settle-later.js';
import { REFUSE_WHEN_FULL, redisScript as script, type ScriptArg } from './redis-script.js';
import {
  AlreadyConsumedError,
  ReplayDetectedError,
  type Adapter,
  type AdapterPayload,
  type GiveBack,
  keptSeconds,
} from './adapter-types.js';

// Each record is a hash: `payload` (JSON), `consumed` (epoch s, once used) and copies of the
// indexed fields, so destroy can clean the indexes without parsing the payload.

/**
 * A whole save in one server-side step: first any deletes this request deferred (see DESTROY
 * below, same steps), then the record (replacing every field), its expiry, its index keys (uid,
 * userCode: they live exactly as long as the record) and its grant's member set (whose TTL
 * stretches to cover the record; a member with no TTL makes it persist).
 * KEYS: record, the index keys, then the grant set if any. ARGV: ttl ms (-1: none), how many index
 * keys, 1 if a grant set follows, the id, how many deletes, five values per delete (record key, id,
 * grant/uid/userCode key prefixes), then the hash's field/value pairs.
 */
const UPSERT = `${REFUSE_WHEN_FULL('KEYS[1]')}
local ms = tonumber(ARGV[1])
local indexes = tonumber(ARGV[2])
local at = 6
for _ = 1, tonumber(ARGV[5]) do
  local key, id, grants, uids, codes = ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4]
  at = at + 5
  local f = redis.call('HMGET', key, 'grantId', 'uid', 'userCode')
  redis.call('DEL', key)
  if f[1] then redis.call('SREM', grants .. f[1], key) end
  if f[2] and redis.call('GET', uids .. f[2]) == id then redis.call('DEL', uids .. f[2]) end
  if f[3] and redis.call('GET', codes .. f[3]) == id then redis.call('DEL', codes .. f[3]) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, at))
if ms > 0 then redis.call('PEXPIRE', KEYS[1], ms) end
for i = 2, 1 + indexes do
  if ms > 0 then redis.call('SET', KEYS[i], ARGV[4], 'PX', ms) else redis.call('SET', KEYS[i], ARGV[4]) end
end
if ARGV[3] == '1' then
  local grant = KEYS[2 + indexes]
  local fresh = redis.call('EXISTS', grant) == 0
  redis.call('SADD', grant, KEYS[1])
  if ms < 0 then
    redis.call('PERSIST', grant)
  else
    local current = redis.call('PTTL', grant)
    if fresh or (current >= 0 and current < ms) then redis.call('PEXPIRE', grant, ms) end
  end
end
return 1`;

/**
 * The record an index key (a Session's uid, a device code's userCode) points at, in one round trip.
 * The record's key is built here from ARGV[1] and the id, so it is not declared in KEYS: on a Redis
 * Cluster that works because every key of these models shares one hash slot (see `slot` below).
 */
const FIND_BY_INDEX = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('HGETALL', ARGV[1] .. id)`;

/**
 * A record and what its reader goes on to read: the session it is bound to (a `sessionUid` field,
 * see upsert: a token that expires with its session, or an interaction), found through its uid, and
 * optionally one more record (ARGV[3]: an interaction's pending second factor, under the same id).
 * Replies {} (no record) or {record, 0|1 (whether a session was looked up), session ({} if gone),
 * the other record ({} if none)}. ARGV[1]/ARGV[2]: the Session uid-index and record key prefixes
 * (in the same hash slot, as above).
 */
const FIND_WITH_SESSION = `
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return {} end
local other = {}
if ARGV[3] ~= '' then other = redis.call('HGETALL', ARGV[3]) end
local sessionUid
for i = 1, #record, 2 do
  if record[i] == 'sessionUid' then sessionUid = record[i + 1] end
end
if not sessionUid then return {record, 0, {}, other} end
local id = redis.call('GET', ARGV[1] .. sessionUid)
if not id then return {record, 1, {}, other} end
return {record, 1, redis.call('HGETALL', ARGV[2] .. id), other}`;

/**
 * Deletes a record, takes it out of its grant's set, and deletes each of its index keys that still
 * points at it (a Session's uid may already point at its new id). Key names are built from ARGV:
 * ARGV[1] the id, ARGV[2] the grant key prefix, ARGV[3]/ARGV[4] the uid/userCode key prefixes.
 */
const DESTROY = `
local fields = redis.call('HMGET', KEYS[1], 'grantId', 'uid', 'userCode')
redis.call('DEL', KEYS[1])
if fields[1] then redis.call('SREM', ARGV[2] .. fields[1], KEYS[1]) end
if fields[2] and redis.call('GET', ARGV[3] .. fields[2]) == ARGV[1] then redis.call('DEL', ARGV[3] .. fields[2]) end
if fields[3] and redis.call('GET', ARGV[4] .. fields[3]) == ARGV[1] then redis.call('DEL', ARGV[4] .. fields[3]) end
return 1`;

/**
 * One-time steps answer a resent call as they answered it first. When a connection drops after a
 * script reached Redis but before its reply came back, ioredis sends it again on the next
 * connection, and Redis runs it again: a consume would then find the code consumed (by itself) and
 * fail the token request, a replay check would call its own proof a replay. KEYS[2] is a key of
 * this call's own (a random id, the same in a resend), set when the step succeeds and kept OP_MS.
 */
const OP_MS = 60_000;

/** Sets `consumed` once, on a record that still exists. 1 = this call consumed it. KEYS: record, op. ARGV: now, opMs. */
const CONSUME = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local done = redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])
if done == 1 then redis.call('SET', KEYS[2], 1, 'PX', ARGV[2]) end
return done`;

/**
 * The caller of CONSUME with this op gave up before its answer (its command timed out on a stalled
 * path), or got it and then failed before issuing anything: what the record was consumed for was
 * never issued. Takes back the consume if it ran, or marks the op so that it uses nothing when it
 * arrives. KEYS: record, op. ARGV: opMs.
 */
const UNCONSUME = `
if redis.call('GET', KEYS[2]) == '1' then redis.call('HDEL', KEYS[1], 'consumed') end
redis.call('SET', KEYS[2], 'abandoned', 'PX', ARGV[1])
return 1`;

/**
 * SET NX for a hash record. ReplayDetection.unique() is find-then-upsert: two instances handed the
 * same JWT can both find nothing and both upsert, and both would accept the replay. Creating the
 * record only if absent, in one step on the server, lets exactly one of them succeed.
 * KEYS: record, op. ARGV: payload, ttlMs (-1: none), opMs.
 */
const CREATE_IF_ABSENT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('SET', KEYS[2], 1, 'PX', ARGV[3])
return 1`;

/** MULTI reports command errors per entry instead of rejecting. */
async function execAll(multi: ReturnType<RedisClient['multi']>): Promise<void> {
  const results = await multi.exec();
  const failed = results?.find(([err]) => err);
  if (failed?.[0]) throw failed[0];
}

/** HGETALL's reply inside a script comes back flat: field, value, field, value... */
function pairs(flat: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}

function parseRecord({ payload, consumed }: Record<string, string>): AdapterPayload | undefined {
  if (payload === undefined) return undefined;
  const parsed = parseStored<AdapterPayload>(payload);
  return consumed === undefined ? parsed : { ...parsed, consumed: Number(consumed) };
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Milliseconds for PX/PEXPIRE, which refuse 0 and negatives; undefined means no expiry. */
const ttlMs = (expiresIn: number | undefined): number | undefined => {
  const seconds = keptSeconds(expiresIn);
  return seconds === undefined ? undefined : Math.max(1, Math.ceil(seconds * 1000));
};

/** Short-lived oidc-provider models in Redis, with native expiry. Keys start with `prefix`. */
const DEFERRED_DELETES = 'storage:redisDeletes';

/**
 * Defers deleting `id` (Redis-stored) to the request's next Redis save, which carries it out first
 * in the same script: oidc-provider deletes the interaction it resumes and then saves the next one
 * or a code, and deletes a session it re-keys and then saves it under the new id. Until then this
 * request already treats the record as gone (the memo); the end of the request deletes whatever no
 * save carried.
 */
export function deferDelete(memo: RequestMemo, store: RedisStore, id: string): void {
  let deletes = memo.notes.get(DEFERRED_DELETES) as { store: RedisStore; id: string }[] | undefined;
  if (!deletes) {
    memo.notes.set(DEFERRED_DELETES, (deletes = []));
    memo.settle.push(() => flushDeferredDeletes(memo));
  }
  deletes.push({ store, id });
}

/** Carries out the deferred deletes now, one by one (before a write they must precede). */
export async function flushDeferredDeletes(memo: RequestMemo): Promise<void> {
  const deletes = memo.notes.get(DEFERRED_DELETES) as { store: RedisStore; id: string }[] | undefined;
  for (const { store, id } of deletes?.splice(0) ?? []) await store.destroy(id);
}

function takeDeferredDeletes(): PendingDelete[] {
  const deletes = requestMemo()?.notes.get(DEFERRED_DELETES) as { store: RedisStore; id: string }[] | undefined;
  return (deletes?.splice(0) ?? []).map(({ store, id }) => store.pendingDelete(id));
}

/** A delete deferred to ride on the next save: the record key, its id and its index key prefixes. */
export interface PendingDelete {
  key: string;
  id: string;
  uidPrefix: string;
  userCodePrefix: string;
}

/** A Redis-stored model: the adapter, plus reads that bring what comes next along, and deferred deletes. */
export interface RedisStore extends Adapter {
  /** The record, the session it is bound to (if any; payload undefined if gone), and `alsoModel`'s record of the same id. */
  findWithSession(
    id: string,
    alsoModel?: string,
  ): Promise<{ payload: AdapterPayload; session?: { uid: string; payload: AdapterPayload | undefined }; also?: AdapterPayload | undefined } | undefined>;
  pendingDelete(id: string): PendingDelete;
  /** `consume`, returning what takes this consume back (for up to OP_MS after it). */
  consumeOnce(id: string): Promise<GiveBack>;
}

export function redisAdapter(redis: RedisClient, prefix: string): new (model: string) => RedisStore {
  const consume = script(redis, CONSUME);
  const unconsume = script(redis, UNCONSUME);
  const later = settleLater({ forMs: OP_MS / 2 });
  const createIfAbsent = script(redis, CREATE_IF_ABSENT);
  const upsert = script(redis, UPSERT);
  const findByIndex = script(redis, FIND_BY_INDEX);
  const destroy = script(redis, DESTROY);
  const findWithSession = script(redis, FIND_WITH_SESSION);
  // One hash tag for every key of these models: the scripts above reach from a token to its
  // session, from a record to its indexes and grant set, and delete other records in the same step,
  // and on a Redis Cluster a script may touch only keys of one slot. So these records live on one
  // master of a Cluster (with its replica); lockout, SMS codes and rate limits spread over all.
  const slot = `${prefix}{oidc}:`;
  const grantKey = (grantId: string) => `${slot}grant:${grantId}`;
  /** A new one per call of a one-time step (see OP_MS); a resent call carries the same. */
  const opKey = () => `${slot}op:${randomBytes(12).toString('base64url')}`;

  return class RedisAdapter implements RedisStore {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    #key(id: string): string {
      return `${slot}${this.#model}:${id}`;
    }

    #uidKey(uid: string): string {
      return `${slot}uid:${this.#model}:${uid}`;
    }

    #userCodeKey(userCode: string): string {
      return `${slot}userCode:${this.#model}:${userCode}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const key = this.#key(id);
      const ms = ttlMs(expiresIn);
      const json = stringifyStored(payload);

      if (this.#model === 'ReplayDetection') {
        if ((await createIfAbsent([key, opKey()], [json, ms ?? -1, OP_MS])) !== 1) throw new ReplayDetectedError();
        return;
      }

      const grantId = text(payload.grantId);
      const uid = text(payload.uid);
      const userCode = text(payload.userCode);
      const fields: ScriptArg[] = ['payload', json];
      if (typeof payload.consumed === 'number') fields.push('consumed', payload.consumed);
      if (grantId) fields.push('grantId', grantId);
      if (uid) fields.push('uid', uid);
      if (userCode) fields.push('userCode', userCode);
      // A token bound to its session, or an interaction: its reads fetch the session in the same round trip.
      const sessionUid =
        this.#model === 'Interaction' ? text((payload.session as { uid?: unknown } | undefined)?.uid) : payload.expiresWithSession === true ? text(payload.sessionUid) : undefined;
      if (sessionUid) fields.push('sessionUid', sessionUid);
      const indexKeys = [uid && this.#uidKey(uid), userCode && this.#userCodeKey(userCode)].filter((k): k is string => Boolean(k));
      const keys = [key, ...indexKeys, ...(grantId ? [grantKey(grantId)] : [])];
      const deletes = takeDeferredDeletes().flatMap((d) => [d.key, d.id, grantKey(''), d.uidPrefix, d.userCodePrefix]);
      await upsert(keys, [ms ?? -1, indexKeys.length, grantId ? 1 : 0, id, deletes.length / 5, ...deletes, ...fields]);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return parseRecord(await redis.hgetall(this.#key(id)));
    }

    async findWithSession(id: string, alsoModel?: string): ReturnType<RedisStore['findWithSession']> {
      const also = alsoModel ? `${slot}${alsoModel}:${id}` : '';
      const reply = (await findWithSession([this.#key(id)], [`${slot}uid:Session:`, `${slot}Session:`, also])) as [string[]?, number?, string[]?, string[]?];
      const [record, lookedUp, session, other] = reply;
      const payload = record && parseRecord(pairs(record));
      if (!record || !payload) return undefined;
      const found: Awaited<ReturnType<RedisStore['findWithSession']>> = { payload };
      if (lookedUp === 1) found.session = { uid: pairs(record).sessionUid!, payload: parseRecord(pairs(session ?? [])) };
      if (alsoModel) found.also = parseRecord(pairs(other ?? []));
      return found;
    }

    /** The delete that a later save in the same request carries out (see UPSERT). */
    pendingDelete(id: string): PendingDelete {
      return { key: this.#key(id), id, uidPrefix: this.#uidKey(''), userCodePrefix: this.#userCodeKey('') };
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#findByIndex(this.#userCodeKey(userCode));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#findByIndex(this.#uidKey(uid));
    }

    async #findByIndex(indexKey: string): Promise<AdapterPayload | undefined> {
      const flat = (await findByIndex([indexKey], [this.#key('')])) as string[] | null;
      return flat ? parseRecord(pairs(flat)) : undefined;
    }

    async consume(id: string): Promise<void> {
      await this.consumeOnce(id);
    }

    async consumeOnce(id: string): Promise<GiveBack> {
      const keys = [this.#key(id), opKey()];
      let done: unknown;
      try {
        done = await consume(keys, [Math.floor(Date.now() / 1000), OP_MS]);
      } catch (err) {
        // oidc-provider issues nothing when a consume throws; Redis may still run it (see UNCONSUME).
        later(() => unconsume(keys, [OP_MS]));
        throw err;
      }
      if (done !== 1) throw new AlreadyConsumedError(this.#model);
      return async () => {
        await unconsume(keys, [OP_MS]).catch((err: unknown) => {
          later(() => unconsume(keys, [OP_MS]));
          throw err;
        });
      };
    }

    async destroy(id: string): Promise<void> {
      await destroy([this.#key(id)], [id, grantKey(''), this.#uidKey(''), this.#userCodeKey('')]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      const index = grantKey(grantId);
      // The index is shared by every model of the grant; this model removes only its own members.
      const own = `${slot}${this.#model}:`;
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
