import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config-error.js';
import { projectRoot } from '../config/paths.js';
import { isYihaoError, YihaoError } from '../errors.js';
import { accountCreateCommand } from './account.command.js';
import { accountRevokeDevicesCommand } from './account-devices.command.js';
import { accountDisableCommand, accountEnableCommand, accountShowCommand } from './account-status.command.js';
import { auditVerifyCommand, CheckFailed } from './audit.command.js';
import { departmentCreateCommand } from './department.command.js';
import { operatorCreateCommand } from './operator.command.js';
import { wantsHelp } from './args.js';
import { clientCreateCommand } from './client.command.js';
import { clientListCommand, clientResumeCommand, clientRotateSecretCommand, clientShowCommand, clientSuspendCommand } from './client-manage.command.js';
import { clientUpdateCommand } from './client-update.command.js';
import { isAdminError } from '../admin/admin-error.js';
import { idpAddCommand, idpDisableCommand, idpEnableCommand, idpListCommand, idpSetCommand, idpUnlinkCommand } from './idp.command.js';
import type { Command, CommandContext } from './command.js';
import { keysListCommand, keysReindexCommand, keysResealCommand, keysRotateCommand } from './keys.command.js';
import { migrateCommand } from './migrate.command.js';
import { credentialKeysCommand, credentialListCommand, credentialRevokeCommand, credentialRotateKeyCommand } from './credential.command.js';
import { credentialBundleCommand, credentialVerifyCommand } from './credential-verify.command.js';
import { certificateTypeCreateCommand, certificateTypeListCommand, certificateTypeRetireCommand, certificateTypeShowCommand, certificateTypeUpdateCommand } from './certificate-type.command.js';

const commands: readonly Command[] = [
  migrateCommand,
  clientCreateCommand,
  clientListCommand,
  clientShowCommand,
  clientUpdateCommand,
  clientRotateSecretCommand,
  clientSuspendCommand,
  clientResumeCommand,
  accountCreateCommand,
  accountShowCommand,
  accountDisableCommand,
  accountEnableCommand,
  accountRevokeDevicesCommand,
  keysListCommand,
  keysRotateCommand,
  keysResealCommand,
  keysReindexCommand,
  idpAddCommand,
  idpListCommand,
  idpDisableCommand,
  idpEnableCommand,
  idpUnlinkCommand,
  idpSetCommand,
  departmentCreateCommand,
  operatorCreateCommand,
  auditVerifyCommand,
  credentialListCommand,
  credentialRevokeCommand,
  credentialKeysCommand,
  credentialRotateKeyCommand,
  credentialBundleCommand,
  credentialVerifyCommand,
  certificateTypeListCommand,
  certificateTypeShowCommand,
  certificateTypeCreateCommand,
  certificateTypeUpdateCommand,
  certificateTypeRetireCommand,
];

export const EXIT = { ok: 0, unexpected: 1, badInput: 2, notFound: 3 } as const;

/**
 * knex puts the failed statement, values inlined (names, phone numbers), before the driver's
 * message: "insert into ... values (...) - SQLITE_BUSY: ...". Keep the driver's part only.
 */
const withoutStatement = (message: string) =>
  /^\s*(?:select|insert|update|delete|with|create|alter|drop|pragma)\b[\s\S]* - ([\s\S]*)$/i.exec(message)?.[1] ?? message;

/** The one place where failures become exit codes and the single stderr line. */
function failure(e: unknown): { code: number; message: string } {
  if (isYihaoError(e) || e instanceof ConfigError) return { code: EXIT.badInput, message: e.message };
  if (e instanceof CheckFailed) return { code: e.exitCode, message: e.message };
  // The admin services (yihao client ...): the thing named does not exist, or the input or state is wrong.
  if (isAdminError(e)) return { code: e.code === 'not_found' ? EXIT.notFound : EXIT.badInput, message: e.message };
  const message = withoutStatement(e instanceof Error ? e.message : String(e));
  return { code: EXIT.unexpected, message: `unexpected error: ${message.split('\n')[0]!.slice(0, 300)}` };
}

