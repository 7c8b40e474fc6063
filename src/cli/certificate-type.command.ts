import type { z } from 'zod';
import { loadConfig } from '../config/index.js';
// The leaf module only: help and bad input answer without loading the provider (open-yihao.ts).
import { certificateTypeChange, certificateTypeInput, certificateTypeVersionView as toCertificateTypeVersion, certificateTypeView as toCertificateType, typeStatusOf, versionStatusOf } from '../credentials/certificate-types.js';
import type { CertificateType } from '../credentials/certificate-store.js';
import { parseOptions, required, usageError } from './args.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';
import { table } from './output.js';

/**
 * `yihao certificate-type list|show|create|update|retire`: department certificate types
 * (docs/credentials.md) with the server's own authority, audited as the system (`via: "cli"`),
 * through the same service and rules as the admin API.
 */

const TYPE_ID = /^[a-z][a-z0-9_]{2,39}$/;

/** The TYPE_ID before the options. */
function typeIdArg(command: string, args: readonly string[]): { typeId: string; rest: string[] } {
  const [first, ...rest] = args;
  if (first === undefined || first.startsWith('-')) throw usageError(command, 'the TYPE_ID is required');
  if (!TYPE_ID.test(first)) throw usageError(command, 'TYPE_ID is 3-40 lower-case letters, digits and _, starting with a letter');
  return { typeId: first, rest };
}

/** A JSON option's value, or a usage error naming the option (never quoting the value). */
function jsonOption(command: string, option: string, value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw usageError(command, `${option} is not JSON`);
  }
}

function wholeNumber(command: string, option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value)) throw usageError(command, `${option} must be a whole number`);
  return Number(value);
}

/** Parses with a type's zod schema; the first problem names its field, as a usage error (exit 2). */
function checked<S extends z.ZodType>(command: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw usageError(command, `${issue.path.join('.') || 'input'}: ${issue.message}`);
}

const names = (zh: string | undefined, en: string | undefined) => (zh === undefined && en === undefined ? undefined : { 'zh-CN': zh, en });
const describe = (t: CertificateType) => [
  `id: ${t.id}`,
  `names: ${t.names['zh-CN']} / ${t.names.en}`,
  `department: ${t.departmentId}`,
  `status: ${typeStatusOf(t)}`,
  `version: ${t.version}${t.pendingVersion === undefined ? '' : ` (version ${t.pendingVersion} awaits approval)`}`,
  `vct: ${t.vct}`,
  `validity_days: ${t.validityDays}`,
  'claims:',
  ...Object.entries(t.claims).map(([k, v]) => `  ${k}: ${v.type}${v.required ? ', required' : ''}${v.max_length ? `, at most ${v.max_length} characters` : ''}`),
];

export const certificateTypeListCommand: Command = {
  name: 'certificate-type list',
  summary: 'List the department certificate types (with version and status)',
  usage: `Usage: yihao certificate-type list [--department D] [--json]

Lists the certificate types, by id, with their current version, their status (active; pending: defined
through the admin API and awaiting a second national super-admin's approval; or retired: no new
pushes) and their department.

Options:
  --department D   only this department's types (an id dp_…)
  --json           print {"types": [...]}, each as the admin API's CertificateType`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, { department: { type: 'string' }, json: { type: 'boolean' } } as const);
    if (opts.department !== undefined && !/^dp_[A-Za-z0-9_-]{1,40}$/.test(opts.department)) throw usageError(this.name, '--department must be a department id (dp_…)');
    const types = await withYihao(loadConfig(env), (yihao) => yihao.admin.services.certificates.system.listTypes(opts.department === undefined ? undefined : [opts.department]));
    const text = types.length
      ? table([['ID', 'VERSION', 'STATUS', 'DEPARTMENT', 'NAME'], ...types.map((t) => [t.id, String(t.version), typeStatusOf(t), t.departmentId, `${t.names['zh-CN']} / ${t.names.en}`])])
      : ['no certificate types'];
    out.result(opts.json, { types: types.map(toCertificateType) }, text);
  },
};

export const certificateTypeShowCommand: Command = {
  name: 'certificate-type show',
  summary: 'Show a certificate type with every version of its claim schema',
  usage: `Usage: yihao certificate-type show TYPE_ID [--json]

Shows a certificate type: its names, department, status, current claim schema and default
validity, and (with --json) every version. Exit code 3 when no type has that id.

Options:
  --json   print {"type", "versions"} as the admin API's GET /certificate-types/{id}`,

  async run(args, { env, out }) {
    const { typeId, rest } = typeIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { json: { type: 'boolean' } } as const);
    const { type, versions } = await withYihao(loadConfig(env), (yihao) => yihao.admin.services.certificates.system.showType(typeId));
    out.result(opts.json, { type: toCertificateType(type), versions: versions.map((v) => toCertificateTypeVersion(v, type)) }, [...describe(type), `versions: ${versions.map((v) => `${v.version} (${versionStatusOf(v, type)})`).join(', ')}`]);
  },
};

