import { loadConfig } from '../config/index.js';
import { maskCitizenId, parseCitizenId } from '../identity/index.js';
import { parseOptions, required, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { readPasswordLine } from './password-stdin.js';

const options = {
  'citizen-id': { type: 'string' },
  name: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  phone: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const accountCreateCommand: Command = {
  name: 'account create',
  summary: 'Create a citizen account bound to a citizen ID number (password from stdin)',
  usage: `Usage: yihao account create --citizen-id ID --name N --password-stdin [--phone P] [--json]

Creates a citizen account bound to one citizen ID number, with a password read from
the first line of stdin. The ID number is printed only masked (110105********002X).
Audited as account.created (by the account's sub; the citizen sees it in the portal).

  printf '%s\\n' "$PASSWORD" | yihao account create --citizen-id "$ID" --name "Li Wei" --password-stdin

Options:
  --citizen-id ID     the 18-character citizen ID number (required)
  --name N            the citizen's name (required)
  --password-stdin    read the password from stdin (required; never from the command line)
  --phone P           a mainland China mobile number, for sign-in by phone
  --json              print {"sub", "citizen_id_masked", "name"}`,

  async run(args, { env, stdin, out }) {
    const opts = parseOptions(this.name, args, options);
    const citizenId = parseCitizenId(required(this.name, opts['citizen-id'], '--citizen-id'));
    const name = required(this.name, opts.name, '--name');
    if (!opts['password-stdin']) throw usageError(this.name, '--password-stdin is required: the password is read from stdin, never from the command line');
    const password = await readPasswordLine(stdin);
    const config = loadConfig(env);
    const account = await withYihao(config, async (yihao) => {
      // Named by sub, never by the ID number; in the account's own transaction.
      return yihao.accounts.create({ citizenId, name, password, phone: opts.phone }, undefined, undefined, (created, trx) =>
        yihao.services.audit.append({ action: 'account.created', actorType: 'system', actorId: 'cli', accountId: created.sub, details: { via: 'cli', assurance: created.assurance } }, { trx }),
      );
    });
    const masked = maskCitizenId(citizenId);
    out.result(opts.json, { sub: account.sub, citizen_id_masked: masked, name: account.name }, [
      `sub: ${account.sub}`,
      `citizen_id_masked: ${masked}`,
      `name: ${account.name}`,
    ]);
  },
};
