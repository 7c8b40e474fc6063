/**
 * `yihao idp add|list|disable|enable|set|unlink`: the compiled CLI (in the suite's CLI host), on a fresh
 * SQLite store, read back as the server reads it. Each change of who can sign in is audited as the
 * system, in the change's own transaction, and never with the upstream's secret.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/database.js';
import { refuseAuditEvents } from '../support/audit.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { hostedYihao, type CliRun } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'yihao-idp-cli-'));
const SECRET = 'upstream-client-secret-Zq81';

type Run = CliRun;

function yihao(args: string[], input = ''): Promise<Run> {
  return hostedYihao(args, { YIHAO_DATA_DIR: dataDir, ISSUER: 'https://id.example.gov.cn' }, input, 60_000);
}

function expectBadInput(run: Run, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(2);
}

/** The audit events about upstream definitions, oldest first, as stored. */
async function upstreamEvents(): Promise<{ action: string; actor_type: string; actor_id: string; details: Record<string, unknown> }[]> {
  const db = openDatabase({ dataDir });
  try {
    const rows = (await db('audit_events').where('action', 'like', 'admin.upstream.%').orderBy('id').select('action', 'actor_type', 'actor_id', 'details')) as { action: string; actor_type: string; actor_id: string; details: string }[];
    return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
  } finally {
    await db.destroy();
  }
}

/** Runs `use` with the store refusing audit events of `action`, as a failing audit store would. */
async function withAuditRefused(action: string, use: () => Promise<void>): Promise<void> {
  const db = openDatabase({ dataDir });
  try {
    const allow = await refuseAuditEvents(db, action);
    try {
      await use();
    } finally {
      await allow();
    }
  } finally {
    await db.destroy();
  }
}

const base = ['idp', 'add', '--name', 'province', '--issuer', 'https://sso.province.example.gov.cn/', '--client-id', 'yihao', '--citizen-id-claim', 'id_number'];

