import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, createAuditSealer, generateAuditKey, parseAuditKey, verifyKeys, type AuditSigningKey } from '../../src/audit/index.js';
import type { AuditAnchor } from '../../src/audit/audit-anchor.js';
import { isPostgres, migrate, openDatabase, type Database } from '../../src/storage/database.js';
import { createPgSchema, pgAvailable, PG_URL } from './services.js';

export const quietSealerLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A fresh audit key, as `yihao` would generate into secrets.json. */
export const auditTestKey = (text = generateAuditKey()): AuditSigningKey => parseAuditKey(text)!;

/** An audit log and a sealer over `db` that never starts its timer: tests seal with `sealNow()`. */
export function auditOn(db: Database, key: AuditSigningKey, opts: { exportFile?: string; batchSize?: number; leaseMs?: number; anchor?: AuditAnchor | undefined } = {}) {
  const log = createAuditLog(db, { verifyKeys: verifyKeys(key, []), ...(opts.exportFile ? { exportFile: opts.exportFile } : {}), anchor: opts.anchor });
  const sealer = createAuditSealer({
    db,
    key,
    intervalMs: 1_000,
    batchSize: opts.batchSize ?? 500,
    leaseMs: opts.leaseMs ?? 10_000,
    idleCheckpointMs: 60_000,
    exporter: opts.exportFile ? async (line) => (await import('node:fs/promises')).appendFile(opts.exportFile!, line + '\n') : undefined,
    anchor: opts.anchor,
    log: quietSealerLog,
  });
  return { log, sealer };
}

/** A fresh store, and more handles on it (another instance or process writing alongside). */
export type AuditStore = { db: Database; second(): Database; close(): Promise<void> };

/** SQLite and (when reachable) PostgreSQL, each fresh; `migrated: false` leaves the schema to the test. */
export function auditStores({ migrated }: { migrated: boolean }): { name: 'sqlite' | 'postgres'; enabled: boolean; open(): Promise<AuditStore> }[] {
  const opened = async (open: () => Database, drop: () => Promise<void>): Promise<AuditStore> => {
    const db = open();
    if (migrated) await migrate(db);
    const extra: Database[] = [];
    return {
      db,
      second: () => (extra.push(open()), extra.at(-1)!),
      async close() {
        for (const d of [db, ...extra]) await d.destroy();
        await drop();
      },
    };
  };
  return [
    {
      name: 'sqlite',
      enabled: true,
      async open() {
        const dir = mkdtempSync(join(tmpdir(), 'yihao-audit-'));
        return opened(() => openDatabase({ dataDir: dir }), async () => rmSync(dir, { recursive: true, force: true }));
      },
    },
    {
      name: 'postgres',
      enabled: pgAvailable,
      async open() {
        const pg = await createPgSchema();
        return opened(() => openDatabase({ url: PG_URL, dataDir: '.', schema: pg.schema }), pg.drop);
      },
    },
  ];
}

/** Makes the store refuse audit events of one action (a trigger), as a failing audit store would; returns the undo. */
export async function refuseAuditEvents(db: Database, action: string): Promise<() => Promise<void>> {
  if (isPostgres(db)) {
    await db.raw(`create function refuse_audit() returns trigger language plpgsql as $$ begin raise exception 'audit store refused'; end $$`);
    await db.raw(`create trigger refuse_audit before insert on audit_events for each row when (new.action = '${action}') execute function refuse_audit()`);
  } else {
    await db.raw(`create trigger refuse_audit before insert on audit_events when new.action = '${action}' begin select raise(abort, 'audit store refused'); end`);
  }
  return async () => {
    await db.raw('drop trigger refuse_audit' + (isPostgres(db) ? ' on audit_events' : ''));
    if (isPostgres(db)) await db.raw('drop function refuse_audit()');
  };
}
