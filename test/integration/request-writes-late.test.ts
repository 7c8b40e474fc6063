/**
 * A request's deferred writes (src/storage/write-batch.ts) go out together when the request
 * settles. An audit event appended with them after they went out (by a provider event's handler
 * that first waited for a store read) must still land: the batch is sent once, and a write that
 * joins it later is sent on its own, never left in a queue nobody will send.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { requestMemo, withRequestMemo } from '../../src/storage/request-memo.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { PG_URL, createPgSchema, pgAvailable } from '../support/services.js';

const backends = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres', enabled: pgAvailable },
] as const;

describe.each(backends)('writes that join a request after its batch went out ($name)', ({ name, enabled }) => {
  let db: Database;
  let close: () => Promise<void>;

  beforeAll(async () => {
    if (!enabled) return;
    if (name === 'sqlite') {
      const dataDir = await mkdtemp(join(tmpdir(), 'yihao-late-writes-'));
      db = openDatabase({ dataDir });
      close = async () => {
        await db.destroy();
        await rm(dataDir, { recursive: true, force: true });
      };
    } else {
      const schema = await createPgSchema();
      db = openDatabase({ url: PG_URL, dataDir: tmpdir(), schema: schema.schema });
      close = async () => {
        await db.destroy();
        await schema.drop();
      };
    }
    await migrate(db);
  });
  afterAll(async () => close?.());

  const actions = async (requestId: string) =>
    ((await db('audit_events').where({ request_id: requestId }).orderBy('id').select('action')) as { action: string }[]).map((r) => r.action);

  it.skipIf(!enabled)('lands an event appended while the request settles, after its batch was sent', async () => {
    const audit = createAuditLog(db);
    const requestId = `late-${name}-1`;
    await withRequestMemo(async () => {
      await audit.append({ action: 'login.succeeded', actorType: 'citizen', requestId }, { withRequestWrites: true });
      // Settle work queued after the batch's own: it runs once the batch has gone out.
      requestMemo()!.settle.push(async () => {
        await audit.append({ action: 'authorization.granted', actorType: 'citizen', requestId }, { withRequestWrites: true });
      });
    });
    expect(await actions(requestId)).toEqual(['login.succeeded', 'authorization.granted']);
  });

  it.skipIf(!enabled)('lands an event appended after a route flushed the batch itself, with the request end', async () => {
    const audit = createAuditLog(db);
    const requestId = `late-${name}-2`;
    const { flushPendingWrites } = await import('../../src/storage/write-batch.js');
    await withRequestMemo(async () => {
      await audit.append({ action: 'login.succeeded', actorType: 'citizen', requestId }, { withRequestWrites: true });
      await flushPendingWrites();
      expect(await actions(requestId)).toEqual(['login.succeeded']);
      await audit.append({ action: 'authorization.granted', actorType: 'citizen', requestId }, { withRequestWrites: true });
    });
    expect(await actions(requestId)).toEqual(['login.succeeded', 'authorization.granted']);
  });
});
