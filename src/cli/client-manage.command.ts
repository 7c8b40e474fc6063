import { z } from 'zod';
import type { ClientChange, ClientRecord, ClientSettings } from '../clients/index.js';
import { authMethodOf, CLIENT_KINDS, kindOf } from '../clients/index.js';
import { loadConfig } from '../config/index.js';
import type { Department } from '../admin/departments.js';
import { parseOptions, required, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';

/**
 * `yihao client list|show|rotate-secret|suspend|resume`: the administrator's view of the clients
 * that the console manages, with the server's own authority (database access). Actions take effect
 * at once on every instance (the provider's client store is shared) and are audited as the system;
 * changes to settings go through review instead (`yihao client update`).
 */

/** The CLIENT_ID before the options; usage error when it is missing or cannot be a client id. */
export function clientIdArg(command: string, args: readonly string[]): { clientId: string; rest: string[] } {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith('-')) throw usageError(command, 'the CLIENT_ID is required');
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(first)) throw usageError(command, 'CLIENT_ID is 1-128 characters of A-Z a-z 0-9 . _ ~ -');
  return { clientId: first, rest };
}

/** What the status means to an operator: a client never approved is waiting for review. */
const statusLabel = (c: ClientRecord) => (c.status === 'draft' ? 'pending review' : c.status);
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

const pendingOf = (change: ClientChange | undefined) =>
  change ? { id: change.id, kind: change.kind, status: change.status, author: change.authorId, submitted_at: iso(change.submittedAt) } : null;

/** A client as the CLI shows it: never its secret, nor the secret's hash. */
function describe(c: ClientRecord, dept: Department | undefined, change: ClientChange | undefined, settings?: ClientSettings) {
  const s = settings ?? c.settings;
  return {
    client_id: c.clientId,
    name: c.name,
    kind: kindOf(s ?? change?.proposed ?? {}),
    status: c.status,
    department_id: c.departmentId,
    department: dept?.name ?? null,
    token_endpoint_auth_method: s ? authMethodOf(s) : c.secretDigest ? 'client_secret_basic' : null,
    version: c.version,
    created_by: c.createdBy,
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
    pending_change: pendingOf(change),
  };
}

const changeText = (change: Pick<ClientChange, 'id' | 'status'> | undefined) => (change ? `${change.status === 'submitted' ? 'submitted for review' : 'draft'} (${change.id})` : '-');

export const clientListCommand: Command = {
  name: 'client list',
  summary: 'List the clients of the departments (with status and pending review)',
  usage: `Usage: yihao client list [--department D] [--kind K] [--json]

Lists the clients that belong to a department (every client made in the console or the admin
API, and those made with 'yihao client create' once a department existed), newest first, with
their kind, status (active, suspended, or pending review: never approved yet) and any change
waiting for review.

Options:
  --department D   only this department and those under it (an id dp_…, or its path /dp_…/dp_…/)
  --kind K         only this kind: ${CLIENT_KINDS.join(', ')}
  --json           print {"clients": [...]}, each without settings ('yihao client show' has them);
                   status is active, suspended or draft (pending review), as in the admin API`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, { department: { type: 'string' }, kind: { type: 'string' }, json: { type: 'boolean' } } as const);
    const kind = z.enum(CLIENT_KINDS).optional().safeParse(opts.kind);
    if (!kind.success) throw usageError(this.name, `--kind must be one of ${CLIENT_KINDS.join(', ')}`);
    const config = loadConfig(env);
    const rows = await withYihao(config, async (yihao) => {
      const { bootstrap, stores, clients } = yihao.admin.services;
      const within = opts.department === undefined ? '/' : (await bootstrap.departmentForClient(opts.department))!.path;
      const depts = (await stores.departments.within([within])).items;
      const ids = depts.map((d) => d.id);
      const [listed, open] = await Promise.all([stores.clients.list({ departmentIds: ids, offset: 0, limit: 100_000 }), clients.system.openChanges(ids)]);
      const byId = new Map(depts.map((d) => [d.id, d]));
      return listed.items.map((c) => describe(c, byId.get(c.departmentId), open.get(c.clientId))).filter((c) => !kind.data || c.kind === kind.data);
    });
    const text = rows.length
      ? table([
          ['CLIENT_ID', 'KIND', 'STATUS', 'DEPARTMENT', 'CHANGE', 'NAME'],
          ...rows.map((r) => [r.client_id, r.kind, r.status === 'draft' ? 'pending review' : r.status, r.department ?? r.department_id, r.pending_change ? `${r.pending_change.status} ${r.pending_change.id}` : '-', r.name]),
        ])
      : ['no clients'];
    out.result(opts.json, { clients: rows }, text);
  },
};

