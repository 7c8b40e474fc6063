import type { AccountView } from '../admin/account-status-service.js';
import { DISABLE_REASONS, ENABLE_REASONS } from '../admin/account-status-service.js';
import { loadConfig } from '../config/index.js';
import { parseCitizenId } from '../identity/index.js';
import { parseOptions, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

/**
 * `yihao account show|disable|enable`: a citizen account's status, with the server's own authority
 * (database access). Disabling ends its sessions, tokens and credentials on every instance, as in
 * the admin API; enabling needs no second operator here (whoever runs the CLI holds the database)
 * and is audited as the system with `via: "cli"`. See docs/admin.md, "Citizen accounts".
 */

const who = { 'citizen-id': { type: 'string' }, sub: { type: 'string' }, json: { type: 'boolean' } } as const;
const change = { ...who, reason: { type: 'string' }, note: { type: 'string' } } as const;

/** Exactly one of --citizen-id and --sub; the ID number is checked here and never echoed. */
export function target(command: string, opts: { 'citizen-id'?: string | undefined; sub?: string | undefined }): { citizenId: string } | { sub: string } {
  if ((opts['citizen-id'] === undefined) === (opts.sub === undefined)) throw usageError(command, 'give exactly one of --citizen-id and --sub');
  if (opts.sub !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(opts.sub)) throw usageError(command, '--sub is the account’s sub (1-64 characters of A-Z a-z 0-9 _ -)');
    return { sub: opts.sub };
  }
  return { citizenId: parseCitizenId(opts['citizen-id']!.trim()) };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The account as the CLI shows it: the ID number masked, as in the admin API. */
function describe(a: AccountView) {
  const changeOf = (c: AccountView['disabled']) =>
    c ? { id: c.id, reason: c.reason, note: c.note ?? null, by: c.actorType === 'system' ? 'cli' : c.actorId, at: iso(c.createdAt) } : null;
  return {
    sub: a.sub,
    citizen_id_masked: a.citizenIdMasked,
    name: a.name,
    status: a.status,
    assurance: a.assurance,
    created_at: iso(a.createdAt),
    disabled: changeOf(a.disabled),
    pending_enable: changeOf(a.pendingEnable),
    sign_in: {
      last: a.signIn.last ? { at: iso(a.signIn.last.at), channel: a.signIn.last.channel ?? null, client_id: a.signIn.last.clientId ?? null } : null,
      failed: a.signIn.failedSince,
      failed_window_days: a.signIn.failedWindowDays,
      sessions: a.signIn.sessions,
      methods: a.signIn.methods.map((m) => ({ type: m.type, last_used_at: iso(m.lastUsedAt) })),
    },
  };
}

function text(d: ReturnType<typeof describe>): string[] {
  return [
    `sub: ${d.sub}`,
    `citizen_id_masked: ${d.citizen_id_masked}`,
    `name: ${d.name}`,
    `status: ${d.status}`,
    ...(d.disabled ? [`disabled: ${d.disabled.reason} by ${d.disabled.by} at ${d.disabled.at}${d.disabled.note ? ` (${d.disabled.note})` : ''}`] : []),
    ...(d.pending_enable ? [`enable requested: ${d.pending_enable.reason} by ${d.pending_enable.by} at ${d.pending_enable.at} (waiting for review)`] : []),
    `last sign-in: ${d.sign_in.last ? `${d.sign_in.last.at} (${d.sign_in.last.channel ?? '-'})` : 'never'}`,
    `failed sign-ins (${d.sign_in.failed_window_days} days): ${d.sign_in.failed}`,
    `sessions: ${d.sign_in.sessions}`,
    `methods: ${d.sign_in.methods.map((m) => m.type).join(', ') || '-'}`,
  ];
}

const TARGET_HELP = `  --citizen-id ID     the account's 18-character ID number (never printed in full)
  --sub SUB           or the account's sub
  --json              print the account as the admin API does (sub, citizen_id_masked, status, sign_in, ...)`;

export const accountShowCommand: Command = {
  name: 'account show',
  summary: "Show a citizen account's status and sign-in summary (the ID number masked)",
  usage: `Usage: yihao account show (--citizen-id ID | --sub SUB) [--json]

Shows a citizen account: status, why it is disabled, a request to enable it waiting for review,
the last sign-in, failed sign-ins of the last 30 days, live sessions and sign-in methods.
Exit code 3 when no account matches.

Options:
${TARGET_HELP}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, who);
    const by = target(this.name, opts);
    const config = loadConfig(env);
    const shown = await withYihao(config, async (yihao) => {
      const service = yihao.admin.services.accounts.system;
      return describe(await service.view(await service.find(by)));
    });
    out.result(opts.json, shown, text(shown));
  },
};

export const accountDisableCommand: Command = {
  name: 'account disable',
  summary: 'Disable a citizen account at once: sessions, tokens and credentials end (audited)',
  usage: `Usage: yihao account disable (--citizen-id ID | --sub SUB) --reason R [--note TEXT] [--json]

Disables the account at once: it cannot sign in on any channel, and its sessions, tokens and
verifiable credentials end on every instance. Audited as the system with the reason and note.
Enable it again with 'yihao account enable' or through the console (four-eyes there).
Exit code 3 when no account matches; 2 for bad input or an account already disabled.

Options:
  --reason R          one of ${DISABLE_REASONS.join(', ')} (required)
  --note TEXT         up to 500 characters, one line, no ID numbers (required with --reason other)
${TARGET_HELP}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, change);
    const by = target(this.name, opts);
    if (opts.reason === undefined) throw usageError(this.name, `--reason is required: one of ${DISABLE_REASONS.join(', ')}`);
    const config = loadConfig(env);
    const shown = await withYihao(config, async (yihao) => {
      const service = yihao.admin.services.accounts.system;
      return describe(await service.disable(await service.find(by), { reason: opts.reason, ...(opts.note !== undefined ? { note: opts.note } : {}) }));
    });
    out.result(opts.json, shown, text(shown));
  },
};

export const accountEnableCommand: Command = {
  name: 'account enable',
  summary: 'Enable a disabled citizen account again (audited; nothing revoked comes back)',
  usage: `Usage: yihao account enable (--citizen-id ID | --sub SUB) --reason R [--note TEXT] [--json]

Lets a disabled account sign in again. Sessions, tokens and credentials ended by the disable stay
ended. The CLI acts with the server's authority, so no second operator approves (in the console
and the admin API, one does); a request waiting there is closed. Audited as the system.
Exit code 3 when no account matches; 2 for bad input or an account that is not disabled.

Options:
  --reason R          one of ${ENABLE_REASONS.join(', ')} (required)
  --note TEXT         up to 500 characters, one line, no ID numbers (required with --reason other)
${TARGET_HELP}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, change);
    const by = target(this.name, opts);
    if (opts.reason === undefined) throw usageError(this.name, `--reason is required: one of ${ENABLE_REASONS.join(', ')}`);
    const config = loadConfig(env);
    const shown = await withYihao(config, async (yihao) => {
      const service = yihao.admin.services.accounts.system;
      return describe(await service.enable(await service.find(by), { reason: opts.reason, ...(opts.note !== undefined ? { note: opts.note } : {}) }));
    });
    out.result(opts.json, shown, text(shown));
  },
};