describe('yihao idp add | list | disable | enable', { timeout: 60_000 }, () => {
  beforeAll(() => {
    // The launcher runs dist/: build it first (incremental), as cli.test.ts does.
    const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-if-needed.mjs')], { cwd: root, encoding: 'utf8' });
    if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) || /src\/(cli|federation)\//.test(`${build.stdout}${build.stderr}`)) {
      throw new Error(`the build failed:\n${build.stdout}${build.stderr}`);
    }
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('adds an upstream with a secret from stdin; --json shows the definition and the URIs to register, never the secret', async () => {
    const run = await yihao(
      [...base, '--client-secret-stdin', '--display-name', '某省统一身份认证', '--display-name-en', 'Province Sign-In', '--max-acr', 'urn:yihao:loa:2', '--acr-map', 'urn:province:high=urn:yihao:loa:2', '--trust-amr', '--scope', 'openid profile id_card', '--sign-out-upstream', '--json'],
      `${SECRET}\n`,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const shown = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({
      name: 'province',
      status: 'active',
      issuer: 'https://sso.province.example.gov.cn',
      client_id: 'yihao',
      client_auth: 'client_secret_basic',
      citizen_id_claim: 'id_number',
      max_acr: 'urn:yihao:loa:2',
      acr_map: { 'urn:province:high': 'urn:yihao:loa:2' },
      trust_amr: true,
      channels: ['web'],
      redirect_uri: 'https://id.example.gov.cn/federation/callback',
      backchannel_logout_uri: 'https://id.example.gov.cn/federation/province/backchannel-logout',
      sign_out_upstream: true,
      post_logout_redirect_uri: 'https://id.example.gov.cn/federation/signed-out',
    });
    expect(run.stdout).not.toContain(SECRET);
    // At rest the secret is sealed.
    const db = openDatabase({ dataDir });
    try {
      const row = (await db('federation_upstreams').where({ name: 'province' }).first()) as { sealed_credential: string };
      expect(row.sealed_credential).toMatch(/^v2\./);
      expect(row.sealed_credential).not.toContain(SECRET);
    } finally {
      await db.destroy();
    }
  });

  it('adds a private_key_jwt upstream and prints only the public key to register', async () => {
    const run = await yihao(['idp', 'add', '--name', 'dept', '--issuer', 'https://login.dept.example.gov.cn', '--client-id', 'yihao-dept', '--citizen-id-claim', 'cid', '--private-key-jwt', '--channel', 'web', '--channel', 'kiosk']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('register Yihao at the upstream with:');
    const jwks = JSON.parse(/jwks: (.*)$/m.exec(run.stdout)![1]!) as { keys: Record<string, unknown>[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    // Off unless asked for: no post_logout_redirect_uri to register.
    expect(run.stdout).not.toContain('post_logout_redirect_uri');
  });

  it('lists upstreams as a table and as JSON, and disables and enables one', async () => {
    const text = await yihao(['idp', 'list']);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+MAX ACR\s+CHANNELS\s+ISSUER$/);
    expect(text.stdout).toMatch(/^province\s+active\s+urn:yihao:loa:2\s+web\s+https:\/\/sso\.province/m);
    expect(text.stdout).toMatch(/^dept\s+active\s+urn:yihao:loa:1\s+web,kiosk\s+/m);

    const disabled = await yihao(['idp', 'disable', 'province', '--json']);
    expect(disabled.code).toBe(0);
    expect(JSON.parse(disabled.stdout)).toEqual({ name: 'province', status: 'disabled' });
    const listed = JSON.parse((await yihao(['idp', 'list', '--json'])).stdout) as { name: string; status: string }[];
    expect(listed.map((u) => [u.name, u.status])).toEqual([
      ['dept', 'active'],
      ['province', 'disabled'],
    ]);
    expect(JSON.stringify(listed)).not.toContain(SECRET);
    expect((await yihao(['idp', 'enable', 'province'])).stdout).toBe('province: active\n');

    // Signing citizens out of the upstream too, turned off and on again for an existing upstream.
    const off = await yihao(['idp', 'set', 'province', '--sign-out-upstream', 'off', '--json']);
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ name: 'province', sign_out_upstream: false });
    expect(JSON.parse(off.stdout)).not.toHaveProperty('post_logout_redirect_uri');
    const on = await yihao(['idp', 'set', 'province', '--sign-out-upstream', 'on']);
    expect(on.stdout).toBe('province: sign-out-upstream on\nregister at the upstream: post_logout_redirect_uri: https://id.example.gov.cn/federation/signed-out\n');
  });

  it('audits adding, disabling, enabling and changing an upstream as the system via the CLI, never with its secret', async () => {
    const events = await upstreamEvents();
    const system = { actor_type: 'system', actor_id: 'cli' };
    expect(events).toEqual([
      {
        ...system,
        action: 'admin.upstream.added',
        details: {
          upstream: 'province',
          via: 'cli',
          after: {
            name: 'province',
            display_name: '某省统一身份认证',
            display_name_en: 'Province Sign-In',
            issuer: 'https://sso.province.example.gov.cn',
            client_id: 'yihao',
            client_auth: 'client_secret_basic',
            scope: 'openid profile id_card',
            citizen_id_claim: 'id_number',
            name_claim: 'name',
            phone_claim: 'phone_number',
            acr_map: { 'urn:province:high': 'urn:yihao:loa:2' },
            max_acr: 'urn:yihao:loa:2',
            trust_amr: true,
            channels: ['web'],
            par: false,
            sign_out_upstream: true,
          },
        },
      },
      { ...system, action: 'admin.upstream.added', details: expect.objectContaining({ upstream: 'dept', via: 'cli', after: expect.objectContaining({ client_auth: 'private_key_jwt', max_acr: 'urn:yihao:loa:1', channels: ['web', 'kiosk'] }) }) },
      { ...system, action: 'admin.upstream.disabled', details: { upstream: 'province', via: 'cli', status: { before: 'active', after: 'disabled' } } },
      { ...system, action: 'admin.upstream.enabled', details: { upstream: 'province', via: 'cli', status: { before: 'disabled', after: 'active' } } },
      { ...system, action: 'admin.upstream.updated', details: { upstream: 'province', via: 'cli', before: { sign_out_upstream: true }, after: { sign_out_upstream: false } } },
      { ...system, action: 'admin.upstream.updated', details: { upstream: 'province', via: 'cli', before: { sign_out_upstream: false }, after: { sign_out_upstream: true } } },
    ]);
    // Neither a secret, nor a sealed credential, nor the private_key_jwt upstream's private key.
    expect(JSON.stringify(events)).not.toMatch(/"d":/);
    const db = openDatabase({ dataDir });
    try {
      const everything = JSON.stringify(await db('audit_events').select());
      expect(everything).not.toContain(SECRET);
      for (const { sealed_credential } of (await db('federation_upstreams').select('sealed_credential')) as { sealed_credential: string }[]) {
        expect(everything).not.toContain(sealed_credential);
      }
    } finally {
      await db.destroy();
    }
  });

  it('adds, disables and changes no upstream when its audit event cannot be written', async () => {
    await withAuditRefused('admin.upstream.added', async () => {
      const run = await yihao(['idp', 'add', '--name', 'unrecorded', ...base.slice(4), '--client-secret-stdin'], `${SECRET}\n`);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toContain(SECRET);
    });
    await withAuditRefused('admin.upstream.disabled', async () => {
      expect((await yihao(['idp', 'disable', 'dept'])).code).toBe(1);
    });
    await withAuditRefused('admin.upstream.updated', async () => {
      expect((await yihao(['idp', 'set', 'dept', '--sign-out-upstream', 'on'])).code).toBe(1);
    });
    const listed = JSON.parse((await yihao(['idp', 'list', '--json'])).stdout) as { name: string; status: string; sign_out_upstream: boolean }[];
    expect(listed.map((u) => [u.name, u.status, u.sign_out_upstream])).toEqual([
      ['dept', 'active', false],
      ['province', 'active', true],
    ]);
    expect((await upstreamEvents()).length).toBe(6);
  });

  it('unlinks an upstream identity from its account, audited', async () => {
    const created = await yihao(['account', 'create', '--citizen-id', syntheticCitizenId(), '--name', '韩五', '--password-stdin', '--json'], 'a-long-enough-password\n');
    expect(created.code).toBe(0);
    const { sub: accountSub } = JSON.parse(created.stdout) as { sub: string };
    // The link a sign-in through the upstream would have made.
    const db = openDatabase({ dataDir });
    try {
      const account = (await db('accounts').where({ sub: accountSub }).first()) as { id: string; citizen_index: string };
      await db('federated_identities').insert({
        upstream_issuer: 'https://sso.province.example.gov.cn',
        upstream_sub: 'province-user-1',
        upstream_name: 'province',
        account_id: account.id,
        citizen_index: account.citizen_index,
        created_at: Date.now(),
        last_used_at: Date.now(),
      });
    } finally {
      await db.destroy();
    }
    const run = await yihao(['idp', 'unlink', 'province', '--sub', 'province-user-1', '--json']);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ upstream: 'province', sub: 'province-user-1', account: accountSub, unlinked: true });
    expectBadInput(await yihao(['idp', 'unlink', 'province', '--sub', 'province-user-1']), /no identity with that sub is linked through province/);
    expectBadInput(await yihao(['idp', 'unlink', 'province']), /--sub is required/);
    const check = openDatabase({ dataDir });
    try {
      expect(await check('federated_identities').count({ n: '*' })).toEqual([{ n: 0 }]);
      const events = (await check('audit_events').where({ action: 'federation.unlinked' }).select('actor_type', 'account_id', 'details')) as { actor_type: string; account_id: string; details: string }[];
      expect(events.map((e) => ({ ...e, details: JSON.parse(e.details) as unknown }))).toEqual([
        { actor_type: 'system', account_id: accountSub, details: { upstream: 'province', upstream_sub: 'province-user-1', via: 'cli' } },
      ]);
    } finally {
      await check.destroy();
    }
  });

  it('refuses bad input with exit code 2 and one line naming the problem', async () => {
    expectBadInput(await yihao(['idp', 'add', '--name', 'x', '--issuer', 'https://a.example', '--client-id', 'c', '--client-secret-stdin'], 's\n'), /--citizen-id-claim is required/);
    expectBadInput(await yihao([...base.slice(0, 4), '--issuer', 'not a url', '--client-id', 'c', '--citizen-id-claim', 'c', '--client-secret-stdin'], 's\n'), /--issuer must be an absolute URL/);
    expectBadInput(await yihao([...base, '--client-secret-stdin', '--max-acr', 'urn:yihao:loa:9'], 's\n'), /--max-acr must be one of urn:yihao:loa:1/);
    expectBadInput(await yihao([...base]), /exactly one of --client-secret-stdin and --private-key-jwt/);
    expectBadInput(await yihao([...base, '--client-secret-stdin', '--private-key-jwt']), /exactly one of/);
    expectBadInput(await yihao(['idp', 'add', '--name', 'Bad Name', ...base.slice(4), '--client-secret-stdin'], 's\n'), /--name must be 1-32 characters/);
    expectBadInput(await yihao([...base, '--client-secret-stdin', '--acr-map', 'nonsense'], 's\n'), /--acr-map takes/);
    expectBadInput(await yihao([...base, '--client-secret-stdin', '--scope', 'profile'], 's\n'), /--scope must include openid/);
    expectBadInput(await yihao([...base, '--client-secret-stdin', '--channel', 'fax'], 's\n'), /--channel/);
    expectBadInput(await yihao([...base, '--client-secret-stdin'], '\n'), /the client secret on stdin is empty/);
    expectBadInput(await yihao([...base, '--client-secret-stdin'], `${SECRET}\n`), /an upstream named "province" already exists/);
    expectBadInput(await yihao(['idp', 'disable', 'nobody']), /no upstream named "nobody"/);
    expectBadInput(await yihao(['idp', 'set', 'province', '--sign-out-upstream', 'maybe']), /--sign-out-upstream takes on or off/);
    expectBadInput(await yihao(['idp', 'set', 'province']), /--sign-out-upstream is required/);
    expectBadInput(await yihao(['idp', 'set', 'nobody', '--sign-out-upstream', 'on']), /no upstream named "nobody"/);
    expectBadInput(await yihao(['idp', 'disable']), /the upstream NAME is required/);
    expectBadInput(await yihao(['idp', 'list', '--bogus']), /unknown option --bogus/);
    expectBadInput(await yihao(['idp', 'remove']), /'idp' has no command 'remove'/);
    // What was refused left no record of a change that did not happen.
    expect((await upstreamEvents()).length).toBe(6);
  });
});
