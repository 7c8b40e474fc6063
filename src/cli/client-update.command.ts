import type { ClientSettingsInput } from '../clients/index.js';
import { settingsDiff } from '../clients/index.js';
import { loadConfig } from '../config/index.js';
import { isAdminError } from '../admin/admin-error.js';
import { YihaoError } from '../errors.js';
import { parseOptions, required, usageError } from './args.js';
import { checkSettings, settingOptions, settingsFromOptions } from './client-options.js';
import { clientIdArg } from './client-manage.command.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = {
  ...settingOptions,
  as: { type: 'string' },
  draft: { type: 'boolean' },
  'no-first-party': { type: 'boolean' },
  'no-verified-claims': { type: 'boolean' },
  'no-dpop': { type: 'boolean' },
} as const;

const negations = [
  ['first-party', 'no-first-party', 'first_party'],
  ['verified-claims', 'no-verified-claims', 'verified_claims_allowed'],
  ['dpop', 'no-dpop', 'dpop_bound_access_tokens'],
] as const;

export const clientUpdateCommand: Command = {
  name: 'client update',
  summary: "Propose a change to a client's settings, for review (in an operator's name)",
  usage: `Usage: yihao client update CLIENT_ID --as OPERATOR [settings options] [--draft] [--json]

Files a change to the client's settings in the name of OPERATOR, exactly as that operator would
in the console: the options given replace those settings, the rest stay as approved. The change
is submitted for review (with --draft it stays a draft), shows up in the console's review queue,
and goes live only when another operator with the reviewer role approves it (four eyes; a
first-party client or full ID-number release needs a national super-admin). The CLI does not
approve changes.

OPERATOR is the operator's sub, citizen ID number or mobile number; it needs dept-admin or
super-admin over the client's department. Exit code 3 when no client has that id.

Options:
  --as OPERATOR                   who files the change (required)
  --name N, --redirect-uri U ..., --post-logout-redirect-uri U ..., --grant-type G ...,
  --scope S, --first-party, --backchannel-logout-uri U, --citizen-id-release P,
  --verified-claims, --subject-type T, --sector-identifier-uri U, --min-acr A,
  --allowed-channel C ..., --jwks-file F, --jwks-uri U, --dpop, --ciba-mode M,
  --notification-endpoint U       as for 'yihao client create'; a repeatable option
                                  replaces the whole list
  --no-first-party, --no-verified-claims, --no-dpop
                                  turn that setting off
  --draft                         leave the change a draft (submit it in the console)
  --json                          print {"change_id", "status", "diff"}

How a client authenticates (public, a secret or its own keys) cannot change.`,

  async run(args, { env, out }) {
    const { clientId, rest } = clientIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, options);
    const as = required(this.name, opts.as, '--as');
    const given: Record<string, unknown> = { ...settingsFromOptions(opts) };
    for (const [on, off, field] of negations) {
      if (opts[on] && opts[off]) throw usageError(this.name, `give --${on} or --${off}, not both`);
      if (opts[off]) given[field] = false;
    }
    if (Object.keys(given).length === 0) throw usageError(this.name, 'nothing to change: give at least one settings option');
    const config = loadConfig(env);
    const { change, diff } = await withYihao(config, async (yihao) => {
      const { bootstrap, clients } = yihao.admin.services;
      const client = await clients.system.find(clientId);
      const op = await bootstrap.operatorFor(as);
      const current = await clients.system.currentSettings(client);
      if (!current) throw new YihaoError('invalid_input', 'this client was never approved: its first change is waiting for review in the console');
      const next = checkSettings({ ...current, ...given } as ClientSettingsInput);
      try {
        const drafted = await clients.propose(op, clientId, next);
        return { change: opts.draft ? drafted : await clients.submit(op, drafted.id), diff: settingsDiff(current, next) };
      } catch (e) {
        // The service answers "not found" for a client outside the operator's departments (and audits the refusal).
        if (isAdminError(e) && e.code === 'not_found') throw new YihaoError('invalid_input', 'the --as operator may not change clients of this department (it needs dept-admin or super-admin over it)');
        throw e;
      }
    });
    out.result(opts.json, { client_id: clientId, change_id: change.id, status: change.status, diff }, [
      `change: ${change.id} (${change.status === 'submitted' ? 'submitted for review' : 'draft'})`,
      ...diff.map((d) => `  ${d.field}: ${JSON.stringify(d.before)} -> ${JSON.stringify(d.after)}`),
      '',
      'It goes live when another operator approves it in the console (Clients → Review).',
    ]);
  },
};
