import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';

// Every store the sweeper empties must do so in short DELETEs. One DELETE over a long backlog holds
// its locks (on SQLite, the only connection) for as long as it runs; past the serving instance's
// 15 s stall cut it is cut off on every run and the backlog never shrinks.

const BATCH = 3;
const EXPIRED = 10;

const backends: { backend: Backend; enabled: boolean }[] = [
  { backend: 'sqlite', enabled: true },
  { backend: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Row = Record<string, string | number | null>;

/** Per table: a row that expired long ago (numbered), one still live, and any other rows the sweep must keep. */
function tables(accountId: string, sqlOtp: boolean): Record<string, { expired: (i: number) => Row; live: Row; kept?: Row[] }> {
  const long = Date.now() + 3_600_000;
  const t: Record<string, { expired: (i: number) => Row; live: Row; kept?: Row[] }> = {
    sign_in_guesses: {
      expired: (i) => ({ subject: `s${i}`, ip: '192.0.2.1', failures: 1, window_ends_at: 1, next_at: 1, known_until: null }),
      live: { subject: 'live', ip: '192.0.2.1', failures: 1, window_ends_at: long, next_at: 1, known_until: null },
      // Familiar devices' rows outlast their windows by weeks; these sit between expired ones in key order.
      kept: [2, 5, 8].map((i) => ({ subject: `s${i}`, ip: 'live', failures: 0, window_ends_at: 0, next_at: 0, known_until: long })),
    },
    approval_requests: {
      expired: (i) => ({ id: `a${i}`, kind: 'ciba', ref: `r${i}`, account_id: null, client_id: 'c', display: '{}', status: 'pending', created_at: 0, expires_at: 1 }),
      live: { id: 'live', kind: 'ciba', ref: 'live', account_id: null, client_id: 'c', display: '{}', status: 'pending', created_at: 0, expires_at: long },
    },
    federation_pending_logins: { expired: (i) => ({ state: `p${i}`, payload: '{}', expires_at: 1 }), live: { state: 'live', payload: '{}', expires_at: long } },
    federation_pending_sign_outs: { expired: (i) => ({ state: `o${i}`, payload: '{}', expires_at: 1 }), live: { state: 'live', payload: '{}', expires_at: long } },
    federation_sessions: {
      expired: (i) => ({ upstream_name: 'up', upstream_sid: `sid${i}`, account_id: accountId, expires_at: 1 }),
      live: { upstream_name: 'up', upstream_sid: 'live', account_id: accountId, expires_at: long },
    },
    federation_logout_jtis: { expired: (i) => ({ upstream_name: 'up', jti: `j${i}`, expires_at: 1 }), live: { upstream_name: 'up', jti: 'live', expires_at: long } },
    client_secret_grace: { expired: (i) => ({ client_id: 'c', digest: `d${i}`, expires_at: 1 }), live: { client_id: 'c', digest: 'live', expires_at: long } },
  };
  // The SMS tables are the SQL store's; with Redis, codes and sends expire in Redis.
  if (sqlOtp) {
    t.sms_codes = {
      expired: (i) => ({ key: `k${i}`, code_hash: 'h', expires_at: 1, attempts: 0, consumed_at: null, created_at: 0 }),
      live: { key: 'live', code_hash: 'h', expires_at: long, attempts: 0, consumed_at: null, created_at: 0 },
    };
    t.sms_sends = { expired: (i) => ({ key: 'k', slot: i, sent_at: 0, expires_at: 1 }), live: { key: 'live', slot: 0, sent_at: 0, expires_at: long } };
  }
  return t;
}

describe.each(backends)('the sweeper on every store ($backend)', ({ backend, enabled }) => {
  let h: Harness;

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend, overrides: (c) => ({ ...c, sweeper: { ...c.sweeper, batchSize: BATCH } }) });
  });
  afterAll(async () => h?.close());

  it.skipIf(!enabled)('deletes a backlog in short statements, every expired row and no live one', async () => {
    await h.citizen(); // federation_sessions rows belong to an account
    const db = h.yihao.stores.db;
    const account = (await db('accounts').first('id')) as { id: string };
    const seeded = tables(account.id, backend === 'sqlite');
    for (const [table, { expired, live, kept = [] }] of Object.entries(seeded)) {
      await db(table).insert([...Array.from({ length: EXPIRED }, (_, i) => expired(i)), live, ...kept]);
    }

    // What each DELETE removed, by table, as the database reported it.
    const deletes: { sql: string; rows: number }[] = [];
    const queries = new Map<string, string>();
    const onQuery = (q: { __knexQueryUid: string; sql: string }) => void queries.set(q.__knexQueryUid, q.sql);
    const onResponse = (response: unknown, q: { __knexQueryUid: string }) => {
      const sql = queries.get(q.__knexQueryUid) ?? '';
      if (/^\s*delete/i.test(sql)) deletes.push({ sql, rows: Number(response) });
    };
    db.on('query', onQuery).on('query-response', onResponse);
    try {
      await h.yihao.sweeper.sweepOnce();
    } finally {
      db.off('query', onQuery).off('query-response', onResponse);
    }

    for (const [table, { kept = [] }] of Object.entries(seeded)) {
      const rows = (await db(table).select('*')) as Row[];
      expect(rows, table).toHaveLength(1 + kept.length);
      for (const row of rows) expect(Object.values(row), table).toContain('live');
      const mine = deletes.filter((d) => new RegExp(`delete from ["\\x60]?${table}["\\x60]?\\s`, 'i').test(d.sql));
      expect(mine.length, `${table}: DELETE statements`).toBeGreaterThan(0);
      expect(Math.max(...mine.map((d) => d.rows)), `${table}: rows in one DELETE`).toBeLessThanOrEqual(BATCH);
    }
  });
});
