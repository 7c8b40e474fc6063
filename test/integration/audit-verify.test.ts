/**
 * Tampering with the audit log directly in the database (an edit, a deletion, a reorder, and a
 * deletion of the newest rows) is found by `yihao audit verify`, which names the first row that
 * does not fit and exits non-zero; on SQLite and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/index.js';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { createPgSchema, pgAvailable, PG_URL } from '../support/services.js';
import { buildCli, pgUrlWithSchema, runYihao } from '../support/yihao-cli.js';

interface Store {
  db: Database;
  env: Record<string, string>;
  close(): Promise<void>;
}

const backends: { name: string; enabled: boolean; open(): Promise<Store> }[] = [
  {
    name: 'sqlite',
    enabled: true,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'yihao-audit-cli-'));
      const db = openDatabase({ dataDir: dir });
      return { db, env: { YIHAO_DATA_DIR: dir }, close: async () => (await db.destroy(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: 'postgres',
    enabled: pgAvailable,
    async open() {
      const pg = await createPgSchema();
      const db = openDatabase({ url: PG_URL, dataDir: '.', schema: pg.schema });
      const dir = mkdtempSync(join(tmpdir(), 'yihao-audit-cli-'));
      return {
        db,
        env: { DATABASE_URL: pgUrlWithSchema(PG_URL, pg.schema), YIHAO_DATA_DIR: dir },
        close: async () => (await db.destroy(), await pg.drop(), rmSync(dir, { recursive: true, force: true })),
      };
    },
  },
];

beforeAll(buildCli, 180_000);

type Row = Record<string, unknown> & { id: number };
const CONTENT = ['at', 'action', 'actor_type', 'actor_id', 'account_id', 'client_id', 'channel', 'ip', 'request_id', 'details', 'department_id', 'prev_hash', 'hash'];
const contentOf = (r: Row) => Object.fromEntries(CONTENT.map((c) => [c, r[c]]));

describe.each(backends)('yihao audit verify ($name)', ({ enabled, open }) => {
  let s: Store;
  let rows: Row[];

  beforeAll(async () => {
    if (!enabled) return;
    s = await open();
    await migrate(s.db);
    const audit = createAuditLog(s.db);
    for (let i = 1; i <= 8; i++) {
      await audit.append({ action: 'admin.client.created', actorType: 'operator', actorId: `op${i % 2}`, clientId: `yh_c${i}`, departmentId: 'dp_test', details: { i } });
    }
    rows = (await s.db('audit_events').orderBy('id')) as Row[];
  });
  afterAll(async () => s?.close());

  const verify = async () => {
    const run = await runYihao(['audit', 'verify', '--json'], s.env);
    return { ...run, report: run.stdout ? (JSON.parse(run.stdout) as { intact: boolean; checked: number; first_broken: { id: number; reason: string } | null }) : undefined };
  };
  const restore = async (r: Row) => {
    await s.db('audit_events').where({ id: r.id }).delete();
    await s.db('audit_events').insert(r);
  };

  it.skipIf(!enabled)('reports an intact log and exits 0', async () => {
    const run = await verify();
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.report).toEqual({ intact: true, checked: 8, first_broken: null });
    const text = await runYihao(['audit', 'verify'], s.env);
    expect(text.stdout).toBe('audit log intact: 8 rows checked\n');
  });

  it.skipIf(!enabled)('names an edited row', async () => {
    const victim = rows[3]!;
    await s.db('audit_events').where({ id: victim.id }).update({ details: '{"i":999}' });
    const run = await verify();
    expect(run.code).toBe(3);
    expect(run.report).toMatchObject({ intact: false, first_broken: { id: Number(victim.id), reason: 'row_altered' } });
    expect(run.stderr).toBe(`yihao: audit chain broken at row ${victim.id} (row_altered)\n`);
    const text = await runYihao(['audit', 'verify'], s.env);
    expect(text.stdout).toContain(`audit log BROKEN at row ${victim.id}: its content does not match its hash`);
    await s.db('audit_events').where({ id: victim.id }).update({ details: victim.details });
    expect((await verify()).code).toBe(0);
  });

  it.skipIf(!enabled)('names the row after a deleted one', async () => {
    const victim = rows[5]!;
    await s.db('audit_events').where({ id: victim.id }).delete();
    const run = await verify();
    expect(run.code).toBe(3);
    expect(run.report).toMatchObject({ intact: false, first_broken: { id: Number(rows[6]!.id), reason: 'link_broken' } });
    await restore(victim);
    expect((await verify()).code).toBe(0);
  });

  it.skipIf(!enabled)('names the first of two rows that swapped places', async () => {
    const [a, b] = [rows[2]!, rows[3]!];
    await s.db('audit_events').where({ id: a.id }).delete();
    await s.db('audit_events').where({ id: b.id }).delete();
    // Each keeps its content, but under the other's id: the order of the log changed.
    await s.db('audit_events').insert({ id: a.id, ...contentOf(b) });
    await s.db('audit_events').insert({ id: b.id, ...contentOf(a) });
    const run = await verify();
    expect(run.code).toBe(3);
    expect(run.report).toMatchObject({ intact: false, first_broken: { id: Number(a.id), reason: 'link_broken' } });
    await s.db('audit_events').whereIn('id', [a.id, b.id]).delete();
    await s.db('audit_events').insert([a, b]);
    expect((await verify()).code).toBe(0);
  });

  it.skipIf(!enabled)('notices that the newest rows were deleted', async () => {
    const last = rows.at(-1)!;
    await s.db('audit_events').where({ id: last.id }).delete();
    const run = await verify();
    expect(run.code).toBe(3);
    expect(run.report).toMatchObject({ intact: false, first_broken: { id: Number(last.id), reason: 'rows_missing_at_end' } });
    await restore(last);
    expect((await verify()).code).toBe(0);
  });
});
