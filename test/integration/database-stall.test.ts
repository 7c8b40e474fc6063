/**
 * PostgreSQL that stops answering without closing the connection: its host is lost or cut off (a
 * fail-over whose old primary vanished, a network partition). Nothing resets the TCP connections,
 * so node-postgres waits for the operating system, about 15 minutes, on every query in flight and
 * on every pooled connection it hands out next. An instance must instead fail those queries soon
 * (its requests answer 503, which a load balancer and a retry understand) and serve again from new
 * connections as soon as the database is reachable again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/storage/database.js';
import { isDependencyFailure } from '../../src/storage/dependency-failure.js';
import { cuttingProxy } from '../support/cutting-proxy.js';
import { PG_URL, pgAvailable } from '../support/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!pgAvailable)('PostgreSQL that stops answering', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'yihao-stall-'));
  const opened: Database[] = [];
  let closeProxy: (() => Promise<void>) | undefined;
  afterAll(async () => {
    for (const db of opened) await db.destroy().catch(() => undefined);
    await closeProxy?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function behindProxy(stallMs: number) {
    const proxy = await cuttingProxy(PG_URL);
    closeProxy = proxy.close;
    const url = new URL(PG_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const db = openDatabase({ url: url.href, dataDir, stallMs });
    opened.push(db);
    return { proxy, db };
  }

  /** What a query came to within `ms`: its answer, its failure, or nothing yet. */
  const within = (ms: number, query: Promise<unknown>) =>
    Promise.race([query.then(() => 'answered' as const, () => 'failed' as const), sleep(ms).then(() => 'no answer' as const)]);

  it('fails a query that gets no answer within the stall limit, then serves again from a new connection', async () => {
    const { proxy, db } = await behindProxy(1_000);
    expect(await db.raw('select 1 as one')).toMatchObject({ rows: [{ one: 1 }] });
    proxy.drop(true);
    // The limit is 1 s; 6 s is a margin for a loaded machine, and far below the operating system's.
    const stalled = db.raw('select 2');
    expect(await within(6_000, stalled)).toBe('failed');
    // A store that is not reachable: the request it served answers 503, not 500.
    expect(isDependencyFailure(await stalled.catch((e: unknown) => e))).toBe(true);
    proxy.drop(false);
    // The dead connection is not handed out again.
    expect(await within(6_000, db.raw('select 3 as three'))).toBe('answered');
    expect(await db.raw('select 4 as four')).toMatchObject({ rows: [{ four: 4 }] });
  });

  it('does not count the time a pooled connection sits idle', async () => {
    const { db } = await behindProxy(1_000);
    expect(await db.raw('select 5 as five')).toMatchObject({ rows: [{ five: 5 }] });
    await sleep(2_500);
    const { pid } = (await db.raw('select pg_backend_pid() as pid')).rows[0] as { pid: number };
    await sleep(2_500);
    expect(await db.raw('select pg_backend_pid() as pid')).toMatchObject({ rows: [{ pid }] });
  });
});
