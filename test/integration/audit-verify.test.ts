/**
 * The attacker can write the database but does not hold the audit key. Whatever they do to the log
 * (edit, delete, insert or reorder rows, delete the newest rows with their checkpoints, recompute
 * the whole chain, forge checkpoints with a key of their own), `yihao audit verify` names the first
 * row or checkpoint that does not fit and exits 3; on SQLite and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CompactSign } from 'jose';
import { loadConfig } from '../../src/config/index.js';
import { GENESIS, rowHash, storedRowHash, type AuditRow } from '../../src/audit/audit-chain.js';
import { migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { auditOn, auditStores, auditTestKey } from '../support/audit.js';
import { Redis } from 'ioredis';
import { createPgSchema, pgAvailable, PG_URL, redisAvailable, REDIS_URL, uniqueName } from '../support/services.js';
import { buildCli, hostedYihao, pgUrlWithSchema } from '../support/yihao-cli.js';

interface Store {
  db: Database;
  dir: string;
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
      return { db, dir, env: { YIHAO_DATA_DIR: dir }, close: async () => (await db.destroy(), rmSync(dir, { recursive: true, force: true })) };
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
        dir,
        env: { DATABASE_URL: pgUrlWithSchema(PG_URL, pg.schema), YIHAO_DATA_DIR: dir },
        close: async () => (await db.destroy(), await pg.drop(), rmSync(dir, { recursive: true, force: true })),
      };
    },
  },
];

beforeAll(buildCli, 180_000);

type Row = AuditRow & Record<string, unknown>;
type Report = {
  intact: boolean;
  checked: number;
  checkpoints: number;
  first_broken: { id: number; reason: string; checkpoint?: number; export_line?: number } | null;
  unsealed: { count: number; oldest_age_seconds: number | null };
  anchor: { checked: boolean; status: string; seq?: number };
  accepted?: { seq: number; hash: string } | null;
};

describe.each(backends)('yihao audit verify ($name)', ({ enabled, open }) => {
  let s: Store;
  let rows: Row[];
  let checkpoints: Record<string, unknown>[];
  let exportFile: string;

  beforeAll(async () => {
    if (!enabled) return;
    s = await open();
    await migrate(s.db);
    // The same secrets.json the CLI will read: its audit key signs the checkpoints.
    const key = auditTestKey(loadConfig({ NODE_ENV: 'test', ...s.env }).secrets.auditKey);
    exportFile = join(s.dir, 'checkpoints.jsonl');
    const { log, sealer } = auditOn(s.db, key, { exportFile });
    // Two batches, so two checkpoints: rows 1-4 and rows 1-8.
    for (let i = 1; i <= 8; i++) {
      await log.append({ action: 'admin.client.created', actorType: 'operator', actorId: `op${i % 2}`, clientId: `yh_c${i}`, departmentId: 'dp_test', details: { i } });
      if (i === 4) await sealer.sealNow();
    }
    await sealer.sealNow();
    await sealer.stop();
    rows = (await s.db('audit_events').orderBy('seq')) as Row[];
    checkpoints = (await s.db('audit_checkpoints').orderBy('id')) as Record<string, unknown>[];
  });
  afterAll(async () => s?.close());

  const verify = async (...extra: string[]) => {
    const run = await hostedYihao(['audit', 'verify', '--json', ...extra], s.env);
    return { ...run, report: run.stdout ? (JSON.parse(run.stdout) as Report) : undefined };
  };
  /** Puts back the log as the sealer left it; the next attack starts from an intact log. */
  const restore = async () => {
    await s.db('audit_events').delete();
    await s.db('audit_checkpoints').delete();
    await s.db('audit_events').insert(rows);
    await s.db('audit_checkpoints').insert(checkpoints);
    // Exactly as sealed (the first test shows the CLI calls that log intact); no CLI run, which costs seconds.
    expect(await s.db('audit_events').orderBy('seq')).toEqual(rows);
    expect(await s.db('audit_checkpoints').orderBy('id')).toEqual(checkpoints);
  };
  const expectBroken = async (run: Awaited<ReturnType<typeof verify>>, broken: Report['first_broken']) => {
    expect(run.code).toBe(3);
    expect(run.report).toMatchObject({ intact: false, first_broken: broken });
    expect(run.stderr).toMatch(/^yihao: audit log broken at .* \(\w+\)\n$/);
  };
  /** What an attacker without the key can do: recompute every hash from `from` on, in chain order. */
  const recomputeFrom = async (from: number) => {
    let prev = from === 0 ? GENESIS : rows[from - 1]!.hash!;
    for (const r of (await s.db('audit_events').orderBy('seq')).slice(from) as Row[]) {
      const hash = storedRowHash(prev, r);
      await s.db('audit_events').where({ id: r.id }).update({ prev_hash: prev, hash });
      prev = hash;
    }
    return prev;
  };

  it.skipIf(!enabled)('reports an intact log, the signed checkpoints and the sealer’s lag, and exits 0', async () => {
    const run = await verify('--export', exportFile);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.report).toMatchObject({ intact: true, checked: 8, checkpoints: 2, exported: 2, first_broken: null, unsealed: { count: 0, oldest_age_seconds: null } });
    const text = await hostedYihao(['audit', 'verify'], s.env);
    expect(text.stdout).toMatch(/^audit log intact: 8 rows checked, 2 signed checkpoints\nnot yet sealed: 0 events\nlast checkpoint: row 8, signed .* ago\)\nanchor: not checked \(no Redis configured\)\n$/);
    expect(run.report!.anchor).toEqual({ checked: false, status: 'not_configured' });
  });

  it.skipIf(!enabled)('counts events not yet sealed, with the age of the oldest, without calling them a break', async () => {
    await s.db('audit_events').insert({ at: Date.now() - 5_000, action: 'login.succeeded', actor_type: 'citizen' });
    const run = await verify();
    expect(run.code).toBe(0);
    expect(run.report!.unsealed.count).toBe(1);
    expect(run.report!.unsealed.oldest_age_seconds).toBeGreaterThanOrEqual(5);
    await restore();
  });

  it.skipIf(!enabled)('with --max-lag, exits 5 when the sealer lags further: by the oldest unsealed event, or by the last checkpoint of a quiet log', async () => {
    // The checkpoints were signed moments ago: a quiet log within any lag.
    expect((await verify('--max-lag', '600')).code).toBe(0);
    // A sealer that stopped 15 minutes ago, after signing its last checkpoint.
    const past = Date.now() - 900_000;
    const clock = vi.spyOn(Date, 'now').mockReturnValue(past);
    try {
      const { log, sealer } = auditOn(s.db, auditTestKey(loadConfig({ NODE_ENV: 'test', ...s.env }).secrets.auditKey));
      await log.append({ action: 'admin.client.created', actorType: 'operator', actorId: 'op1', clientId: 'yh_c9', departmentId: 'dp_test', details: { i: 9 } });
      expect(await sealer.sealNow()).toMatchObject({ sealed: 1, checkpoints: 1 });
      await sealer.stop();
    } finally {
      clock.mockRestore();
    }
    const quiet = await verify('--max-lag', '600');
    expect(quiet.code).toBe(5);
    expect(quiet.stderr).toMatch(/^yihao: audit log intact, but the sealer lags: the last checkpoint was signed 9\d\d(\.\d)? s ago \(--max-lag 600\)\n$/);
    await s.db('audit_events').insert({ at: Date.now() - 700_000, action: 'login.succeeded', actor_type: 'citizen' });
    const behind = await verify('--max-lag', '600');
    expect(behind.code).toBe(5);
    expect(behind.stderr).toMatch(/the oldest unsealed event is 7\d\d(\.\d)? s old/);
    expect(behind.report).toMatchObject({ intact: true, unsealed: { count: 1 } });
    // Without the option, lag alone is no failure (the metric and its alert are the other way to hear of it).
    expect((await verify()).code).toBe(0);
    expect((await verify('--max-lag', '1000')).code).toBe(0);
    expect((await verify('--max-lag', '-1')).code).toBe(2);
    await restore();
  });

  it.skipIf(!enabled)('names an edited row', async () => {
    const victim = rows[3]!;
    await s.db('audit_events').where({ id: victim.id }).update({ details: '{"i":999}' });
    await expectBroken(await verify(), { id: Number(victim.id), reason: 'row_altered' });
    const text = await hostedYihao(['audit', 'verify'], s.env);
    expect(text.stdout).toContain(`audit log BROKEN at row ${victim.id}: its content does not match its hash`);
    await restore();
  });

  it.skipIf(!enabled)('names the row after a deleted one', async () => {
    await s.db('audit_events').where({ id: rows[5]!.id }).delete();
    await expectBroken(await verify(), { id: Number(rows[6]!.id), reason: 'link_broken' });
    await restore();
  });

  it.skipIf(!enabled)('names the first of two rows that swapped places', async () => {
    const [a, b] = [rows[2]!, rows[3]!];
    // Each keeps its content and hashes, but takes the other's place in the chain.
    await s.db('audit_events').where({ id: a.id }).update({ seq: -1 });
    await s.db('audit_events').where({ id: b.id }).update({ seq: a.seq });
    await s.db('audit_events').where({ id: a.id }).update({ seq: b.seq });
    await expectBroken(await verify(), { id: Number(b.id), reason: 'link_broken' });
    await restore();
  });

  it.skipIf(!enabled)('names the row after one inserted in the middle, and rows added at the end without a checkpoint', async () => {
    // In the middle: the later rows move up one place, the forged row links to the row before it.
    for (const r of [...rows].reverse().slice(0, 4)) await s.db('audit_events').where({ id: r.id }).update({ seq: Number(r.seq) + 1 });
    const forged = { at: Number(rows[3]!.at) + 1, action: 'admin.client.approved', actor_type: 'operator', actor_id: 'op1', account_id: null, client_id: 'yh_c4', channel: null, ip: null, request_id: null, details: null, department_id: 'dp_test' };
    await s.db('audit_events').insert({ ...forged, seq: 5, prev_hash: rows[3]!.hash, hash: rowHash(rows[3]!.hash!, forged) });
    await expectBroken(await verify(), { id: Number(rows[4]!.id), reason: 'link_broken' });
    await restore();

    // At the end, correctly linked: only the missing signature gives it away.
    const last = rows.at(-1)!;
    const [added] = (await s.db('audit_events').insert({ ...forged, seq: 9, prev_hash: last.hash, hash: rowHash(last.hash!, forged) }).returning('id')) as { id: number }[];
    await expectBroken(await verify(), { id: Number(added!.id), reason: 'unsigned_rows' });
    await restore();
  });

  it.skipIf(!enabled)('notices that the newest rows were deleted: by the checkpoint that names them, or by the exported copy when their checkpoint went too', async () => {
    const tail = rows.slice(4);
    await s.db('audit_events').whereIn('id', tail.map((r) => r.id)).delete();
    await expectBroken(await verify(), { id: Number(rows[3]!.id), reason: 'rows_missing_at_end', checkpoint: Number(checkpoints[1]!.id) });

    // The attacker deletes the newest checkpoint as well: the database alone now looks like an
    // older, intact log; the copy outside it does not agree.
    await s.db('audit_checkpoints').where({ id: checkpoints[1]!.id }).delete();
    expect((await verify()).report).toMatchObject({ intact: true, checked: 4 });
    await expectBroken(await verify('--export', exportFile), { id: Number(rows[3]!.id), reason: 'rows_missing_at_end', export_line: 2 });
    await restore();
  });

  it.skipIf(!enabled)('detects a chain recomputed without the key: against the checkpoints, without them, and with forged ones', async () => {
    // Edit row 2 and recompute every hash after it: the chain is self-consistent again.
    await s.db('audit_events').where({ id: rows[1]!.id }).update({ details: '{"i":"rewritten"}' });
    const head = await recomputeFrom(1);
    await expectBroken(await verify(), { id: Number(rows[3]!.id), reason: 'checkpoint_mismatch', checkpoint: Number(checkpoints[0]!.id) });

    // Without checkpoints, the sealed rows have no signature at all.
    await s.db('audit_checkpoints').delete();
    await expectBroken(await verify(), { id: Number(rows[0]!.id), reason: 'unsigned_rows' });

    // With checkpoints signed by a key of the attacker's own, named like ours.
    const ours = (checkpoints[0]!.jws as string).split('.')[0]!;
    const kid = (JSON.parse(Buffer.from(ours, 'base64url').toString()) as { kid: string }).kid;
    const theirs = auditTestKey();
    const at = Date.now();
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify({ v: 1, seq: 8, hash: head, at })))
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'yihao-audit-checkpoint' })
      .sign(theirs.privateKey);
    const [forged] = (await s.db('audit_checkpoints').insert({ seq: 8, hash: head, at, kid, jws }).returning('id')) as { id: number }[];
    await expectBroken(await verify(), { id: 0, reason: 'checkpoint_bad_signature', checkpoint: Number(forged!.id) });

    // Or ours, with the claim edited to the new head.
    const [h, , sig] = (checkpoints[1]!.jws as string).split('.');
    const edited = `${h}.${Buffer.from(JSON.stringify({ v: 1, seq: 8, hash: head, at })).toString('base64url')}.${sig}`;
    await s.db('audit_checkpoints').where({ id: forged!.id }).update({ jws: edited });
    await expectBroken(await verify(), { id: 0, reason: 'checkpoint_bad_signature', checkpoint: Number(forged!.id) });
    await restore();
  });

  it.skipIf(!enabled)('names a row given a place at or below 0, outside the chain, that the portal would still show', async () => {
    // A back-dated sign-in for a citizen, planted long after the log was sealed.
    const planted = { at: Number(rows[0]!.at) - 86_400_000, action: 'login.succeeded', actor_type: 'citizen', actor_id: 'victim', account_id: 'victim', channel: 'web' };
    const [zero] = (await s.db('audit_events').insert({ ...planted, seq: 0, prev_hash: GENESIS, hash: 'e'.repeat(64) }).returning('id')) as { id: number }[];
    const [below] = (await s.db('audit_events').insert({ ...planted, seq: -7, prev_hash: GENESIS, hash: 'f'.repeat(64) }).returning('id')) as { id: number }[];
    await expectBroken(await verify(), { id: Number(zero!.id), reason: 'row_outside_chain' });
    const text = await hostedYihao(['audit', 'verify'], s.env);
    expect(text.stdout).toContain(`audit log BROKEN at row ${zero!.id}: it has a place outside the chain`);
    await s.db('audit_events').where({ id: zero!.id }).delete();
    await expectBroken(await verify(), { id: Number(below!.id), reason: 'row_outside_chain' });
    await restore();
  });

  it.skipIf(!enabled || !redisAvailable)('says whether it checked the anchor in Redis, and accepts the database’s head as the anchor only when asked', async () => {
    const redisPrefix = `${uniqueName('yihao_audit_cli')}:`;
    const withRedis = { ...s.env, REDIS_URL, YIHAO_REDIS_PREFIX: redisPrefix };
    const redis = new Redis(REDIS_URL);
    try {
      // Checkpoints in the database, nothing in Redis (lost, or deleted): not "intact" as if it had been compared.
      const missing = await hostedYihao(['audit', 'verify', '--json'], withRedis);
      expect(missing.code).toBe(4);
      expect(JSON.parse(missing.stdout)).toMatchObject({ intact: true, first_broken: null, anchor: { checked: false, status: 'missing' } });
      expect(missing.stderr).toMatch(/^yihao: .*anchor in Redis was not checked.*\(missing\)\n$/);
      expect((await hostedYihao(['audit', 'verify'], withRedis)).stdout).toContain('anchor: NOT CHECKED: Redis keeps none');

      const accept = await hostedYihao(['audit', 'verify', '--accept-head', '--json'], withRedis);
      expect(accept.stderr).toBe('');
      expect(accept.code).toBe(0);
      expect(JSON.parse(accept.stdout)).toMatchObject({ intact: true, checked: 8, accepted: { seq: 8, hash: rows.at(-1)!.hash }, previous: null });
      expect(await redis.get(`${redisPrefix}audit:anchor`)).toContain(`"seq":8`);

      const checked = await hostedYihao(['audit', 'verify', '--json'], withRedis);
      expect(checked.code).toBe(0);
      // The acceptance waits, unsealed, for the sealer; the anchor names row 8.
      expect(JSON.parse(checked.stdout)).toMatchObject({ intact: true, unsealed: { count: 1 }, anchor: { checked: true, status: 'checked', seq: 8 } });
      expect((await hostedYihao(['audit', 'verify'], withRedis)).stdout).toContain('anchor in Redis: checked (row 8)');
      const [event] = (await s.db('audit_events').whereNull('seq')) as Row[];
      expect(event).toMatchObject({ action: 'admin.audit.anchor_accepted', actor_type: 'system', actor_id: 'cli' });
    } finally {
      await redis.del(`${redisPrefix}audit:anchor`);
      redis.disconnect();
      await restore();
    }
  });

  it.skipIf(!enabled)('refuses an exported copy that was edited', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const lines = readFileSync(exportFile, 'utf8').trimEnd().split('\n');
    const tampered = join(s.dir, 'tampered.jsonl');
    const line = JSON.parse(lines[1]!) as { jws: string };
    const [h, p, sig] = line.jws.split('.');
    const claim = JSON.parse(Buffer.from(p!, 'base64url').toString()) as { seq: number };
    claim.seq = 99;
    writeFileSync(tampered, `${lines[0]}\n${JSON.stringify({ jws: `${h}.${Buffer.from(JSON.stringify(claim)).toString('base64url')}.${sig}` })}\n`);
    await expectBroken(await verify('--export', tampered), { id: 0, reason: 'checkpoint_bad_signature', export_line: 2 });
  });
});

