/**
 * `yihao certificate-type list|show|create|update|retire`, run with the compiled CLI against a
 * started server's own store, on SQLite and on PostgreSQL + Redis: what the CLI defines and changes
 * is what the server publishes (the issuer metadata) and enforces (a retired type takes no push),
 * audited as the system. Bad input exits 2; a type that does not exist exits 3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Department } from '../../src/admin/index.js';
import { operator } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { buildCli, hostedYihao, pgUrlWithSchema, type CliRun } from '../support/yihao-cli.js';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function expectFailure(run: CliRun, code: 2 | 3, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(code);
}

const CLAIMS = JSON.stringify({ card_number: { type: 'string', required: true, max_length: 20 }, bank: { type: 'string' } });

beforeAll(buildCli, 180_000);

describe.each(backends)('yihao certificate-type ($name)', { timeout: 180_000 }, ({ name, enabled }) => {
  let h: Harness;
  let social: Department;

  const cliEnv = () => (h.env.DATABASE_URL ? { ...h.env, DATABASE_URL: pgUrlWithSchema(h.env.DATABASE_URL, h.env.TEST_SCHEMA!) } : h.env);
  const yihao = (args: string[]): Promise<CliRun> => hostedYihao(args, cliEnv(), '', 90_000);
  async function ok(args: string[]): Promise<Json> {
    const run = await yihao([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Json;
  }

  beforeAll(async () => {
    if (!enabled) return;
    h = await startHarness({ backend: name });
    social = await h.yihao.admin.services.bootstrap.createDepartment({ name: '浙江省人力社保厅', level: 'national' });
  });
  afterAll(async () => h?.close());

  it.runIf(enabled)('creates a type the server publishes at once, lists and shows it, audited as the system', async () => {
    const made = await ok(['certificate-type', 'create', '--id', 'social_security', '--department', social.id, '--name-zh', '社会保障卡', '--name-en', 'Social security card', '--claims', CLAIMS, '--validity-days', '3650']);
    expect(made).toMatchObject({ id: 'social_security', department_id: social.id, version: 1, validity_days: 3650, credential_configuration_id: 'cert_social_security', retired_at: null });
    const metadata = (await (await fetch(`${h.issuer}/.well-known/openid-credential-issuer`)).json()) as { credential_configurations_supported: Record<string, { vct: string }> };
    expect(metadata.credential_configurations_supported.cert_social_security?.vct).toBe(made.vct);

    expect((await ok(['certificate-type', 'list'])).types.map((t: Json) => t.id)).toEqual(['social_security']);
    expect((await ok(['certificate-type', 'list', '--department', social.id])).types).toHaveLength(1);
    const text = await yihao(['certificate-type', 'list']);
    expect(text.stdout).toMatch(/social_security\s+1\s+active/);
    const shown = await ok(['certificate-type', 'show', 'social_security']);
    expect(shown.versions.map((v: Json) => v.version)).toEqual([1]);
    const events = await h.yihao.services.audit.query({ action: 'admin.certificate_type.created', limit: 10 });
    expect(events.events[0]).toMatchObject({ actorType: 'system', actorId: 'cli', departmentId: social.id, details: { type: 'social_security', via: 'cli' } });
  });

  it.runIf(enabled)("update is in force at once and drops a version an operator left pending, so nothing goes in force that the CLI's user did not write", async () => {
    await ok(['certificate-type', 'create', '--id', 'bank_card', '--department', social.id, '--name-zh', '社保金融卡', '--name-en', 'Bank card', '--claims', CLAIMS]);
    const admin = await operator(h, [{ role: 'dept-admin', departmentId: social.id }], '社保管理员');
    const proposed = await admin.api('POST', '/certificate-types/bank_card/versions', { names: { 'zh-CN': '居民身份证', en: 'Resident identity card' } });
    expect(proposed.body).toMatchObject({ version: 1, pending_version: 2 });
    expect((await yihao(['certificate-type', 'show', 'bank_card'])).stdout).toMatch(/version: 1 \(version 2 awaits approval\)/);
    expectFailure(await yihao(['certificate-type', 'update', 'bank_card', '--validity-days', '100', '--base-version', '2']), 2, /version 1 now/);
    const changed = await ok(['certificate-type', 'update', 'bank_card', '--validity-days', '100', '--base-version', '1']);
    expect(changed).toMatchObject({ version: 3, pending_version: null, validity_days: 100, names: { en: 'Bank card' }, status: 'active' });
    const shown = await ok(['certificate-type', 'show', 'bank_card']);
    expect(shown.versions.map((v: Json) => [v.version, v.status, v.approved_by])).toEqual([[1, 'earlier', 'cli'], [2, 'withdrawn', null], [3, 'current', 'cli']]);
    await ok(['certificate-type', 'retire', 'bank_card']);
  });

  it.runIf(enabled)('refuses bad input with exit 2 and a type that does not exist with exit 3', async () => {
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'Bad Id', '--department', social.id, '--name-zh', '卡', '--name-en', 'Card', '--claims', CLAIMS]), 2, /id/);
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'card_two', '--department', social.id, '--name-zh', '卡', '--name-en', 'Card', '--claims', '{not json']), 2, /--claims is not JSON/);
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'card_two', '--department', social.id, '--name-zh', '卡', '--name-en', 'Card', '--claims', '{"vct":{"type":"string"}}']), 2, /reserved/);
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'card_two', '--name-zh', '卡', '--name-en', 'Card', '--claims', CLAIMS]), 2, /--department is required/);
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'social_security', '--department', social.id, '--name-zh', '卡', '--name-en', 'Card', '--claims', CLAIMS]), 2, /exists already/);
    expectFailure(await yihao(['certificate-type', 'create', '--id', 'card_two', '--department', 'dp_nosuchdepartment', '--name-zh', '卡', '--name-en', 'Card', '--claims', CLAIMS]), 3, /department/);
    expectFailure(await yihao(['certificate-type', 'show', 'no_such_type']), 3, /not found|no such/i);
    expectFailure(await yihao(['certificate-type', 'update', 'no_such_type', '--validity-days', '10']), 3, /not found|no such/i);
    expectFailure(await yihao(['certificate-type', 'retire', 'no_such_type']), 3, /not found|no such/i);
    expectFailure(await yihao(['certificate-type', 'update', 'social_security']), 2, /at least one/);
    expectFailure(await yihao(['certificate-type', 'update', 'social_security', '--validity-days', 'soon']), 2, /whole number/);
    expectFailure(await yihao(['certificate-type', 'show']), 2, /TYPE_ID is required/);
  });

  it.runIf(enabled)('update makes a new version and refuses to drop a claim or a moved-on base version; retire marks it retired once; all audited as the system', async () => {
    expectFailure(await yihao(['certificate-type', 'update', 'social_security', '--claims', JSON.stringify({ card_number: { type: 'string', required: true } })]), 2, /claims\.bank cannot be removed/);
    const changed = await ok(['certificate-type', 'update', 'social_security', '--name-en', 'Social security card (3rd generation)', '--base-version', '1']);
    expect(changed).toMatchObject({ version: 2, names: { 'zh-CN': '社会保障卡', en: 'Social security card (3rd generation)' } });
    expectFailure(await yihao(['certificate-type', 'update', 'social_security', '--validity-days', '10', '--base-version', '1']), 2, /version 2/);
    const retired = await ok(['certificate-type', 'retire', 'social_security', '--reason', '换发新卡']);
    expect(retired.retired_at).not.toBeNull();
    expectFailure(await yihao(['certificate-type', 'retire', 'social_security']), 2, /retired already/);
    expect((await yihao(['certificate-type', 'list'])).stdout).toMatch(/social_security\s+2\s+retired/);
    const events = await h.yihao.services.audit.query({ actor: 'cli', action: 'admin.certificate_type.', limit: 10 });
    expect(events.events.filter((e) => (e.details as Json).type === 'social_security').map((e) => e.action).sort()).toEqual(['admin.certificate_type.created', 'admin.certificate_type.retired', 'admin.certificate_type.updated']);
  });
});
