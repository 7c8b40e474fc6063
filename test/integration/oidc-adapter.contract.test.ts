import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { openRedis, type RedisClient } from '../../src/storage/redis.js';
import { sqlAdapter, tokenContextQueries } from '../../src/storage/sql-adapter.js';
import { startSweeper } from '../../src/storage/sweeper.js';
import {
  AlreadyConsumedError,
  REDIS_MODELS,
  ReplayDetectedError,
  oidcAdapter,
  type AdapterConstructor,
  type AdapterPayload,
} from '../../src/storage/oidc-adapter.js';
import { PG_URL, REDIS_URL, createPgSchema, pgAvailable, redisAvailable, uniqueName } from '../support/services.js';

interface Backend {
  Adapter: AdapterConstructor;
  /** Where the SQL-stored models live (SQLite behind the Redis-routed adapter). */
  db: Database;
  close(): Promise<void>;
}

interface RedisBackend extends Backend {
  redis: RedisClient;
  prefix: string;
}

const CONSUMABLE = [
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
] as const;

const newId = () => randomUUID();
const epochSeconds = () => Math.floor(Date.now() / 1000);

async function openSqlite(): Promise<Backend> {
  const dataDir = await mkdtemp(join(tmpdir(), 'yihao-adapter-'));
  const db = openDatabase({ dataDir });
  await migrate(db);
  return {
    db,
    Adapter: sqlAdapter(db),
    async close() {
      await db.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const pgSchema = await createPgSchema();
  const db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: pgSchema.schema, poolMax: 4 });
  await migrate(db);
  return {
    db,
    Adapter: sqlAdapter(db),
    async close() {
      await db.destroy();
      await pgSchema.drop();
    },
  };
}

async function openRedisRouted(): Promise<RedisBackend> {
  const sql = await openSqlite();
  const redis = openRedis(REDIS_URL);
  const prefix = `${uniqueName('yihao_test')}:`;
  return {
    db: sql.db,
    redis,
    prefix,
    Adapter: oidcAdapter({ db: sql.db, redis, redisPrefix: prefix }),
    async close() {
      for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 200 }) as AsyncIterable<string[]>) {
        if (keys.length) await redis.del(...keys);
      }
      await redis.quit();
      await sql.close();
    },
  };
}

