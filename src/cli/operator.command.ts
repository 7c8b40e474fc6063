import { z } from 'zod';
import { loadConfig } from '../config/index.js';
import { YihaoError } from '../errors.js';
import { ROLES } from '../admin/roles.js';
import { parseOptions, required } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = {
  account: { type: 'string' },
  role: { type: 'string' },
  department: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const input = z.object({
  account: z.string().trim().min(1, '--account is empty').max(64, '--account is too long'),
  role: z.enum(ROLES, { message: `--role must be one of ${ROLES.join(', ')}` }),
  department: z.string().regex(/^dp_[A-Za-z0-9_-]{12}$/, '--department must be a department id (dp_…)'),
});

export const operatorCreateCommand: Command = {
  name: 'operator create',
  summary: 'Make an account an operator: grant it a role in a department (bootstraps the first super-admin)',
  usage: `Usage: yihao operator create --account A --role R --department ID [--json]

Grants an existing account (see 'yihao account create') a role in a department and its
subtree. Use it to make the first super-admin; after that, operators manage roles in the
admin console. Operators sign in to the console with two factors (urn:yihao:loa:2): the
account sets up an authenticator app at its first console sign-in.

Options:
  --account A      the account: its sub, citizen ID number or mobile number (required)
  --role R         ${ROLES.join(', ')} (required)
  --department ID  the department's id, dp_… (required)
  --json           print {"assignment_id", "sub", "role", "department_id"}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const parsed = input.safeParse({
      account: required(this.name, opts.account, '--account'),
      role: required(this.name, opts.role, '--role'),
      department: required(this.name, opts.department, '--department'),
    });
    if (!parsed.success) throw new YihaoError('invalid_input', parsed.error.issues[0]!.message);
    const config = loadConfig(env);
    const { account, role, department } = parsed.data;
    const granted = await withYihao(config, (yihao) => yihao.admin.services.bootstrap.grantRole({ identifier: account, role, departmentId: department }));
    out.result(opts.json, { assignment_id: granted.id, sub: granted.sub, role, department_id: granted.department.id }, [
      `${granted.name} (sub ${granted.sub}) is now ${role} of ${granted.department.name} (${granted.department.id}).`,
    ]);
  },
};
