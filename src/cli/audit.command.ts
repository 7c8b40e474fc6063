import { resolve } from 'node:path';
import { loadConfig } from '../config/index.js';
import type { ChainReport } from '../audit/index.js';
import { parseOptions } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = { json: { type: 'boolean' }, export: { type: 'string' } } as const;

/** A check that ran and found a problem: its own exit code, and its one line on stderr. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 3,
  ) {
    super(message);
  }
}

type Broken = NonNullable<ChainReport['firstBroken']>;

const explain: Record<Broken['reason'], string> = {
  row_altered: 'its content does not match its hash (the row was edited)',
  link_broken: 'it does not follow the row before it (a row before it was deleted, inserted or moved)',
  rows_missing_at_end: 'a signed checkpoint names rows after it that are gone (the newest rows were deleted)',
  checkpoint_mismatch: 'the chain does not reach the hash a signed checkpoint holds (the chain was rewritten)',
  checkpoint_bad_signature: 'its signature does not verify with the audit key (it was forged or edited)',
  unsigned_rows: 'it and the rows after it were sealed without a signed checkpoint (added by someone without the audit key)',
};

const where = (b: Broken): string =>
  b.reason === 'checkpoint_bad_signature'
    ? b.checkpoint !== undefined
      ? `checkpoint ${b.checkpoint}`
      : `line ${b.exportLine} of the exported checkpoints`
    : `row ${b.id}${b.checkpoint !== undefined ? ` (checkpoint ${b.checkpoint})` : b.exportLine !== undefined ? ` (line ${b.exportLine} of the exported checkpoints)` : b.anchor ? ' (the newest checkpoint, as kept in Redis)' : ''}`;

const ageSeconds = (at: number | undefined, now: number) => (at === undefined ? null : Math.max(0, Math.round((now - at) / 100) / 10));

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'Check the audit log’s hash chain and signed checkpoints; say how far the sealer lags',
  usage: `Usage: yihao audit verify [--json] [--export FILE]

Recomputes the hash chain of the audit log row by row, checks the signature of every
checkpoint with the audit key (and retired ones in audit.retiredPublicKeys), and checks the
chain against the exported copy of the checkpoints (audit.export.file, or --export FILE).
Exits 0 when all of it is intact; exits 3 and names the first row or checkpoint that does
not fit when a row was edited, deleted, inserted or moved, the newest rows were deleted, or
the chain was recomputed without the key. Also says how many events the sealer has not
chained yet and how old the oldest of them is. Reads the whole log.

Options:
  --json         print {"intact", "checked", "checkpoints", "exported",
                 "first_broken": {"id", "reason", "checkpoint"?, "export_line"?, "anchor"?} | null,
                 "unsealed": {"count", "oldest_age_seconds"},
                 "last_checkpoint": {"seq", "at", "age_seconds"} | null, "audit_key": {"kid", "public_key"}}
  --export FILE  the exported checkpoints (JSON lines) to compare with`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const exportFile = opts.export ? resolve(opts.export) : config.audit.export.file;
    const { report, key } = await withYihao(config, async (yihao) => ({
      report: await yihao.services.audit.check(exportFile),
      key: { kid: yihao.services.auditKey.kid, public_key: yihao.services.auditKey.publicKey.export({ format: 'der', type: 'spki' }).toString('base64') },
    }));
    const now = Date.now();
    const broken = report.firstBroken;
    const lag = { count: report.unsealed.count, oldest_age_seconds: ageSeconds(report.unsealed.oldestAt, now) };
    const last = report.lastCheckpoint && { seq: report.lastCheckpoint.seq, at: new Date(report.lastCheckpoint.at).toISOString(), age_seconds: ageSeconds(report.lastCheckpoint.at, now) };
    const json = {
      intact: report.intact,
      checked: report.checked,
      checkpoints: report.checkpoints,
      exported: report.exported,
      first_broken: broken
        ? {
            id: broken.id,
            reason: broken.reason,
            ...(broken.checkpoint !== undefined ? { checkpoint: broken.checkpoint } : {}),
            ...(broken.exportLine !== undefined ? { export_line: broken.exportLine } : {}),
            ...(broken.anchor ? { anchor: true } : {}),
          }
        : null,
      unsealed: lag,
      last_checkpoint: last ?? null,
      audit_key: key,
    };
    out.result(opts.json, json, [
      broken
        ? `audit log BROKEN at ${where(broken)}: ${explain[broken.reason]}`
        : `audit log intact: ${report.checked} rows checked, ${report.checkpoints} signed checkpoints${report.exported ? `, ${report.exported} exported checkpoints` : ''}`,
      `not yet sealed: ${lag.count} events${lag.oldest_age_seconds !== null ? `, the oldest ${lag.oldest_age_seconds} s old` : ''}`,
      last ? `last checkpoint: row ${last.seq}, signed ${last.at} (${last.age_seconds} s ago)` : 'no signed checkpoint yet',
    ]);
    if (broken) throw new CheckFailed(`audit log broken at ${where(broken)} (${broken.reason})`);
  },
};
