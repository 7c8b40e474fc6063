/**
 * `yihao client list|show|update|rotate-secret|suspend|resume`, run with the compiled CLI against a
 * started server's own store, on SQLite and on PostgreSQL + Redis. What the CLI does takes effect on
 * the running instance at once (a suspended client is refused at the token endpoint, a rotated
 * secret works, the old one for its grace period), never prints a secret it did not just make, is
 * audited, and an update goes through four-eyes review like one made in the console.
 * Bad input exits 2; a client id that names nothing exits 3.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import type { Department } from '../../src/admin/index.js';
import { refuseAuditEvents } from '../support/audit.js';
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

beforeAll(buildCli, 180_000);

describe.each(backends)('yihao client management ($name)', { timeout: 180_000 }, ({ name, enabled }) => {
  let h: Harness;
  let dir: string;
  const dept = {} as Record<'nation' | 'province' | 'other', Department>;
  /** A service (client credentials, with a secret) and a kiosk (its own keys) made with `client create` in the province. */
  let service: { client_id: string; client_secret: string };
  let kiosk: { client_id: string };
  /** Operators, by sub: a dept-admin of the province, a reviewer there, and a dept-admin of another province. */
  const ops = {} as Record<'admin' | 'reviewer' | 'stranger', string>;

  /** The CLI on the server's own stores (on PostgreSQL, in the harness's schema). */
  const cliEnv = () => (h.env.DATABASE_URL ? { ...h.env, DATABASE_URL: pgUrlWithSchema(h.env.DATABASE_URL, h.env.TEST_SCHEMA!) } : h.env);
  const yihao = (args: string[]): Promise<CliRun> => hostedYihao(args, cliEnv(), '', 90_000);
  async function ok(args: string[]): Promise<Json> {
    const run = await yihao([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as Json;
  }
  /** A client-credentials token request, as the app makes it: the status and the OAuth error. */
  async function tokenWith(clientId: string, secret: string): Promise<{ status: number; error?: string }> {
    const res = await fetch(`${h.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'openid' }),
    });
    const body = (await res.json()) as { error?: string };
    return { status: res.status, ...(body.error ? { error: body.error } : {}) };
  }
  /**
   * What the running server answers after a CLI action. With Redis the CLI's write drops the
   * server's cached client at once (it waits for every instance to confirm), so the answer must be
   * right on the first request. Without Redis (embedded SQLite, one instance) nothing can tell the
   * server: its client cache lets the change through within its 5 s lifetime.
   */
  async function served(request: () => Promise<unknown>, expected: unknown): Promise<void> {
    if (h.env.REDIS_URL) expect(await request()).toMatchObject(expected as object);
    else await expect.poll(request, { timeout: 10_000, interval: 250 }).toMatchObject(expected as object);
  }
  const events = async (clientId: string, action: string) =>
    (await h.yihao.stores.db('audit_events').where({ client_id: clientId, action }).select('actor_type', 'actor_id', 'channel', 'details')) as { actor_type: string; actor_id: string; channel: string | null; details: unknown }[];

  beforeAll(async () => {
    if (!enabled) return;
    dir = mkdtempSync(join(tmpdir(), 'yihao-client-cli-'));
    h = await startHarness({ backend: name });
    const boot = h.yihao.admin.services.bootstrap;
    dept.nation = await boot.createDepartment({ name: '国家政务服务中心', level: 'national' });
    dept.province = await boot.createDepartment({ name: '浙江省大数据局', level: 'province', parentId: dept.nation.id });
    dept.other = await boot.createDepartment({ name: '江苏省政务办', level: 'province', parentId: dept.nation.id });
    const grant = async (role: 'dept-admin' | 'reviewer', d: Department) => {
      const citizen = await h.citizen();
      await boot.grantRole({ identifier: citizen.sub, role, departmentId: d.id });
      return citizen.sub;
    };
    ops.admin = await grant('dept-admin', dept.province);
    ops.reviewer = await grant('reviewer', dept.province);
    ops.stranger = await grant('dept-admin', dept.other);

    service = (await ok(['client', 'create', '--kind', 'service', '--name', '社保后台', '--department', dept.province.id])) as typeof service;
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = join(dir, 'kiosk.jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'kiosk-1', alg: 'ES256', use: 'sig' }] }));
    kiosk = (await ok(['client', 'create', '--kind', 'kiosk', '--name', '政务自助终端', '--jwks-file', jwks, '--scope', 'openid profile', '--department', dept.province.id])) as typeof kiosk;
  }, 240_000);
  afterAll(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!enabled)('lists the clients with kind, status and department; filters by department (with its subtree) and kind', async () => {
    const web = await ok(['client', 'create', '--name', '国家门户', '--redirect-uri', 'https://portal.example.gov.cn/cb']);
    const all = (await ok(['client', 'list'])).clients as Json[];
    expect(all.map((c) => c.client_id)).toEqual(expect.arrayContaining([service.client_id, kiosk.client_id, web.client_id]));
    expect(all.find((c) => c.client_id === kiosk.client_id)).toMatchObject({ kind: 'kiosk', status: 'active', department_id: dept.province.id, department: '浙江省大数据局', pending_change: null, token_endpoint_auth_method: 'private_key_jwt' });
    expect(all.find((c) => c.client_id === web.client_id)).toMatchObject({ kind: 'web', department_id: dept.nation.id });

    const inProvince = (await ok(['client', 'list', '--department', `/${dept.nation.id}/${dept.province.id}/`])).clients as Json[];
    expect(inProvince.map((c) => c.client_id).sort()).toEqual([service.client_id, kiosk.client_id].sort());
    expect(((await ok(['client', 'list', '--department', dept.nation.id])).clients as Json[]).length).toBe(all.length);
    expect(((await ok(['client', 'list', '--kind', 'kiosk'])).clients as Json[]).map((c) => c.client_id)).toEqual([kiosk.client_id]);
    expect((await ok(['client', 'list', '--department', dept.other.id])).clients).toEqual([]);

    const text = await yihao(['client', 'list', '--kind', 'service']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^CLIENT_ID +KIND +STATUS +DEPARTMENT +CHANGE +NAME\n/);
    expect(text.stdout).toContain(`${service.client_id}  service  active`);

    expectFailure(await yihao(['client', 'list', '--kind', 'fridge']), 2, /--kind must be one of web, mobile, ciba, kiosk, counter, service/);
    expectFailure(await yihao(['client', 'list', '--department', 'dp_nosuchdepartment']), 2, /no department has that --department/);
    expectFailure(await yihao(['client', 'list', 'extra']), 2, /unexpected argument/);
  });

  it.skipIf(!enabled)('records the clients it creates under their department as the system, without their secret; none goes live without its record', async () => {
    const created = await events(service.client_id, 'admin.client.created');
    expect(created).toEqual([{ actor_type: 'system', actor_id: 'cli', channel: null, details: expect.anything() }]);
    const details = (typeof created[0]!.details === 'string' ? JSON.parse(created[0]!.details) : created[0]!.details) as Json;
    expect(details).toMatchObject({ client_id: service.client_id, via: 'cli', after: { kind: 'service', client_name: '社保后台' } });
    expect(JSON.stringify(created)).not.toContain(service.client_secret);
    expect(JSON.stringify(created)).not.toMatch(/hmac\d+\$/);
    expect(await h.yihao.stores.db('audit_events').where({ client_id: service.client_id, action: 'admin.client.created' }).first()).toMatchObject({ department_id: dept.province.id });

    // The live client is published only after the client and its record are committed.
    const liveNames = async () =>
      ((await h.yihao.stores.db('oidc_models').where({ model: 'Client' }).select('payload')) as { payload: string }[]).map((r) => (JSON.parse(r.payload) as Json).client_name as string);
    const allow = await refuseAuditEvents(h.yihao.stores.db, 'admin.client.created');
    try {
      const run = await yihao(['client', 'create', '--kind', 'service', '--name', '未留记录的应用', '--department', dept.province.id]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
    } finally {
      await allow();
    }
    expect(await liveNames()).not.toContain('未留记录的应用');
    expect(await liveNames()).toContain('社保后台');
    expect(await h.yihao.stores.db('client_registrations').where({ name: '未留记录的应用' })).toEqual([]);
  });

  it.skipIf(!enabled)('shows a client with its approved settings, never its secret or the secret’s hash; an unknown id exits 3', async () => {
    const shown = await ok(['client', 'show', service.client_id]);
    expect(shown).toMatchObject({
      client_id: service.client_id,
      kind: 'service',
      status: 'active',
      department_id: dept.province.id,
      token_endpoint_auth_method: 'client_secret_basic',
      settings: { kind: 'service', client_name: '社保后台', grant_types: ['client_credentials'], public: false },
    });
    const text = await yihao(['client', 'show', kiosk.client_id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('kind: kiosk\nstatus: active\ndepartment: 浙江省大数据局');
    expect(text.stdout).toContain('authentication: private_key_jwt');
    const serviceText = (await yihao(['client', 'show', service.client_id])).stdout;
    expect(serviceText).toContain('authentication: client_secret_basic');
    expect(shown).not.toHaveProperty('client_secret');
    expect(serviceText).not.toMatch(/^client_secret:/m);
    for (const out of [JSON.stringify(shown), serviceText]) {
      expect(out).not.toContain(service.client_secret);
      expect(out).not.toMatch(/hmac\d+\$/);
    }
    expectFailure(await yihao(['client', 'show', 'yh_nosuchclient']), 3, /no client has that id/);
    expectFailure(await yihao(['client', 'show']), 2, /the CLIENT_ID is required/);
    expectFailure(await yihao(['client', 'show', 'not a client id']), 2, /CLIENT_ID is 1-128 characters/);
  });

  it.skipIf(!enabled)('rotates a secret: the new one works at once, the old one for its grace period only; printed once, audited', async () => {
    expect(await tokenWith(service.client_id, service.client_secret)).toEqual({ status: 200 });
    const graced = await ok(['client', 'rotate-secret', service.client_id, '--grace-seconds', '3600']);
    expect(graced).toEqual({ client_id: service.client_id, client_secret: expect.any(String), previous_secret_valid_until: expect.any(String) });
    expect(Date.parse(graced.previous_secret_valid_until as string)).toBeGreaterThan(Date.now() + 3_000_000);
    await served(() => tokenWith(service.client_id, graced.client_secret as string), { status: 200 });
    expect(await tokenWith(service.client_id, service.client_secret)).toEqual({ status: 200 });

    const text = await yihao(['client', 'rotate-secret', service.client_id, '--grace-seconds', '0']);
    expect(text.code).toBe(0);
    const fresh = /^client_secret: (\S+)$/m.exec(text.stdout)![1]!;
    expect(text.stdout).toContain('No earlier secret works any more.');
    await served(() => tokenWith(service.client_id, fresh), { status: 200 });
    expect(await tokenWith(service.client_id, graced.client_secret as string)).toMatchObject({ status: 401, error: 'invalid_client' });
    // Nor the secret from before the first rotation, though its grace had not run out: a rotation
    // that ends the old secret at once is the one made when a secret leaked, whichever it was.
    expect(await tokenWith(service.client_id, service.client_secret)).toMatchObject({ status: 401, error: 'invalid_client' });
    service = { ...service, client_secret: fresh };

    const rotated = await events(service.client_id, 'admin.client.secret_rotated');
    expect(rotated.map((e) => [e.actor_type, e.actor_id])).toEqual([['system', 'cli'], ['system', 'cli']]);
    expect(JSON.stringify(rotated)).not.toContain(fresh);

    expectFailure(await yihao(['client', 'rotate-secret', kiosk.client_id]), 2, /has no secret/);
    expectFailure(await yihao(['client', 'rotate-secret', service.client_id, '--grace-seconds', 'soon']), 2, /--grace-seconds must be a whole number/);
    expectFailure(await yihao(['client', 'rotate-secret', service.client_id, '--grace-seconds', '999999999']), 2, /grace_seconds must be at most/);
    expectFailure(await yihao(['client', 'rotate-secret', 'yh_nosuchclient']), 3, /no client has that id/);
  });

  it.skipIf(!enabled)('suspends a client on the running instance at once (the token endpoint refuses it) and resumes it; audited with the reason', async () => {
    expect(await tokenWith(service.client_id, service.client_secret)).toEqual({ status: 200 });
    expect(await ok(['client', 'suspend', service.client_id, '--reason', '安全事件排查'])).toEqual({ client_id: service.client_id, status: 'suspended' });
    await served(() => tokenWith(service.client_id, service.client_secret), { status: 401, error: 'invalid_client' });
    expect(((await ok(['client', 'list', '--kind', 'service'])).clients as Json[]).find((c) => c.client_id === service.client_id)).toMatchObject({ status: 'suspended' });
    expectFailure(await yihao(['client', 'suspend', service.client_id, '--reason', 'again']), 2, /only an active client can be suspended/);

    const resumed = await yihao(['client', 'resume', service.client_id]);
    expect(resumed).toMatchObject({ code: 0, stdout: `${service.client_id}: active\n` });
    await served(() => tokenWith(service.client_id, service.client_secret), { status: 200 });

    const suspended = await events(service.client_id, 'admin.client.suspended');
    expect(suspended).toHaveLength(1);
    expect(suspended[0]).toMatchObject({ actor_type: 'system', actor_id: 'cli' });
    expect(JSON.stringify(suspended[0]!.details)).toContain('安全事件排查');
    expect(await events(service.client_id, 'admin.client.resumed')).toHaveLength(1);

    expectFailure(await yihao(['client', 'suspend', service.client_id]), 2, /--reason is required/);
    expectFailure(await yihao(['client', 'resume', service.client_id]), 2, /only a suspended client can be resumed/);
    expectFailure(await yihao(['client', 'suspend', 'yh_nosuchclient', '--reason', 'x']), 3, /no client has that id/);
    expectFailure(await yihao(['client', 'resume', 'yh_nosuchclient']), 3, /no client has that id/);
  });

  it.skipIf(!enabled)('files an update as a change under review in the operator’s name; it goes live only when another operator approves it', async () => {
    const filed = await ok(['client', 'update', service.client_id, '--as', ops.admin, '--name', '社保后台 2.0', '--min-acr', 'urn:yihao:loa:2']);
    expect(filed).toMatchObject({ client_id: service.client_id, change_id: expect.stringMatching(/^cc_/), status: 'submitted' });
    expect((filed.diff as Json[]).map((d) => d.field).sort()).toEqual(['client_name', 'min_acr']);

    // Nothing is live yet: the approved settings and the served metadata are unchanged.
    const before = await ok(['client', 'show', service.client_id]);
    expect(before).toMatchObject({ name: '社保后台', settings: { client_name: '社保后台' }, pending_change: { id: filed.change_id, status: 'submitted', author: ops.admin } });
    expect(before.proposed).toMatchObject({ client_name: '社保后台 2.0', min_acr: 'urn:yihao:loa:2' });
    const live = async () => (await new h.yihao.services.Adapter('Client').find(service.client_id)) as Json;
    expect((await live()).client_name).toBe('社保后台');

    // The console's review queue has it; its author cannot approve it, the reviewer can.
    const { bootstrap, clients } = h.yihao.admin.services;
    const reviewer = await bootstrap.operatorFor(ops.reviewer);
    const queue = await clients.listChanges(reviewer, { status: 'submitted', page: 1, per_page: 50 });
    expect(queue.items.map((c) => c.id)).toContain(filed.change_id);
    const author = await bootstrap.operatorFor(ops.admin);
    const { revision } = queue.items.find((c) => c.id === filed.change_id)!;
    await expect(clients.approve({ ...author, assignments: [...author.assignments, ...reviewer.assignments] }, filed.change_id as string, { revision })).rejects.toMatchObject({ code: 'forbidden' });
    await clients.approve(reviewer, filed.change_id as string, { revision });
    expect(await live()).toMatchObject({ client_name: '社保后台 2.0', min_acr: 'urn:yihao:loa:2', grant_types: ['client_credentials'] });
    expect(await tokenWith(service.client_id, service.client_secret)).toEqual({ status: 200 });

    const drafted = (await events(service.client_id, 'admin.client_change.drafted')).concat(await events(service.client_id, 'admin.client_change.submitted'));
    expect(drafted.map((e) => [e.actor_type, e.actor_id, e.channel])).toEqual([['operator', ops.admin, 'cli'], ['operator', ops.admin, 'cli']]);
    // The operator never signed in: the record says so, and names who ran the command on which host.
    // The process's own user, never the environment's word for it (SUDO_USER is recorded apart, from root only).
    const shell = { os_user: userInfo().username, host: hostname(), signed_in: false };
    for (const e of drafted) expect(JSON.parse(e.details as string)).toMatchObject({ via: 'cli', on_behalf_of: ops.admin, shell });

    // A draft stays a draft; a second change waits until the first is done.
    const draft = await ok(['client', 'update', kiosk.client_id, '--as', ops.admin, '--no-first-party', '--allowed-channel', 'kiosk', '--draft']);
    expect(draft).toMatchObject({ status: 'draft', diff: [{ field: 'allowed_channels', before: null, after: ['kiosk'] }] });
    expectFailure(await yihao(['client', 'update', kiosk.client_id, '--as', ops.admin, '--name', 'X']), 2, /already has a change in progress/);
  });

  it.skipIf(!enabled)('refuses an update with bad input (exit 2) or for a client that does not exist (exit 3)', async () => {
    const update = (...args: string[]) => yihao(['client', 'update', ...args]);
    expectFailure(await update(service.client_id, '--name', 'X'), 2, /--as is required/);
    expectFailure(await update(service.client_id, '--as', ops.admin), 2, /nothing to change/);
    expectFailure(await update(service.client_id, '--as', ops.stranger, '--name', 'X'), 2, /may not change clients of this department/);
    expectFailure(await update(service.client_id, '--as', 'nobody-at-all', '--name', 'X'), 2, /no account matches that --as identifier/);
    expectFailure(await update(service.client_id, '--as', ops.admin, '--backchannel-logout-uri', 'not a url'), 2, /--backchannel-logout-uri must be an absolute URL/);
    expectFailure(await update(service.client_id, '--as', ops.admin, '--grant-type', 'authorization_code'), 2, /needs at least one redirect URI/);
    expectFailure(await update(service.client_id, '--as', ops.admin, '--dpop', '--no-dpop'), 2, /not both/);
    expectFailure(await update(service.client_id, '--as', ops.admin, '--public'), 2, /unknown option --public/);
    expectFailure(await update('yh_nosuchclient', '--as', ops.admin, '--name', 'X'), 3, /no client has that id/);
    expect((await clientsWithOpenChange()).includes(service.client_id)).toBe(false);
  });

  it.skipIf(!enabled)('refuses to file a change in the name of a disabled operator (exit 2), and files nothing in that name', async () => {
    const citizen = await h.citizen();
    await h.yihao.admin.services.bootstrap.grantRole({ identifier: citizen.sub, role: 'dept-admin', departmentId: dept.province.id });
    await ok(['account', 'disable', '--sub', citizen.sub, '--reason', 'fraud']);

    // The role is still held (disabling does not revoke it), so only the account's status stops this.
    for (const as of [citizen.sub, citizen.citizenId]) {
      expectFailure(await yihao(['client', 'update', service.client_id, '--as', as, '--name', '冒名变更']), 2, /that --as account is disabled: only an active account may act as an operator/);
    }
    expect((await clientsWithOpenChange()).includes(service.client_id)).toBe(false);
    const filed = (await h.yihao.stores.db('audit_events').where({ actor_id: citizen.sub }).whereLike('action', 'admin.client%').select('action')) as { action: string }[];
    expect(filed).toEqual([]);
  });

  const clientsWithOpenChange = async () =>
    ((await h.yihao.stores.db('client_changes').whereIn('status', ['draft', 'submitted']).select('client_id')) as { client_id: string }[]).map((r) => r.client_id);
});
