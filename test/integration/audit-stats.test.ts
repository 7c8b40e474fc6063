/**
 * The dashboard's aggregates over the audit log, on SQLite and PostgreSQL: the same buckets and
 * counts from the same stored rows. Rows are stored with chosen times (as a week of real events
 * would have left them); the hour and day edges are where portable bucketing could go wrong.
 */
import { describe, expect, it } from 'vitest';
import { auditStats, SIGN_IN_ACTIONS } from '../../src/audit/index.js';
import { auditStores } from '../support/audit.js';

const stores = auditStores({ migrated: true });
const HOUR = 3_600_000;
const FROM = Date.parse('2026-12-04T04:00:00Z');

type Row = { at: number; action: string; channel?: string; client?: string };

describe.each(stores)('audit aggregates for the dashboard ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('counts events per hour, action and channel, from the window start inclusive to its end exclusive, scoped by client', async () => {
    const s = await open();
    try {
      const rows: Row[] = [
        { at: FROM - 1, action: 'login.succeeded', channel: 'web', client: 'a' }, // before: not counted
        { at: FROM, action: 'login.succeeded', channel: 'web', client: 'a' }, // first instant: bucket 0
        { at: FROM + HOUR - 1, action: 'login.succeeded', channel: 'web', client: 'b' }, // still bucket 0
        { at: FROM + HOUR, action: 'login.succeeded', channel: 'mobile', client: 'a' }, // bucket 1
        { at: FROM + 5 * HOUR + 17, action: 'counter.assisted_login', channel: 'counter', client: 'c' },
        { at: FROM + 23 * HOUR + 59 * 60_000, action: 'login.succeeded', channel: 'kiosk', client: 'a' }, // last bucket
        { at: FROM + 24 * HOUR, action: 'login.succeeded', channel: 'kiosk', client: 'a' }, // the end: not counted
        { at: FROM + 2 * HOUR, action: 'login.failed', channel: 'web', client: 'a' },
        { at: FROM + 2 * HOUR + 1, action: 'login.failed', channel: 'web', client: 'a' },
        { at: FROM + 2 * HOUR + 2, action: 'account.locked', client: 'a' },
        { at: FROM + 3 * HOUR, action: 'login.failed' }, // names no app
        { at: FROM + 3 * HOUR, action: 'consent.granted', channel: 'web', client: 'a' }, // not asked for
      ];
      await s.db('audit_events').insert(rows.map((r) => ({ at: r.at, action: r.action, actor_type: 'citizen', channel: r.channel ?? null, client_id: r.client ?? null })));
      const stats = auditStats(s.db);
      const actions = ['login.succeeded', 'counter.assisted_login', 'login.failed', 'account.locked'];
      const q = { actions, from: FROM, to: FROM + 24 * HOUR, bucketMs: HOUR };
      const sorted = (xs: { bucket: number; action: string; channel: string | undefined; n: number }[]) =>
        [...xs].sort((x, y) => x.bucket - y.bucket || x.action.localeCompare(y.action) || String(x.channel).localeCompare(String(y.channel)));

      expect(sorted(await stats.byBucket(q))).toEqual([
        { bucket: 0, action: 'login.succeeded', channel: 'web', n: 2 },
        { bucket: 1, action: 'login.succeeded', channel: 'mobile', n: 1 },
        { bucket: 2, action: 'account.locked', channel: undefined, n: 1 },
        { bucket: 2, action: 'login.failed', channel: 'web', n: 2 },
        { bucket: 3, action: 'login.failed', channel: undefined, n: 1 },
        { bucket: 5, action: 'counter.assisted_login', channel: 'counter', n: 1 },
        { bucket: 23, action: 'login.succeeded', channel: 'kiosk', n: 1 },
      ]);
      // A department's operator: only its apps' events, none that name no app.
      expect(sorted(await stats.byBucket({ ...q, clientIds: ['b', 'c'] }))).toEqual([
        { bucket: 0, action: 'login.succeeded', channel: 'web', n: 1 },
        { bucket: 5, action: 'counter.assisted_login', channel: 'counter', n: 1 },
      ]);
      expect(await stats.byBucket({ ...q, clientIds: [] })).toEqual([]);
      // One bucket as wide as the window: the window's totals.
      const whole = await stats.byBucket({ ...q, bucketMs: 24 * HOUR });
      expect(whole.every((r) => r.bucket === 0)).toBe(true);
      expect(whole.reduce((a, r) => a + r.n, 0)).toBe(9);

      expect(await stats.topClients({ actions, ranked: SIGN_IN_ACTIONS, from: FROM, to: FROM + 24 * HOUR, limit: 10 })).toEqual([
        { clientId: 'a', ranked: 3, other: 3 },
        { clientId: 'b', ranked: 1, other: 0 },
        { clientId: 'c', ranked: 1, other: 0 },
      ]);
      expect(await stats.topClients({ actions, ranked: SIGN_IN_ACTIONS, from: FROM, to: FROM + 24 * HOUR, limit: 2, clientIds: ['c', 'b'] })).toEqual([
        { clientId: 'b', ranked: 1, other: 0 },
        { clientId: 'c', ranked: 1, other: 0 },
      ]);
    } finally {
      await s.close();
    }
  });
});