export const certificateTypeCreateCommand: Command = {
  name: 'certificate-type create',
  summary: 'Define a certificate type for a department (audited)',
  usage: `Usage: yihao certificate-type create --id ID --department D --name-zh N --name-en N
                               --claims JSON [--validity-days N] [--json]

Defines a certificate type, as POST /admin/api/v1/certificate-types does: its id names the
OID4VCI configuration cert_<id>, the scope certificate:<id> and the vct <issuer>/credentials/types/<id>.
Audited as the system.

Options:
  --id ID             3-40 lower-case letters, digits and _, starting with a letter
  --department D      the issuing department (an id dp_…)
  --name-zh N         its name in Chinese
  --name-en N         its name in English
  --claims JSON       the claim schema: {"licence_number": {"type": "string", "required": true}, ...};
                      each claim's type is string, date, number or boolean
  --validity-days N   how long a certificate is valid when its push names no end (default 1826)
  --json              print the type as the admin API's CertificateType

Exit codes: 0 done; 2 bad input or a type with that id exists; 3 no such department.`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, {
      id: { type: 'string' },
      department: { type: 'string' },
      'name-zh': { type: 'string' },
      'name-en': { type: 'string' },
      claims: { type: 'string' },
      'validity-days': { type: 'string' },
      json: { type: 'boolean' },
    } as const);
    const input = checked(this.name, certificateTypeInput, {
      id: required(this.name, opts.id, '--id'),
      department_id: required(this.name, opts.department, '--department'),
      names: { 'zh-CN': required(this.name, opts['name-zh'], '--name-zh'), en: required(this.name, opts['name-en'], '--name-en') },
      claims: jsonOption(this.name, '--claims', required(this.name, opts.claims, '--claims')),
      ...(opts['validity-days'] === undefined ? {} : { validity_days: wholeNumber(this.name, '--validity-days', opts['validity-days']) }),
    });
    const type = await withYihao(loadConfig(env), (yihao) => yihao.admin.services.certificates.system.defineType(input));
    out.result(opts.json, toCertificateType(type), describe(type));
  },
};

export const certificateTypeUpdateCommand: Command = {
  name: 'certificate-type update',
  summary: 'Change a certificate type: a new version of its names, claims or validity (audited)',
  usage: `Usage: yihao certificate-type update TYPE_ID [--name-zh N] [--name-en N] [--claims JSON]
                               [--validity-days N] [--base-version V] [--json]

Makes a new version of the type, as POST /admin/api/v1/certificate-types/{id}/versions does.
What is not given is carried over. Certificates already pushed keep the version they were
pushed under (their claims, validity and wallet copies are untouched); new pushes are checked
against the new version. --claims replaces the whole schema and may add claims, change
'required' and 'max_length', but not drop a claim or change its type. A retired type cannot be
changed. The new version is in force at once: a change made through the admin API to a type in
force waits for a second national super-admin instead, and this one drops any such pending
version (it builds on the version in force, so nothing goes in force that you did not write).
Audited as the system.

Options:
  --name-zh N, --name-en N   new names (each alone keeps the other)
  --claims JSON              the new claim schema (the whole of it)
  --validity-days N          the new default validity for new pushes
  --base-version V           refuse if the type is no longer at version V
  --json                     print the type as the admin API's CertificateType

Exit codes: 0 done; 2 bad input, an incompatible schema, a retired type or a moved-on version;
3 no such type.`,

  async run(args, { env, out }) {
    const { typeId, rest } = typeIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, {
      'name-zh': { type: 'string' },
      'name-en': { type: 'string' },
      claims: { type: 'string' },
      'validity-days': { type: 'string' },
      'base-version': { type: 'string' },
      json: { type: 'boolean' },
    } as const);
    const change = {
      claims: jsonOption(this.name, '--claims', opts.claims),
      validity_days: wholeNumber(this.name, '--validity-days', opts['validity-days']),
      base_version: wholeNumber(this.name, '--base-version', opts['base-version']),
    };
    const type = await withYihao(loadConfig(env), async (yihao) => {
      const system = yihao.admin.services.certificates.system;
      // One name alone keeps the other: the schema takes both.
      const current = opts['name-zh'] === undefined && opts['name-en'] === undefined ? undefined : (await system.showType(typeId)).type.names;
      const given = names(opts['name-zh'] ?? current?.['zh-CN'], opts['name-en'] ?? current?.en);
      const parsed = checked(this.name, certificateTypeChange, Object.fromEntries(Object.entries({ ...change, names: given }).filter(([, v]) => v !== undefined)));
      return system.updateType(typeId, parsed);
    });
    out.result(opts.json, toCertificateType(type), describe(type));
  },
};

export const certificateTypeRetireCommand: Command = {
  name: 'certificate-type retire',
  summary: 'Retire a certificate type: no new pushes; issued certificates stay valid (audited)',
  usage: `Usage: yihao certificate-type retire TYPE_ID [--reason R] [--json]

Retires the type, as POST /admin/api/v1/certificate-types/{id}/retire does: its department's
system can push no new certificates of it. Certificates already issued stay valid, and still go
to wallets, until they are revoked. Audited as the system, with the reason.

Exit codes: 0 done; 2 bad input or already retired; 3 no such type.`,

  async run(args, { env, out }) {
    const { typeId, rest } = typeIdArg(this.name, args);
    const opts = parseOptions(this.name, rest, { reason: { type: 'string' }, json: { type: 'boolean' } } as const);
    if (opts.reason !== undefined && (opts.reason.trim().length === 0 || opts.reason.length > 200)) throw usageError(this.name, '--reason is 1-200 characters');
    const type = await withYihao(loadConfig(env), (yihao) => yihao.admin.services.certificates.system.retireType(typeId, opts.reason?.trim()));
    out.result(opts.json, toCertificateType(type), describe(type));
  },
};