/** The behaviour oidc-provider relies on, for any adapter. Returns the backend for extra checks. */
function adapterContract<B extends Backend>(open: () => Promise<B>): () => B {
  let backend: B | undefined;
  const current = (): B => {
    if (!backend) throw new Error('backend not open');
    return backend;
  };
  const adapter = (model: string) => new (current().Adapter)(model);

  beforeAll(async () => {
    backend = await open();
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('stores records without an expiry (Client, Grant) and finds them', async () => {
    for (const model of ['Client', 'Grant']) {
      const id = newId();
      const payload: AdapterPayload = { jti: id, kind: model, scope: 'openid', list: [] };
      await adapter(model).upsert(id, payload, undefined);
      expect(await adapter(model).find(id)).toEqual(payload);
    }
  });

  it('keeps a record given a lifetime beyond any store limit (a claim of the caller, 1e20 s), not an error', async () => {
    const id = newId();
    await adapter('ReplayDetection').upsert(id, { iat: 1 }, 1e20);
    expect(await adapter('ReplayDetection').find(id)).toEqual({ iat: 1 });
  });

  it('replaces a record when the same id is upserted again', async () => {
    const id = newId();
    await adapter('Client').upsert(id, { client_id: id, client_name: 'first' });
    await adapter('Client').upsert(id, { client_id: id, client_name: 'second' });
    expect(await adapter('Client').find(id)).toEqual({ client_id: id, client_name: 'second' });
  });

  it('answers undefined for an unknown id, uid or user code', async () => {
    expect(await adapter('AccessToken').find(newId())).toBeUndefined();
    expect(await adapter('Session').findByUid(newId())).toBeUndefined();
    expect(await adapter('DeviceCode').findByUserCode('NOPE-NOPE')).toBeUndefined();
  });

  it('keeps models apart: one id under two models is two records', async () => {
    const id = newId();
    await adapter('AccessToken').upsert(id, { jti: id, kind: 'AccessToken' }, 60);
    expect(await adapter('AuthorizationCode').find(id)).toBeUndefined();
  });

  it('destroys a record', async () => {
    const id = newId();
    await adapter('AccessToken').upsert(id, { jti: id }, 60);
    await adapter('AccessToken').destroy(id);
    expect(await adapter('AccessToken').find(id)).toBeUndefined();
  });

  for (const model of CONSUMABLE) {
    it(`marks ${model} consumed (epoch seconds) and refuses a second consume`, async () => {
      const id = newId();
      const payload = { jti: id, kind: model, grantId: newId(), clientId: 'c1' };
      await adapter(model).upsert(id, payload, 60);
      expect((await adapter(model).find(id))?.consumed).toBeUndefined();

      const before = epochSeconds();
      await adapter(model).consume(id);
      const found = await adapter(model).find(id);
      expect(found).toMatchObject(payload);
      expect(found?.consumed).toBeGreaterThanOrEqual(before);
      expect(found?.consumed).toBeLessThanOrEqual(epochSeconds());

      await expect(adapter(model).consume(id)).rejects.toBeInstanceOf(AlreadyConsumedError);
    });
  }

  it('lets only one of two concurrent consumes win', async () => {
    const id = newId();
    await adapter('AuthorizationCode').upsert(id, { jti: id }, 60);
    const results = await Promise.allSettled([adapter('AuthorizationCode').consume(id), adapter('AuthorizationCode').consume(id)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses to consume a record that does not exist', async () => {
    await expect(adapter('RefreshToken').consume(newId())).rejects.toBeInstanceOf(AlreadyConsumedError);
  });

  it('keeps the consumed mark of a consumed artifact that is saved again', async () => {
    const id = newId();
    await adapter('DeviceCode').upsert(id, { jti: id, consumed: epochSeconds() - 5 }, 60);
    expect((await adapter('DeviceCode').find(id))?.consumed).toBe(epochSeconds() - 5);
    await expect(adapter('DeviceCode').consume(id)).rejects.toBeInstanceOf(AlreadyConsumedError);
  });

  it("revokes only this model's records of the grant and leaves other grants alone", async () => {
    const [grant, other] = [newId(), newId()];
    const ids = { at: newId(), code: newId(), rt: newId(), otherAt: newId() };
    await adapter('AccessToken').upsert(ids.at, { jti: ids.at, grantId: grant }, 60);
    await adapter('AuthorizationCode').upsert(ids.code, { jti: ids.code, grantId: grant }, 60);
    await adapter('RefreshToken').upsert(ids.rt, { jti: ids.rt, grantId: grant }, 600);
    await adapter('AccessToken').upsert(ids.otherAt, { jti: ids.otherAt, grantId: other }, 60);

    await adapter('AccessToken').revokeByGrantId(grant);
    expect(await adapter('AccessToken').find(ids.at)).toBeUndefined();
    expect(await adapter('AuthorizationCode').find(ids.code)).toBeDefined();
    expect(await adapter('RefreshToken').find(ids.rt)).toBeDefined();

    // oidc-provider's revoke() calls revokeByGrantId on each grant-bound model in turn.
    await adapter('AuthorizationCode').revokeByGrantId(grant);
    await adapter('RefreshToken').revokeByGrantId(grant);
    expect(await adapter('AuthorizationCode').find(ids.code)).toBeUndefined();
    expect(await adapter('RefreshToken').find(ids.rt)).toBeUndefined();
    expect(await adapter('AccessToken').find(ids.otherAt)).toMatchObject({ grantId: other });
  });

  it('does not revoke a record that was saved again under another grant', async () => {
    const [first, second, id] = [newId(), newId(), newId()];
    await adapter('AccessToken').upsert(id, { jti: id, grantId: first }, 60);
    await adapter('AccessToken').upsert(id, { jti: id, grantId: second }, 60);
    await adapter('AccessToken').revokeByGrantId(first);
    expect(await adapter('AccessToken').find(id)).toMatchObject({ grantId: second });
  });

  it('finds a session by uid after its id rotates (new id stored, then old destroyed)', async () => {
    const [uid, oldId, newSessionId] = [newId(), newId(), newId()];
    await adapter('Session').upsert(oldId, { jti: oldId, uid, accountId: 'a1' }, 300);
    await adapter('Session').upsert(newSessionId, { jti: newSessionId, uid, accountId: 'a1', rotated: true }, 300);
    await adapter('Session').destroy(oldId);
    expect(await adapter('Session').findByUid(uid)).toEqual({ jti: newSessionId, uid, accountId: 'a1', rotated: true });
  });

  it('finds a session by uid after its id rotates (old destroyed first, as Session.save does)', async () => {
    const [uid, oldId, newSessionId] = [newId(), newId(), newId()];
    await adapter('Session').upsert(oldId, { jti: oldId, uid }, 300);
    await adapter('Session').destroy(oldId);
    await adapter('Session').upsert(newSessionId, { jti: newSessionId, uid }, 300);
    expect(await adapter('Session').findByUid(uid)).toEqual({ jti: newSessionId, uid });
  });

  it('finds a device code by user code until it is destroyed', async () => {
    const id = newId();
    const userCode = `U${id.slice(0, 8).toUpperCase()}`;
    await adapter('DeviceCode').upsert(id, { jti: id, userCode, clientId: 'tv' }, 600);
    expect(await adapter('DeviceCode').findByUserCode(userCode)).toEqual({ jti: id, userCode, clientId: 'tv' });
    await adapter('DeviceCode').destroy(id);
    expect(await adapter('DeviceCode').findByUserCode(userCode)).toBeUndefined();
  });

  it('lets only one of two racing ReplayDetection find-then-upserts through', async () => {
    const id = newId();
    // Two provider instances: both look first and find nothing...
    const [a, b] = [adapter('ReplayDetection'), adapter('ReplayDetection')];
    expect(await a.find(id)).toBeUndefined();
    expect(await b.find(id)).toBeUndefined();
    // ...then both store: exactly one may succeed.
    const results = await Promise.allSettled([a.upsert(id, { jti: id, iss: 'c1' }, 60), b.upsert(id, { jti: id, iss: 'c1' }, 60)]);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(ReplayDetectedError);
    expect(await a.find(id)).toEqual({ jti: id, iss: 'c1' });
  });

  it('forgets records, and their uid and user code lookups, once they expire', async () => {
    const ids = { session: newId(), device: newId(), token: newId(), replay: newId(), lasting: newId() };
    const uid = newId();
    const userCode = `E${ids.device.slice(0, 8).toUpperCase()}`;
    await adapter('Session').upsert(ids.session, { jti: ids.session, uid }, 1);
    await adapter('DeviceCode').upsert(ids.device, { jti: ids.device, userCode }, 1);
    await adapter('RefreshToken').upsert(ids.token, { jti: ids.token }, 1);
    await adapter('ReplayDetection').upsert(ids.replay, { jti: ids.replay }, 1);
    await adapter('AccessToken').upsert(ids.lasting, { jti: ids.lasting }, 60);
    expect(await adapter('Session').findByUid(uid)).toBeDefined();

    await sleep(1_150);

    expect(await adapter('Session').find(ids.session)).toBeUndefined();
    expect(await adapter('Session').findByUid(uid)).toBeUndefined();
    expect(await adapter('DeviceCode').findByUserCode(userCode)).toBeUndefined();
    expect(await adapter('RefreshToken').find(ids.token)).toBeUndefined();
    await expect(adapter('RefreshToken').consume(ids.token)).rejects.toBeInstanceOf(AlreadyConsumedError);
    expect(await adapter('AccessToken').find(ids.lasting)).toBeDefined();
    // An expired replay record (maybe not yet swept) no longer blocks its id.
    await expect(adapter('ReplayDetection').upsert(ids.replay, { jti: ids.replay }, 60)).resolves.toBeUndefined();
  });

  return current;
}

function sweeperContract(backend: () => Backend) {
  it('sweeps expired rows in batches and keeps live ones', async () => {
    const { db } = backend();
    const Sql = sqlAdapter(db);
    const expired = Array.from({ length: 5 }, newId);
    const live = [newId(), newId()];
    for (const id of expired) await new Sql('AccessToken').upsert(id, { jti: id }, 0.2);
    await new Sql('Client').upsert(live[0]!, { client_id: live[0] });
    await new Sql('Grant').upsert(live[1]!, { jti: live[1] }, 3600);
    await sleep(300);

    const sweeper = startSweeper(db, { intervalSeconds: 3600, batchSize: 2 });
    try {
      expect(await sweeper.sweepOnce()).toBeGreaterThanOrEqual(expired.length);
    } finally {
      sweeper.stop();
    }
    const remaining = await db('oidc_models').whereIn('id', [...expired, ...live]).pluck('id');
    expect(remaining.sort()).toEqual([...live].sort());
  });

  it("runs every other store's sweep when one of them fails, and says which failed", async () => {
    const { db } = backend();
    const ran: string[] = [];
    const errors: unknown[] = [];
    const sweeper = startSweeper(db, {
      intervalSeconds: 3600,
      logger: { info: () => undefined, error: (obj: unknown) => void errors.push(obj) },
      extra: {
        first: async () => (ran.push('first'), 1),
        // A statement cut off (the database stalled) or refused: the stores after it must still be swept.
        failing: async () => {
          ran.push('failing');
          throw new Error('PostgreSQL sent nothing for 15000 ms');
        },
        last: async () => (ran.push('last'), 2),
      },
    });
    try {
      expect(await sweeper.sweepOnce()).toBeGreaterThanOrEqual(3);
    } finally {
      sweeper.stop();
    }
    expect(ran).toEqual(['first', 'failing', 'last']);
    expect(errors).toEqual([expect.objectContaining({ event: 'sweep.store_failed', store: 'failing' })]);
  });
}

/**
 * Where sessions are stored in SQL too (no Redis), a SQL-stored token comes with its session in the
 * same statement, read as the adapter's own findByUid reads it: what oidc-provider's session binding
 * (a token that ends with its session) checks next.
 */
function tokenSessionContract(current: () => Backend) {
  it('reads a SQL-stored token with the newest live session of its sessionUid, and none for an expired one or a token without one', async () => {
    const { db, Adapter } = current();
    const queries = tokenContextQueries(db, { sessionsInSql: true });
    const Session = new Adapter('Session');
    const RefreshToken = new Adapter('RefreshToken');
    const uid = newId();
    const [older, newer] = [newId(), newId()];
    await Session.upsert(older, { jti: older, uid, accountId: 'sub-x', kind: 'Session' }, 60);
    await Session.upsert(newer, { jti: newer, uid, accountId: 'sub-x', kind: 'Session' }, 600);
    const token = newId();
    await RefreshToken.upsert(token, { jti: token, kind: 'RefreshToken', sessionUid: uid, accountId: 'sub-x', grantId: newId() }, 600);
    const found = await queries.find('RefreshToken', token);
    expect(found?.payload).toMatchObject({ jti: token, sessionUid: uid });
    expect(found?.session).toEqual({ uid, payload: expect.objectContaining({ jti: newer, uid }) });

    const gone = newId();
    await Session.upsert(newId(), { uid: gone, accountId: 'sub-x', kind: 'Session' }, 1);
    const orphan = newId();
    await RefreshToken.upsert(orphan, { jti: orphan, kind: 'RefreshToken', sessionUid: gone, accountId: 'sub-x' }, 600);
    await sleep(1100);
    expect((await queries.find('RefreshToken', orphan))?.session).toEqual({ uid: gone, payload: undefined });

    const unbound = newId();
    await RefreshToken.upsert(unbound, { jti: unbound, kind: 'RefreshToken', accountId: 'sub-x' }, 600);
    expect((await queries.find('RefreshToken', unbound))?.session).toBeUndefined();
    // Without the flag (sessions in Redis), no session is read.
    expect((await tokenContextQueries(db).find('RefreshToken', token))?.session).toBeUndefined();
  });

  it('reads a token or an interaction whose payload holds a NUL (a nonce from a request) without failing, and leaves what comes with it to later reads', async () => {
    const { db, Adapter } = current();
    const queries = tokenContextQueries(db, { sessionsInSql: true });
    const token = newId();
    await new Adapter('RefreshToken').upsert(token, { jti: token, kind: 'RefreshToken', nonce: 'a\u0000b', accountId: 'sub-z', grantId: newId(), sessionUid: newId() }, 600);
    expect((await queries.find('RefreshToken', token))?.payload).toMatchObject({ jti: token, nonce: 'a\u0000b' });
    const interaction = newId();
    await new Adapter('Interaction').upsert(interaction, { jti: interaction, kind: 'Interaction', params: { nonce: '\u0000' }, session: { uid: newId() } }, 600);
    expect((await queries.interaction(interaction, 'PendingSecondFactor'))?.payload).toMatchObject({ params: { nonce: '\u0000' } });
  });

  it('reads an interaction with its session and the record of another model under its id, in one statement', async () => {
    const { db, Adapter } = current();
    const queries = tokenContextQueries(db, { sessionsInSql: true });
    const [Session, Interaction, Pending] = [new Adapter('Session'), new Adapter('Interaction'), new Adapter('PendingSecondFactor')];
    const uid = newId();
    const sessionId = newId();
    await Session.upsert(sessionId, { jti: sessionId, uid, accountId: 'sub-y', kind: 'Session' }, 600);
    const id = newId();
    await Interaction.upsert(id, { jti: id, kind: 'Interaction', session: { uid, accountId: 'sub-y' }, params: { client_id: 'c' } }, 600);
    await Pending.upsert(id, { stage: 'verify', kind: 'PendingSecondFactor' }, 600);
    let counted = 0;
    const count = () => counted++;
    db.on('query', count);
    const found = await queries.interaction(id, 'PendingSecondFactor');
    db.off('query', count);
    expect(counted).toBe(1);
    expect(found?.payload).toMatchObject({ jti: id, session: { uid } });
    expect(found?.session).toEqual({ uid, payload: expect.objectContaining({ jti: sessionId }) });
    expect(found?.also).toMatchObject({ stage: 'verify' });

    // An interaction without a session (the first sign-in of a browser), none of the other model.
    const bare = newId();
    await Interaction.upsert(bare, { jti: bare, kind: 'Interaction', params: { client_id: 'c' } }, 600);
    expect(await queries.interaction(bare, 'PendingSecondFactor')).toEqual({ payload: expect.objectContaining({ jti: bare }), session: undefined, also: undefined });
    expect(await queries.interaction(newId(), 'PendingSecondFactor')).toBeUndefined();
  });
}

describe('oidc adapter contract: SQLite', () => {
  const backend = adapterContract(openSqlite);
  sweeperContract(backend);
  tokenSessionContract(backend);
});

describe.skipIf(!pgAvailable)('oidc adapter contract: PostgreSQL', () => {
  const backend = adapterContract(openPostgres);
  sweeperContract(backend);
  tokenSessionContract(backend);
});

describe.skipIf(!redisAvailable)('oidc adapter contract: Redis-routed', () => {
  const backend = adapterContract(openRedisRouted);
  const recordKey = (model: string, id: string) => `${backend().prefix}{oidc}:${model}:${id}`;

  it('puts the short-lived models in Redis and everything else in SQL', async () => {
    const { Adapter, redis, db } = backend();
    for (const model of [...REDIS_MODELS, 'Client', 'Grant', 'RefreshToken', 'RegistrationAccessToken', 'SomeFutureModel']) {
      const id = newId();
      await new Adapter(model).upsert(id, { jti: id }, 60);
      const inRedis = (await redis.exists(recordKey(model, id))) === 1;
      const inSql = (await db('oidc_models').where({ model, id }).first()) !== undefined;
      expect({ model, inRedis, inSql }).toEqual({ model, inRedis: REDIS_MODELS.has(model), inSql: !REDIS_MODELS.has(model) });
    }
  });

  it('gives the grant index a TTL that covers its longest-lived member', async () => {
    const { Adapter, redis, prefix } = backend();
    const grantId = newId();
    const [code, token, shortToken] = [newId(), newId(), newId()];
    await new Adapter('AuthorizationCode').upsert(code, { jti: code, grantId }, 600);
    await new Adapter('AccessToken').upsert(token, { jti: token, grantId }, 60);
    await new Adapter('AccessToken').upsert(shortToken, { jti: shortToken, grantId }, 10);
    const pttl = await redis.pttl(`${prefix}{oidc}:grant:${grantId}`);
    expect(pttl).toBeGreaterThan(590_000);
    expect(pttl).toBeLessThanOrEqual(600_000);
  });

  it('drops a destroyed record from the grant index', async () => {
    const { Adapter, redis, prefix } = backend();
    const grantId = newId();
    const [a, b] = [newId(), newId()];
    await new Adapter('AccessToken').upsert(a, { jti: a, grantId }, 60);
    await new Adapter('AccessToken').upsert(b, { jti: b, grantId }, 60);
    await new Adapter('AccessToken').destroy(a);
    expect(await redis.smembers(`${prefix}{oidc}:grant:${grantId}`)).toEqual([recordKey('AccessToken', b)]);
  });

  it('gives uid and user code index keys the TTL of their record', async () => {
    const { Adapter, redis, prefix } = backend();
    const [session, uid, device] = [newId(), newId(), newId()];
    const userCode = `T${device.slice(0, 8).toUpperCase()}`;
    await new Adapter('Session').upsert(session, { jti: session, uid }, 300);
    await new Adapter('DeviceCode').upsert(device, { jti: device, userCode }, 600);

    const uidTtl = await redis.pttl(`${prefix}{oidc}:uid:Session:${uid}`);
    const userCodeTtl = await redis.pttl(`${prefix}{oidc}:userCode:DeviceCode:${userCode}`);
    expect(uidTtl).toBeGreaterThan(290_000);
    expect(uidTtl).toBeLessThanOrEqual(300_000);
    expect(userCodeTtl).toBeGreaterThan(590_000);
    expect(userCodeTtl).toBeLessThanOrEqual(600_000);
    expect(await redis.pttl(recordKey('Session', session))).toBeGreaterThan(290_000);
  });
});
