import { loadConfig } from '../config/index.js';
import { YihaoError } from '../errors.js';
import { rewriteColumn, type RewritableColumn, type RewriteProgress } from '../keys/column-rewrite.js';
import type { Database } from '../storage/database.js';
import { CheckFailed } from './audit.command.js';
import { parseOptions } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';
import { rotationLines, signingKeyJson, signingKeyTable } from './signing-key-view.js';

const options = {
  json: { type: 'boolean' },
} as const;
const rotateOptions = { ...options, now: { type: 'boolean' } } as const;

export const keysListCommand: Command = {
  name: 'keys list',
  summary: 'List the token signing keys (active, and retired ones still published)',
  usage: `Usage: yihao keys list [--json]

Lists the signing keys in the JWKS: the active key of each algorithm (ES256, RS256),
which signs new tokens (until its retired time, after a rotation), the next key
(published, signing from its signs-from time), and retired keys that still verify tokens
signed before a rotation. Creates the first keys if there are none yet, as the server does.

Options:
  --json    print {"keys": [{"kid", "alg", "status", "created_at", "retired_at", "signs_from"}]}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const config = loadConfig(env);
    const keys = await withYihao(config, (yihao) => yihao.signingKeys.list());
    out.result(opts.json, { keys: keys.map(signingKeyJson) }, signingKeyTable(keys));
  },
};

export const keysRotateCommand: Command = {
  name: 'keys rotate',
  summary: 'Add new signing keys and retire the current ones',
  usage: `Usage: yihao keys rotate [--now] [--json]

Adds a new key for each algorithm and retires the current ones. Every instance publishes
the new keys in the JWKS within keys.refreshSeconds, and they sign from keys.publishSeconds
after the rotation (2 × refreshSeconds + 30 unless set); the current keys sign until then,
so an app never sees a token signed with a key its JWKS does not hold yet. Retired keys
stay in the JWKS, for verification only, for keys.retiredKeepSeconds.

Options:
  --now     retire the current keys at once (a key that must stop signing now): running
            servers sign with the new keys within keys.refreshSeconds, and where several
            serve, an app may fail to verify a token for about that long
  --json    print {"activated": [kid, ...], "signs_from": ISO time, "keys": [...]} (the keys after rotation)`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, rotateOptions);
    const config = loadConfig(env);
    const { fresh, keys } = await withYihao(config, async (yihao) => {
      const before = (await yihao.signingKeys.list()).filter((k) => k.status === 'active').map((k) => k.kid);
      // Whoever runs the CLI on the server is the actor; the trail says the rotation came from there.
      const fresh = await yihao.signingKeys.rotate(
        (trx, activated) =>
          yihao.services.audit.append(
            { action: 'keys.rotated', actorType: 'system', actorId: 'cli', details: { via: 'cli', ...(opts.now ? { immediate: true } : {}), before: { active: before }, after: { active: activated } } },
            { trx },
          ),
        { immediate: opts.now === true },
      );
      return { fresh, keys: await yihao.signingKeys.list() };
    });
    const { signsFrom, lines } = rotationLines(fresh, config.keys.refreshSeconds, config.keys.retiredKeepSeconds);
    out.result(opts.json, { activated: fresh.map((k) => k.kid), signs_from: signsFrom ?? null, keys: keys.map(signingKeyJson) }, [...lines, '', ...signingKeyTable(keys)]);
  },
};

const rewriteOptions = {
  json: { type: 'boolean' },
  'batch-size': { type: 'string' },
} as const;

/** A batch small enough that each transaction is short next to a running server's writes. */
const DEFAULT_BATCH = 500;
/** Rows changed by the server during a pass are looked at again, a few times at most. */
const MAX_PASSES = 3;

function batchSizeOf(command: string, raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_BATCH;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > 10_000) throw new YihaoError('invalid_input', `${command}: --batch-size must be a whole number from 1 to 10000`);
  return n;
}

/** Runs each column to the end, again while the server changed rows under it, and reports. */
async function rewriteAll(db: Database, columns: readonly RewritableColumn[], batchSize: number, progress: ((line: string) => void) | undefined): Promise<RewriteProgress[]> {
  const results: RewriteProgress[] = [];
  for (const col of columns) {
    let total: RewriteProgress | undefined;
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      const p = await rewriteColumn(db, col, {
        batchSize,
        onBatch: (b) => progress?.(`${col.name}: ${b.scanned} scanned, ${b.rewritten} rewritten${b.unreadable ? `, ${b.unreadable} unreadable` : ''}`),
      });
      total = total
        ? { ...p, scanned: total.scanned + p.scanned, rewritten: total.rewritten + p.rewritten, changedMeanwhile: p.changedMeanwhile, unreadable: p.unreadable, unreadableKeys: p.unreadableKeys }
        : p;
      if (p.changedMeanwhile === 0) break;
    }
    results.push(total!);
  }
  return results;
}

const resultTable = (results: readonly RewriteProgress[]) =>
  table([['COLUMN', 'SCANNED', 'REWRITTEN', 'UNREADABLE'], ...results.map((r) => [r.column, String(r.scanned), String(r.rewritten), String(r.unreadable)])]);

const asJsonResult = (r: RewriteProgress) => ({
  column: r.column,
  scanned: r.scanned,
  rewritten: r.rewritten,
  changed_meanwhile: r.changedMeanwhile,
  unreadable: r.unreadable,
  unreadable_keys: r.unreadableKeys,
});

/** Unreadable rows are a finding (exit 3), named by their keys for a person to look at. */
function failIfUnreadable(results: readonly RewriteProgress[]): void {
  const bad = results.filter((r) => r.unreadable > 0);
  if (bad.length > 0) {
    throw new CheckFailed(`${bad.map((r) => `${r.column}: ${r.unreadable} unreadable (${r.unreadableKeys.join(', ')})`).join('; ')}; left as they were`);
  }
}

export const keysResealCommand: Command = {
  name: 'keys reseal',
  summary: 'Seal every stored sealed value again under the current seal key',
  usage: `Usage: yihao keys reseal [--batch-size N] [--json]

Re-encrypts, under the current (first) seal key and the current envelope version, every
value sealed under an older key or envelope: citizen ID numbers (which then name their
account), TOTP secrets, signing keys and upstream credentials. Runs while the server
runs: each row is written only if it still holds what was read. Safe to stop and run
again; a rerun continues with the rows still to do. When it reports nothing left, the
old seal key can be removed from YIHAO_SEAL_KEYS (see docs/keys.md for how long the
short-lived sealed records need it).

Options:
  --batch-size N  rows per batch (default ${DEFAULT_BATCH})
  --json          print {"seal_kid", "columns": [{"column", "scanned", "rewritten",
                  "changed_meanwhile", "unreadable", "unreadable_keys"}]}

Exit codes: 0 done; 3 some values could not be opened (their rows are named; nothing
was changed there); 2 bad input; 1 unexpected error.`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, rewriteOptions);
    const batchSize = batchSizeOf(this.name, opts['batch-size']);
    const config = loadConfig(env);
    // Loaded here: the columns' modules are not needed for help and bad input.
    const { sealedColumns } = await import('./rewritable-columns.js');
    const results = await withYihao(config, (yihao) =>
      rewriteAll(yihao.stores.db, sealedColumns(yihao.services), batchSize, opts.json ? undefined : (line) => out.progress(line)),
    );
    failIfUnreadable(results);
    const kid = config.secrets.sealKeys[0]!.kid;
    out.result(opts.json, { seal_kid: kid, columns: results.map(asJsonResult) }, [
      `Everything sealed is now under seal key ${kid}.`,
      '',
      ...resultTable(results),
    ]);
  },
};

export const keysReindexCommand: Command = {
  name: 'keys reindex',
  summary: "Move the citizen ID's blind index to the configured key version",
  usage: `Usage: yihao keys reindex [--batch-size N] [--json]

Recomputes every account's citizen ID index (and the copy that federated identities keep)
under keys.purposes.citizenIndex.version. Set that version together with reindexFrom (the
version the rows have now) on every server first: they then look up both, in one query,
until the re-index is done. Runs while the server runs, row by row with compare-and-set;
safe to stop and run again. When it is done, remove reindexFrom.

Options:
  --batch-size N  rows per batch (default ${DEFAULT_BATCH})
  --json          print {"version", "columns": [...]} as yihao keys reseal does

Exit codes: as yihao keys reseal.`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, rewriteOptions);
    const batchSize = batchSizeOf(this.name, opts['batch-size']);
    const config = loadConfig(env);
    const { version } = config.keys.purposes.citizenIndex;
    const { citizenIndexColumn } = await import('./rewritable-columns.js');
    const results = await withYihao(config, (yihao) =>
      rewriteAll(yihao.stores.db, [citizenIndexColumn(yihao.services.vault, version === 1 ? undefined : `${version}$`)], batchSize, opts.json ? undefined : (line) => out.progress(line)),
    );
    failIfUnreadable(results);
    out.result(opts.json, { version, columns: results.map(asJsonResult) }, [
      `Every citizen ID index is now version ${version}.${config.keys.purposes.citizenIndex.reindexFrom !== undefined ? ' Remove keys.purposes.citizenIndex.reindexFrom from the configuration.' : ''}`,
      '',
      ...resultTable(results),
    ]);
  },
};
