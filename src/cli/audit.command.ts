import { loadConfig } from '../config/index.js';
import type { ChainReport } from '../audit/index.js';
import { parseOptions } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = { json: { type: 'boolean' } } as const;

/** A check that ran and found a problem: its own exit code, and its one line on stderr. */
export class CheckFailed extends Error {
  readonly exitCode = 3;
}

const explain: Record<NonNullable<ChainReport['firstBroken']>['reason'], string> = {
  row_altered: 'its content does not match its hash (the row was edited)',
  link_broken: 'it does not follow the row before it (a row before it was deleted, inserted or moved)',
  rows_missing_at_end: 'the chain ends before it (the newest rows were deleted)',
  head_mismatch: 'the recorded end of the chain does not match the last row',
};

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'Check the audit log’s hash chain and name the first row that does not fit',
  usage: `Usage: yihao audit verify [--json]

Recomputes the hash chain of the audit log, row by row. Exits 0 when it is intact; exits 3
and names the first row that does not fit when a row was edited, deleted, inserted or
moved. Reads the whole log.

Options:
  --json    print {"intact", "checked", "first_broken": {"id", "reason"} | null}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const report = await withYihao(config, (yihao) => yihao.services.audit.check());
    const broken = report.firstBroken;
    out.result(opts.json, { intact: report.intact, checked: report.checked, first_broken: broken ?? null }, [
      broken ? `audit log BROKEN at row ${broken.id}: ${explain[broken.reason]}` : `audit log intact: ${report.checked} rows checked`,
    ]);
    if (broken) throw new CheckFailed(`audit chain broken at row ${broken.id} (${broken.reason})`);
  },
};
