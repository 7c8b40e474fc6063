/**
 * The request memo keeps each record as text, so that a caller's change to an object it was handed
 * never reaches the next read in the same request. The memo takes that text from the store's own
 * parse or serialisation where it can (storage/stored-json.ts) instead of serialising again; these
 * tests hold it to what it kept before: what was stored, as stored, whatever callers did to their
 * objects before or after.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { openRedis, type RedisClient } from '../../src/storage/redis.js';
import { oidcAdapter, type AdapterConstructor, type AdapterPayload } from '../../src/storage/oidc-adapter.js';
import { withRequestMemo } from '../../src/storage/request-memo.js';
import { deleteRedisPrefix } from '../support/harness.js';
import { PG_URL, REDIS_URL, createPgSchema, pgAvailable, redisAvailable, uniqueName } from '../support/services.js';

const backends = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
] as const;

describe.each(backends)('records in the request memo ($name)', ({ name, enabled }) => {
  let Adapter: AdapterConstructor;
  let close: () => Promise<void>;

  beforeAll(async () => {
    if (!enabled) return;
    if (name === 'sqlite') {
      const dataDir = await mkdtemp(join(tmpdir(), 'yihao-memo-'));
      const db = openDatabase({ dataDir });
      await migrate(db);
      Adapter = oidcAdapter({ db });
      close = async () => {
        await db.destroy();
        await rm(dataDir, { recursive: true, force: true });
      };
    } else {
      const pgSchema = await createPgSchema();
      const db: Database = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: pgSchema.schema, poolMax: 4 });
      await migrate(db);
      const redis: RedisClient = openRedis(REDIS_URL);
      const prefix = `${uniqueName('yihao_test')}:`;
      Adapter = oidcAdapter({ db, redis, redisPrefix: prefix });
      close = async () => {
        await deleteRedisPrefix(prefix);
        await redis.quit();
        await db.destroy();
        await pgSchema.drop();
      };
    }
  });
  afterAll(async () => {
    await close?.();
  });

  const adapter = (model: string) => new Adapter(model);
  // Grant and RefreshToken live in SQL on both backends, AccessToken and Session in Redis where there is one.
  const models = ['Grant', 'RefreshToken', 'AccessToken', 'Session'];
  const payloadOf = (model: string, id: string): AdapterPayload => ({ jti: id, kind: model, grantId: `g-${id}`, scope: 'openid profile', list: ['a'], ...(model === 'Session' ? { uid: `u-${id}` } : {}) });

  it.skipIf(!enabled)('keeps what was saved, as saved, when the caller changes its object afterwards', async () => {
    for (const model of models) {
      const id = randomUUID();
      const saved = payloadOf(model, id);
      const read = await withRequestMemo(async () => {
        await adapter(model).upsert(id, saved, 600);
        saved.scope = 'changed after the save';
        (saved.list as string[]).push('b');
        return adapter(model).find(id);
      });
      expect(read, model).toEqual(payloadOf(model, id));
    }
  });

  it.skipIf(!enabled)('hands each read its own copy: a change to one read is not the next read', async () => {
    for (const model of models) {
      const id = randomUUID();
      await adapter(model).upsert(id, payloadOf(model, id), 600);
      const [first, second, byUid] = await withRequestMemo(async () => {
        const found = (await adapter(model).find(id))!;
        found.scope = 'changed by the first reader';
        (found.list as string[]).push('b');
        return [found, await adapter(model).find(id), model === 'Session' ? await adapter(model).findByUid(`u-${id}`) : undefined];
      });
      expect(first?.scope).toBe('changed by the first reader');
      expect(second, model).toEqual(payloadOf(model, id));
      if (model === 'Session') expect(byUid).toEqual(payloadOf(model, id));
    }
  });

  it.skipIf(!enabled)('keeps the later save of an object read, changed and saved again, and the second of two saves of one object', async () => {
    for (const model of models) {
      const id = randomUUID();
      await adapter(model).upsert(id, payloadOf(model, id), 600);
      const read = await withRequestMemo(async () => {
        const found = (await adapter(model).find(id))!;
        found.scope = 'changed, then saved';
        await adapter(model).upsert(id, found, 600);
        found.scope = 'changed again, then saved again';
        await adapter(model).upsert(id, found, 600);
        return adapter(model).find(id);
      });
      expect(read?.scope, model).toBe('changed again, then saved again');
      expect(await adapter(model).find(id), `${model}, as stored`).toMatchObject({ scope: 'changed again, then saved again' });
    }
  });

  it.skipIf(!enabled)('knows a record it consumed as consumed, with the rest of it as stored', async () => {
    const id = randomUUID();
    await adapter('AccessToken').upsert(id, payloadOf('AccessToken', id), 600);
    const before = Math.floor(Date.now() / 1000);
    const read = await withRequestMemo(async () => {
      await adapter('AccessToken').find(id);
      await adapter('AccessToken').consume(id);
      return adapter('AccessToken').find(id);
    });
    const { consumed, ...rest } = read!;
    expect(rest).toEqual(payloadOf('AccessToken', id));
    expect(consumed).toBeGreaterThanOrEqual(before);
  });
});