const invalid = (message: string) => new YihaoError('invalid_input', message);
/** Command words are echoed only when they look like command words (not, say, an ID number). */
const quoted = (word: string) => (/^[a-z][a-z0-9-]{0,31}$/i.test(word) ? ` '${word}'` : '');

const column = (rows: readonly Command[]) => {
  const width = Math.max(...rows.map((c) => c.name.length));
  return rows.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
};

const overview = () => `Usage: yihao <command> [options]

Commands:
${column(commands)}

Run 'yihao <command> --help' (or 'yihao help <command>') for a command's options.
Every command takes --json for output that scripts can read.

The CLI reads the same environment as the server: DATABASE_URL (unset: SQLite in
YIHAO_DATA_DIR, default ./data under the current directory), REDIS_URL, YIHAO_CONFIG, and the secrets
(YIHAO_COOKIE_KEYS, YIHAO_SEAL_KEYS, YIHAO_INDEX_KEY, or YIHAO_SECRETS_FILE).

Exit codes: 0 done; 2 bad input or configuration (one line on stderr);
3 a check found a problem (yihao audit verify, unreadable values in yihao keys reseal/reindex)
or the client or account named does not exist (yihao client show|update|rotate-secret|suspend|resume,
yihao account show|disable|enable); 1 unexpected error.`;

const groupHelp = (group: string, members: readonly Command[]) => `Usage: yihao ${group} <command> [options]

Commands:
${column(members)}`;

type Found = { command: Command; args: string[] } | { help: string };

/** Finds the command that the leading words of `argv` name. */
function find(argv: readonly string[]): Found {
  const [first = '', second] = argv;
  const single = commands.find((c) => c.name === first);
  if (single) return { command: single, args: argv.slice(1) };
  const members = commands.filter((c) => c.name.startsWith(`${first} `));
  if (members.length === 0) throw invalid(`unknown command${quoted(first)}; 'yihao --help' lists the commands`);
  const command = members.find((c) => c.name === `${first} ${second}`);
  if (command) return { command, args: argv.slice(2) };
  if (second === undefined || second.startsWith('-')) {
    if (wantsHelp(argv.slice(1))) return { help: groupHelp(first, members) };
    throw invalid(`'${first}' needs a command: ${members.map((c) => c.name).join(', ')} (see 'yihao ${first} --help')`);
  }
  throw invalid(`'${first}' has no command${quoted(second)}; 'yihao ${first} --help' lists its commands`);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
  return `yihao ${pkg.version}`;
}

async function dispatch(argv: readonly string[], ctx: CommandContext): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined) throw invalid("a command is missing; 'yihao --help' lists the commands");
  if (first === '--help' || first === '-h') return ctx.out.help(overview());
  if (first === '--version') return ctx.out.help(version());
  if (first === 'help') {
    if (rest.length === 0) return ctx.out.help(overview());
    const found = find(rest.length === 1 ? [rest[0]!, '--help'] : rest);
    return ctx.out.help('help' in found ? found.help : found.command.usage);
  }
  const found = find(argv);
  if ('help' in found) return ctx.out.help(found.help);
  if (wantsHelp(found.args)) return ctx.out.help(found.command.usage);
  await found.command.run(found.args, ctx);
}

/**
 * Runs one command line to its exit code: the answer and the one-line error go to `ctx.out`, the
 * environment and stdin come from `ctx`, so nothing here reads the process's own. main.ts wires it
 * to the process; the test suites' CLI host runs many command lines in one process with it.
 */
export async function runCli(argv: readonly string[], ctx: CommandContext): Promise<number> {
  try {
    await dispatch(argv, ctx);
    return EXIT.ok;
  } catch (e) {
    const { code, message } = failure(e);
    ctx.out.error(message);
    return code;
  }
}