export const clientShowCommand: Command = {
  name: 'client show',
  summary: "Show a client's settings, status, department and pending change (never its secret)",
  usage: `Usage: yihao client show CLIENT_ID [--json]

Shows a client: its department, kind, status, approved settings and the change waiting for
review, if any. The secret is never shown (Yihao keeps only a keyed hash, which is not shown
either). Exit code 3 when no client has that id.`,

  async run(args, { env, out }) {
    const { clientId, rest } = clientIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { json: { type: 'boolean' } } as const);
    const config = loadConfig(env);
    const shown = await withYihao(config, async (yihao) => {
      const { stores, clients } = yihao.admin.services;
      const client = await clients.system.find(clientId);
      const [dept, change, settings] = await Promise.all([stores.departments.find(client.departmentId), clients.system.openChange(clientId), clients.system.currentSettings(client)]);
      return { ...describe(client, dept, change, settings), settings: settings ?? null, proposed: change?.proposed ?? null };
    });
    out.result(opts.json, shown, [
      `client_id: ${shown.client_id}`,
      `name: ${shown.name}`,
      `kind: ${shown.kind}`,
      `status: ${shown.status === 'draft' ? 'pending review (never approved)' : shown.status}`,
      `department: ${shown.department ?? '-'} (${shown.department_id})`,
      `authentication: ${shown.token_endpoint_auth_method ?? '-'}`,
      `pending change: ${changeText(shown.pending_change ?? undefined)}`,
      'settings:',
      ...Object.entries(shown.settings ?? shown.proposed ?? {}).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`),
    ]);
  },
};

export const clientRotateSecretCommand: Command = {
  name: 'client rotate-secret',
  summary: "Give a client a new secret (printed once); the old one works for the grace period",
  usage: `Usage: yihao client rotate-secret CLIENT_ID [--grace-seconds N] [--json]

Makes a new secret and prints it once: Yihao keeps only a keyed hash. The previous secret keeps
working for the grace period (admin.secretGraceSeconds, 7 days unless configured; at most
admin.maxSecretGraceSeconds), so that the app can switch over without an outage; 0 ends it at
once. Audited. Exit code 3 when no client has that id.

Options:
  --grace-seconds N   how long the previous secret keeps working (default: the configured grace)
  --json              print {"client_id", "client_secret", "previous_secret_valid_until"}`,

  async run(args, { env, out }) {
    const { clientId, rest } = clientIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { 'grace-seconds': { type: 'string' }, json: { type: 'boolean' } } as const);
    const grace = opts['grace-seconds'];
    if (grace !== undefined && !/^\d{1,9}$/.test(grace)) throw usageError(this.name, '--grace-seconds must be a whole number of seconds');
    const config = loadConfig(env);
    const rotated = await withYihao(config, (yihao) => yihao.admin.services.clients.system.rotateSecret(clientId, grace === undefined ? {} : { grace_seconds: Number(grace) }));
    const until = iso(rotated.previousValidUntil);
    out.result(opts.json, { client_id: clientId, client_secret: rotated.clientSecret, previous_secret_valid_until: until }, [
      `client_id: ${clientId}`,
      `client_secret: ${rotated.clientSecret}`,
      until ? `The previous secret keeps working until ${until}.` : 'No earlier secret works any more.',
      '',
      'Store the client secret now: it is shown only once and cannot be recovered.',
    ]);
  },
};

export const clientSuspendCommand: Command = {
  name: 'client suspend',
  summary: 'Suspend a client at once on every instance (audited)',
  usage: `Usage: yihao client suspend CLIENT_ID --reason R [--json]

Takes the client out of the provider at once, on every instance: sign-ins, token requests and
every other endpoint refuse it until it is resumed. Its settings, secret and tokens' grants are
kept. Audited with the reason. Exit code 3 when no client has that id.`,

  async run(args, { env, out }) {
    const { clientId, rest } = clientIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { reason: { type: 'string' }, json: { type: 'boolean' } } as const);
    const reason = required(this.name, opts.reason, '--reason');
    const config = loadConfig(env);
    const c = await withYihao(config, (yihao) => yihao.admin.services.clients.system.suspend(clientId, { reason }));
    out.result(opts.json, { client_id: c.clientId, status: c.status }, [`${c.clientId}: ${statusLabel(c)}`]);
  },
};

export const clientResumeCommand: Command = {
  name: 'client resume',
  summary: 'Resume a suspended client at once on every instance (audited)',
  usage: `Usage: yihao client resume CLIENT_ID [--json]

Puts a suspended client back into the provider with its approved settings, at once on every
instance. Audited. Exit code 3 when no client has that id.`,

  async run(args, { env, out }) {
    const { clientId, rest } = clientIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { json: { type: 'boolean' } } as const);
    const config = loadConfig(env);
    const c = await withYihao(config, (yihao) => yihao.admin.services.clients.system.resume(clientId));
    out.result(opts.json, { client_id: c.clientId, status: c.status }, [`${c.clientId}: ${statusLabel(c)}`]);
  },
};
