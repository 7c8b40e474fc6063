import { resolve } from 'node:path';
import { loadConfig, type Config } from '../config/index.js';
import type { AnchorStatus, ChainReport } from '../audit/index.js';
import { parseOptions, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import type { Output } from './output.js';

const options = { json: { type: 'boolean' }, export: { type: 'string' }, 'accept-head': { type: 'boolean' }, 'max-lag': { type: 'string' } } as const;

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
  row_outside_chain: 'it has a place outside the chain (0 or below, or one another row holds), so the chain never reaches it (planted beside the log)',
};

const anchorLine: Record<AnchorStatus, (seq: number | undefined) => string> = {
  checked: (seq) => `anchor in Redis: checked (row ${seq})`,
  not_configured: () => 'anchor: not checked (no Redis configured)',
  none_yet: () => 'anchor: none yet (nothing signed yet)',
  missing: () =>
    'anchor: NOT CHECKED: Redis keeps none, though the database holds a sealed history (lost with Redis’s data, or deleted); the sealer seals nothing until it is accepted (--accept-head)',
  unreadable: () => 'anchor: NOT CHECKED: Redis did not answer',
  unverifiable: () => 'anchor: NOT CHECKED: the line kept in Redis does not verify with the audit key or a retired one',
};

// A log cut or rewritten below the anchor looks intact without it: not a clean bill of health.
const ANCHOR_UNCHECKED: ReadonlySet<AnchorStatus> = new Set(['missing', 'unreadable', 'unverifiable']);

