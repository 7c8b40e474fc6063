import { createAuditLog, createAuditSealer, generateAuditKey, parseAuditKey, verifyKeys, type AuditSigningKey } from '../../src/audit/index.js';
import type { Database } from '../../src/storage/database.js';

export const quietSealerLog = { info: () => undefined, warn: () => undefined };

/** A fresh audit key, as `yihao` would generate into secrets.json. */
export const auditTestKey = (text = generateAuditKey()): AuditSigningKey => parseAuditKey(text)!;

/** An audit log and a sealer over `db` that never starts its timer: tests seal with `sealNow()`. */
export function auditOn(db: Database, key: AuditSigningKey, opts: { exportFile?: string; batchSize?: number; leaseMs?: number } = {}) {
  const log = createAuditLog(db, { verifyKeys: verifyKeys(key, []), ...(opts.exportFile ? { exportFile: opts.exportFile } : {}) });
  const sealer = createAuditSealer({
    db,
    key,
    intervalMs: 1_000,
    batchSize: opts.batchSize ?? 500,
    leaseMs: opts.leaseMs ?? 10_000,
    idleCheckpointMs: 60_000,
    exporter: opts.exportFile ? async (line) => (await import('node:fs/promises')).appendFile(opts.exportFile!, line + '\n') : undefined,
    log: quietSealerLog,
  });
  return { log, sealer };
}