describe.each(auditStores({ migrated: true }))('rows beside the chain ($name)', ({ enabled, open }) => {
  it.skipIf(!enabled)('names a row that shares its place with another where the walk steps from one page of rows to the next', async () => {
    const s = await open();
    try {
      const { log, sealer } = auditOn(s.db, auditTestKey());
      for (let i = 0; i < 10; i++) {
        await s.db('audit_events').insert(Array.from({ length: 101 }, (_, j) => ({ at: 1764460800000 + i * 101 + j, action: 'admin.test.event', actor_type: 'system' })));
      }
      while ((await sealer.sealNow()).sealed > 0);
      expect(await log.check()).toMatchObject({ intact: true, checked: 1010 });
      // The walk reads 1000 rows a page; a copy of row 1000 would be left behind when it moves on past 1000.
      await s.db.schema.alterTable('audit_events', (t) => t.dropUnique(['seq'], 'audit_events_seq'));
      const { id, ...genuine } = (await s.db('audit_events').where({ seq: 1000 }).first()) as Row;
      await s.db('audit_events').insert({ ...genuine, action: 'login.succeeded', actor_type: 'citizen', account_id: 'victim', hash: 'd'.repeat(64) });
      // Rows sharing a place come in no set order: the walk meets the planted one (edited, as far as
      // the chain can tell) or steps past it (outside the chain). Never does it miss it.
      const { intact, firstBroken } = await log.check();
      expect(intact).toBe(false);
      expect([{ id: Number(id), reason: 'row_outside_chain' }, { id: expect.any(Number), reason: 'row_altered' }]).toContainEqual(firstBroken);
    } finally {
      await s.close();
    }
  });
});