const brokenJson = (b: Broken | undefined) =>
  b
    ? {
        id: b.id,
        reason: b.reason,
        ...(b.checkpoint !== undefined ? { checkpoint: b.checkpoint } : {}),
        ...(b.exportLine !== undefined ? { export_line: b.exportLine } : {}),
        ...(b.anchor ? { anchor: true } : {}),
      }
    : null;

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
  usage: `Usage: yihao audit verify [--json] [--export FILE] [--max-lag SECONDS]
       yihao audit verify --accept-head [--json]

Recomputes the hash chain of the audit log row by row, checks the signature of every
checkpoint with the audit key (and retired ones in audit.retiredPublicKeys), and checks the
chain against the exported copy of the checkpoints (audit.export.file, or --export FILE).
Exits 0 when all of it is intact; exits 3 and names the first row or checkpoint that does
not fit when a row was edited, deleted, inserted or moved, the newest rows were deleted, or
the chain was recomputed without the key. Also says how many events the sealer has not
chained yet and how old the oldest of them is. Reads the whole log.

With Redis, the chain is also checked against the newest checkpoint kept there (the anchor).
When the anchor could not be checked (Redis did not answer, keeps none though checkpoints
exist, or keeps one no audit key signed), exits 4 even if the rest is intact.

With --max-lag, also exits 5 when the sealer is that far behind: the oldest event not yet
sealed, or (with nothing to seal) the last checkpoint, is older than SECONDS. Unsealed
events can be edited without trace, and a sealer that stopped seals nothing (docs/audit.md).

--accept-head is for an operator, after restoring a database backup or losing Redis's data,
when the sealer refuses to seal (docs/audit.md): it checks the database's log on its own
and, only when that is intact, signs its head and makes it the anchor, replacing whatever
Redis kept. Rows the old anchor covered beyond that head are given up. Recorded in the log
as admin.audit.anchor_accepted.

Options:
  --json         print {"intact", "checked", "checkpoints", "exported",
                 "first_broken": {"id", "reason", "checkpoint"?, "export_line"?, "anchor"?} | null,
                 "unsealed": {"count", "oldest_age_seconds"},
                 "last_checkpoint": {"seq", "at", "age_seconds"} | null,
                 "anchor": {"checked", "status", "seq"?}, "audit_key": {"kid", "public_key"}};
                 with --accept-head: {"intact", "checked", "checkpoints", "first_broken",
                 "accepted": {"seq", "hash"} | null, "previous": {"seq", "hash"} | null}
  --export FILE  the exported checkpoints (JSON lines) to compare with
  --max-lag SECONDS  exit 5 when the sealer lags further than this (a cron job's alarm;
                 leave room for audit.idleCheckpointSeconds, 60 s by default)
  --accept-head  make the database's verified head the anchor in Redis`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    if (opts['accept-head'] && opts.export) throw usageError(this.name, '--accept-head checks the database alone: leave out --export');
    if (opts['accept-head'] && opts['max-lag'] !== undefined) throw usageError(this.name, '--max-lag is for verify: leave it out with --accept-head');
    const maxLag = opts['max-lag'];
    if (maxLag !== undefined && !/^\d{1,9}$/.test(maxLag)) throw usageError(this.name, '--max-lag must be a whole number of seconds');
    const config = loadConfig(env);
    if (opts['accept-head']) return acceptHead(config, opts.json, out);
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
      first_broken: brokenJson(broken),
      unsealed: lag,
      last_checkpoint: last ?? null,
      anchor: { checked: report.anchor.status === 'checked', ...report.anchor },
      audit_key: key,
    };
    out.result(opts.json, json, [
      broken
        ? `audit log BROKEN at ${where(broken)}: ${explain[broken.reason]}`
        : `audit log intact: ${report.checked} rows checked, ${report.checkpoints} signed checkpoints${report.exported ? `, ${report.exported} exported checkpoints` : ''}`,
      `not yet sealed: ${lag.count} events${lag.oldest_age_seconds !== null ? `, the oldest ${lag.oldest_age_seconds} s old` : ''}`,
      last ? `last checkpoint: row ${last.seq}, signed ${last.at} (${last.age_seconds} s ago)` : 'no signed checkpoint yet',
      anchorLine[report.anchor.status](report.anchor.seq),
    ]);
    if (broken) throw new CheckFailed(`audit log broken at ${where(broken)} (${broken.reason})`);
    if (ANCHOR_UNCHECKED.has(report.anchor.status)) {
      throw new CheckFailed(`audit log intact as far as checked, but the anchor in Redis was not checked (${report.anchor.status})`, 4);
    }
    // Checked after the chain: a break or an unchecked anchor is the graver news.
    const behind = lag.oldest_age_seconds ?? (lag.count === 0 ? last?.age_seconds : undefined);
    if (maxLag !== undefined && behind != null && behind > Number(maxLag)) {
      const what = lag.oldest_age_seconds !== null ? `the oldest unsealed event is ${behind} s old` : `the last checkpoint was signed ${behind} s ago`;
      throw new CheckFailed(`audit log intact, but the sealer lags: ${what} (--max-lag ${maxLag})`, 5);
    }
  },
};

async function acceptHead(config: Config, json: boolean | undefined, out: Output): Promise<void> {
  const { report, accepted, previous } = await withYihao(config, (yihao) => yihao.services.audit.acceptHead(yihao.services.auditKey));
  const broken = report.firstBroken;
  const given = previous && accepted !== undefined && previous.seq > (accepted?.seq ?? 0) ? { from: (accepted?.seq ?? 0) + 1, to: previous.seq } : undefined;
  out.result(
    json,
    { intact: report.intact, checked: report.checked, checkpoints: report.checkpoints, first_broken: brokenJson(broken), accepted: accepted ?? null, previous: previous ?? null },
    broken
      ? [`audit log BROKEN at ${where(broken)}: ${explain[broken.reason]}`, 'anchor in Redis: left as it was']
      : [
          `audit log intact on its own: ${report.checked} rows checked, ${report.checkpoints} signed checkpoints`,
          `anchor in Redis: was ${previous ? `row ${previous.seq}` : 'missing'}; ${accepted ? `now row ${accepted.seq}, signed afresh` : 'removed (nothing signed yet)'}`,
          ...(given ? [`rows ${given.from} to ${given.to}, which the old anchor covered, are no longer covered: that is what was accepted`] : []),
          'recorded in the audit log as admin.audit.anchor_accepted',
        ],
  );
  if (broken) throw new CheckFailed(`audit log broken at ${where(broken)} (${broken.reason}); the anchor was left as it was`);
}
