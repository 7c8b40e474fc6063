import { z } from 'zod';
import { loadConfig } from '../config/index.js';
import { YihaoError } from '../errors.js';
import { LEVELS } from '../admin/departments.js';
import { parseOptions, required } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = {
  name: { type: 'string' },
  level: { type: 'string' },
  parent: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const input = z.object({
  // As the admin API's departmentInput: one line, so that nothing in it rewrites a terminal or a page.
  name: z.string().trim().min(1, '--name is empty').max(128, '--name is longer than 128 characters').regex(/^\P{Cc}*$/u, '--name must not contain control characters'),
  level: z.enum(LEVELS, { message: `--level must be one of ${LEVELS.join(', ')}` }),
  parent: z.string().regex(/^dp_[A-Za-z0-9_-]{12}$/, '--parent must be a department id (dp_…)').optional(),
});

export const departmentCreateCommand: Command = {
  name: 'department create',
  summary: 'Create a department (national, province, city or district)',
  usage: `Usage: yihao department create --name N --level national|province|city|district [--parent ID] [--json]

Creates a department in the tree national → province → city → district. A national
department is a root and has no parent; every other level goes under the level above it.
Operators hold roles within a department and its whole subtree (see 'yihao operator create').

Options:
  --name N      the department's name (required)
  --level L     national, province, city or district (required)
  --parent ID   the parent department's id (required below national)
  --json        print {"id", "name", "level", "parent_id"}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    const parsed = input.safeParse({ name: required(this.name, opts.name, '--name'), level: required(this.name, opts.level, '--level'), parent: opts.parent });
    if (!parsed.success) throw new YihaoError('invalid_input', parsed.error.issues[0]!.message);
    const config = loadConfig(env);
    const d = await withYihao(config, (yihao) => yihao.admin.services.bootstrap.createDepartment({ name: parsed.data.name, level: parsed.data.level, parentId: parsed.data.parent }));
    out.result(opts.json, { id: d.id, name: d.name, level: d.level, parent_id: d.parentId ?? null }, [`id: ${d.id}`, `name: ${d.name}`, `level: ${d.level}`, `parent_id: ${d.parentId ?? '-'}`]);
  },
};
