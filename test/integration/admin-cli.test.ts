/**
 * Bootstrapping operators from the command line: `yihao department create` builds the tree and
 * `yihao operator create` makes an account the first super-admin; bad input exits 2 with one line
 * that never echoes a citizen ID number. What the CLI did is in the audit log, as the system.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/index.js';
import { openDatabase } from '../../src/storage/database.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { buildCli, hostedYihao, type CliRun } from '../support/yihao-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'yihao-admin-cli-'));
const env = { YIHAO_DATA_DIR: dir };
const yihao = (args: string[], input = '') => hostedYihao(args, env, input);

function expectBadInput(run: CliRun, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(2);
}

describe('yihao department create and operator create', () => {
  const citizenId = syntheticCitizenId();
  let nation: { id: string };
  let province: { id: string };

  beforeAll(buildCli, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a national department and a province under it', async () => {
    const n = await yihao(['department', 'create', '--name', '国家政务服务中心', '--level', 'national', '--json']);
    expect(n.stderr).toBe('');
    expect(n.code).toBe(0);
    nation = JSON.parse(n.stdout) as { id: string };
    expect(nation).toMatchObject({ id: expect.stringMatching(/^dp_[A-Za-z0-9_-]{12}$/), name: '国家政务服务中心', level: 'national', parent_id: null });
    const p = await yihao(['department', 'create', '--name', '浙江省大数据局', '--level', 'province', '--parent', nation.id]);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/^id: dp_\S+\nname: 浙江省大数据局\nlevel: province\nparent_id: dp_\S+\n$/);
    province = { id: /^id: (\S+)$/m.exec(p.stdout)![1]! };
  });

  it('refuses a department in the wrong place or with bad options', async () => {
    expectBadInput(await yihao(['department', 'create', '--name', 'x', '--level', 'city']), /a city department needs a parent/);
    expectBadInput(await yihao(['department', 'create', '--name', 'x', '--level', 'district', '--parent', nation.id]), /a district department belongs under a city department/);
    expectBadInput(await yihao(['department', 'create', '--name', 'x', '--level', 'county']), /--level must be one of national, province, city, district/);
    expectBadInput(await yihao(['department', 'create', '--name', 'x', '--level', 'city', '--parent', 'dp_doesnotexist']), /no department has that --parent id/);
    expectBadInput(await yihao(['department', 'create', '--level', 'national']), /--name is required/);
    // As the admin API refuses them: a line break, or a terminal escape that rewrites what the next
    // administrator's terminal shows (and names the console prints).
    for (const name of ['浙江省\n大数据局', '浙江省大数据局\u001b[2K\u001b[1A']) {
      expectBadInput(await yihao(['department', 'create', '--name', name, '--level', 'city', '--parent', province.id]), /--name must not contain control characters/);
    }
  });

  it('makes an existing account the first super-admin, by its citizen ID number', async () => {
    const account = await yihao(['account', 'create', '--citizen-id', citizenId, '--name', '王主任', '--password-stdin', '--json'], 'a long enough password\n');
    expect(account.code).toBe(0);
    const { sub } = JSON.parse(account.stdout) as { sub: string };
    const op = await yihao(['operator', 'create', '--account', citizenId, '--role', 'super-admin', '--department', nation.id, '--json']);
    expect(op.stderr).toBe('');
    expect(op.code).toBe(0);
    expect(JSON.parse(op.stdout)).toEqual({ assignment_id: expect.stringMatching(/^ra_/), sub, role: 'super-admin', department_id: nation.id });
    expect(op.stdout).not.toContain(citizenId);
    const text = await yihao(['operator', 'create', '--account', sub, '--role', 'reviewer', '--department', province.id]);
    expect(text.stdout).toBe(`王主任 (sub ${sub}) is now reviewer of 浙江省大数据局 (${province.id}).\n`);

    const db = openDatabase({ dataDir: dir });
    try {
      const events = await createAuditLog(db).query({ subject: sub, action: 'admin.', limit: 10 });
      expect(events.events.map((e) => [e.action, e.actorType, e.actorId])).toEqual([
        ['admin.role.assigned', 'system', 'cli'],
        ['admin.role.assigned', 'system', 'cli'],
      ]);
      expect(JSON.stringify(await db('audit_events'))).not.toContain(citizenId);
    } finally {
      await db.destroy();
    }
  });

  it('refuses unknown accounts, roles and departments, and a role held already, without echoing the account', async () => {
    const stranger = syntheticCitizenId();
    const unknown = await yihao(['operator', 'create', '--account', stranger, '--role', 'auditor', '--department', nation.id]);
    expectBadInput(unknown, /no account matches that identifier/);
    expect(unknown.stderr).not.toContain(stranger);
    expectBadInput(await yihao(['operator', 'create', '--account', citizenId, '--role', 'root', '--department', nation.id]), /--role must be one of super-admin, dept-admin, reviewer, auditor, counter-staff/);
    expectBadInput(await yihao(['operator', 'create', '--account', citizenId, '--role', 'auditor', '--department', 'dp_doesnotexist']), /no department has that --department id/);
    expectBadInput(await yihao(['operator', 'create', '--account', citizenId, '--role', 'super-admin', '--department', nation.id]), /already holds this role/);
    expectBadInput(await yihao(['operator', 'create', '--role', 'auditor', '--department', nation.id]), /--account is required/);
  });
});
