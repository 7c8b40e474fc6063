import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/database.js';
import { refuseAuditEvents } from '../support/audit.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';
import { runYihao, type CliRun } from '../support/yihao-cli.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** A CLI command that has not exited by then hangs: fail rather than wait for the test timeout. */
const SPAWN_LIMIT_MS = 30_000;

type Run = CliRun;

const dirs: string[] = [];
let dataDir: string;

/** Runs the real `yihao` launcher, pointed at a fresh SQLite store; `input` goes to its stdin. */
function yihao(args: string[], opts: { input?: string; dir?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runYihao(args, { YIHAO_DATA_DIR: opts.dir ?? dataDir, ...opts.env }, opts.input ?? '', SPAWN_LIMIT_MS);
}

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'yihao-cli-'));
  dirs.push(dir);
  return dir;
}

/** Exit code 2 and exactly one line on stderr, `yihao: ...`, and nothing on stdout. */
function expectBadInput(run: Run, message: RegExp): void {
  expect(run.stderr).toMatch(/^yihao: [^\n]+\n$/);
  expect(run.stderr).toMatch(message);
  expect(run.stdout).toBe('');
  expect(run.code).toBe(2);
}

/** Reads the store the CLI wrote, as the server would. */
async function countAccounts(dir: string, name: string): Promise<number> {
  const db = openDatabase({ dataDir: dir });
  try {
    const [row] = await db('accounts').where({ name }).count({ n: '*' });
    return Number(row?.n);
  } finally {
    await db.destroy();
  }
}

/** The audit events `where` selects, in the store the CLI wrote, with their details parsed. */
async function auditEvents(dir: string, where: Record<string, string>): Promise<Record<string, unknown>[]> {
  const db = openDatabase({ dataDir: dir });
  try {
    const rows = (await db('audit_events').where(where).orderBy('id').select('action', 'actor_type', 'actor_id', 'account_id', 'client_id', 'department_id', 'details')) as { details: string | null }[];
    return rows.map((r) => ({ ...r, details: r.details === null ? null : (JSON.parse(r.details) as unknown) }));
  } finally {
    await db.destroy();
  }
}

/** The names of the clients that the provider serves (its Client store). */
async function liveClientNames(dir: string): Promise<string[]> {
  const db = openDatabase({ dataDir: dir });
  try {
    const rows = (await db('oidc_models').where({ model: 'Client' }).select('payload')) as { payload: string }[];
    return rows.map((r) => (JSON.parse(r.payload) as { client_name?: string }).client_name ?? '');
  } finally {
    await db.destroy();
  }
}

interface KeyJson {
  kid: string;
  alg: string;
  status: 'next' | 'active' | 'retired';
  retired_at: string | null;
  signs_from: string | null;
}

const PASSWORD = 'correct horse battery\n';

beforeAll(() => {
  // The launcher runs dist/: build it (incremental). Type errors outside the CLI are the typecheck
  // step's business; tsc still emits, so only a missing CLI or an error in it stops this suite.
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-if-needed.mjs')], { cwd: root, encoding: 'utf8' });
  const report = `${build.stdout}${build.stderr}`;
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) || /src\/cli\//.test(report)) {
    throw new Error(`the build failed:\n${report}`);
  }
  if (build.status !== 0) console.warn(`build reported errors outside src/cli:\n${report}`);
  dataDir = freshDir();
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('yihao CLI', () => {
  let keysBefore: KeyJson[] = [];

  it('migrates a fresh store, then reports the schema current, and has ES256 and RS256 keys', async () => {
    const first = await yihao(['migrate', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ applied: expect.arrayContaining([expect.any(String)]), database: 'sqlite' });

    const again = await yihao(['migrate']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/schema is current/);

    const list = await yihao(['keys', 'list', '--json']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    keysBefore = (JSON.parse(list.stdout) as { keys: KeyJson[] }).keys;
    expect(keysBefore.filter((k) => k.status === 'active').map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
  });

  // Everything below shares the migrated store (SQLite in WAL mode) and runs side by side; each
  // spawn pays Node's start-up, so a busy machine stretches a test with two of them.
  describe.concurrent('on a migrated store', { timeout: 60_000 }, () => {
    it('creates a confidential client and prints its id and secret once, in text', async () => {
      const run = await yihao(['client', 'create', '--name', 'Tax office', '--redirect-uri', 'https://tax.example.gov.cn/cb']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^client_id: yh_[\w-]+$/m);
      expect(run.stdout).toMatch(/^client_secret: [\w-]{43}$/m);
      expect(run.stdout).toMatch(/only once/);
    });

    it('creates a client with every option and prints one JSON object', async () => {
      const run = await yihao([
        'client', 'create', '--json', '--name', 'Social security',
        '--redirect-uri', 'https://ss.example.gov.cn/cb', '--redirect-uri', 'https://ss.example.gov.cn/cb2',
        '--post-logout-redirect-uri', 'https://ss.example.gov.cn/bye',
        '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--grant-type', 'client_credentials',
        '--scope', 'openid profile', '--first-party', '--backchannel-logout-uri', 'https://ss.example.gov.cn/bc',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const client = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(client).toMatchObject({
        client_id: expect.stringMatching(/^yh_/),
        client_secret: expect.stringMatching(/^[\w-]{43}$/),
        client_name: 'Social security',
        redirect_uris: ['https://ss.example.gov.cn/cb', 'https://ss.example.gov.cn/cb2'],
        post_logout_redirect_uris: ['https://ss.example.gov.cn/bye'],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'openid profile',
        first_party: true,
        backchannel_logout_uri: 'https://ss.example.gov.cn/bc',
      });
    });

    it('creates a public client without a secret', async () => {
      const run = await yihao(['client', 'create', '--json', '--public', '--name', 'Mobile app', '--redirect-uri', 'https://app.example.gov.cn/cb']);
      expect(run.code).toBe(0);
      const client = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(client.client_secret).toBeUndefined();
      expect(client.token_endpoint_auth_method).toBe('none');
    });

    it('creates an account from a password on stdin and shows the ID number only masked', async () => {
      const id = syntheticCitizenId();
      const run = await yihao(['account', 'create', '--citizen-id', id, '--name', 'Li Wei', '--password-stdin', '--json'], { input: PASSWORD });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual({
        sub: expect.stringMatching(/^[\w-]{16,}$/),
        citizen_id_masked: `${id.slice(0, 6)}********${id.slice(14)}`,
        name: 'Li Wei',
      });
      expect(run.stdout + run.stderr).not.toContain(id);
      expect(run.stdout + run.stderr).not.toContain(id.slice(6, 14));
    });

    it('records a client it creates before any department exists in the audit log, as the system, without its secret', async () => {
      const run = await yihao(['client', 'create', '--json', '--name', 'Pension office', '--redirect-uri', 'https://pension.example.gov.cn/cb']);
      expect(run.code).toBe(0);
      const created = JSON.parse(run.stdout) as { client_id: string; client_secret: string; department_id: string | null };
      expect(created.department_id).toBeNull();
      const events = await auditEvents(dataDir, { client_id: created.client_id });
      expect(events).toEqual([
        {
          action: 'admin.client.created',
          actor_type: 'system',
          actor_id: 'cli',
          account_id: null,
          client_id: created.client_id,
          department_id: null,
          details: { client_id: created.client_id, via: 'cli', after: expect.objectContaining({ client_name: 'Pension office', redirect_uris: ['https://pension.example.gov.cn/cb'] }) },
        },
      ]);
      expect(JSON.stringify(events)).not.toContain(created.client_secret);
      expect(JSON.stringify(events)).not.toMatch(/hmac\d+\$/);
    });

    it('puts no client live when its audit record cannot be written', async () => {
      const dir = freshDir();
      expect((await yihao(['migrate'], { dir })).code).toBe(0);
      const db = openDatabase({ dataDir: dir });
      try {
        await refuseAuditEvents(db, 'admin.client.created');
        const run = await yihao(['client', 'create', '--name', 'Unrecorded office', '--redirect-uri', 'https://unrecorded.example.gov.cn/cb'], { dir });
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
      } finally {
        await db.destroy();
      }
      expect(await liveClientNames(dir)).not.toContain('Unrecorded office');
    });

    it('records an account it creates in the audit log, as the system and by sub, never with the ID number', async () => {
      const id = syntheticCitizenId();
      const run = await yihao(['account', 'create', '--citizen-id', id, '--name', 'Zhao Lei', '--password-stdin', '--json'], { input: PASSWORD });
      expect(run.code).toBe(0);
      const { sub } = JSON.parse(run.stdout) as { sub: string };
      const events = await auditEvents(dataDir, { account_id: sub });
      expect(events).toEqual([
        { action: 'account.created', actor_type: 'system', actor_id: 'cli', account_id: sub, client_id: null, department_id: null, details: { via: 'cli', assurance: 'self_asserted' } },
      ]);
      expect(JSON.stringify(events)).not.toContain(id);
      expect(JSON.stringify(events)).not.toContain(id.slice(6, 14));
      expect(JSON.stringify(events)).not.toContain('Zhao Lei');
    });

    it('creates no account when its audit record cannot be written', async () => {
      const dir = freshDir();
      expect((await yihao(['migrate'], { dir })).code).toBe(0);
      const db = openDatabase({ dataDir: dir });
      try {
        await refuseAuditEvents(db, 'account.created');
        const run = await yihao(['account', 'create', '--citizen-id', syntheticCitizenId(), '--name', 'Sun Qiang', '--password-stdin'], { dir, input: PASSWORD });
        expect(run.code).toBe(1);
        expect(run.stdout).toBe('');
      } finally {
        await db.destroy();
      }
      expect(await countAccounts(dir, 'Sun Qiang')).toBe(0);
    });

    it('refuses a second account for the same ID number and creates nothing', async () => {
      const id = syntheticCitizenId();
      const args = ['account', 'create', '--citizen-id', id, '--name', 'Zhang Min', '--password-stdin'];
      const first = await yihao(args, { input: PASSWORD });
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^sub: [\w-]+$/m);
      expect(first.stdout).toContain(`citizen_id_masked: ${id.slice(0, 6)}********${id.slice(14)}`);
      expect(first.stdout).not.toContain(id);

      const second = await yihao(args, { input: PASSWORD });
      expectBadInput(second, /already exists/);
      expect(second.stderr).not.toContain(id);
      expect(await countAccounts(dataDir, 'Zhang Min')).toBe(1);
    });

    const valid = syntheticCitizenId({ region: '110105', birth: '19800101', seq: 3 });
    const wrongCheck = valid.slice(0, 17) + (valid[17] === '0' ? '1' : '0');
    it.each([
      ['a wrong check character', wrongCheck, /check character/],
      ['17 characters', valid.slice(0, 17), /18 characters/],
      ['letters', `${valid.slice(0, 8)}AB${valid.slice(10)}`, /17 digits/],
      ['an impossible date', syntheticCitizenId({ birth: '19990230' }), /not a real date/],
      ['an unknown province', syntheticCitizenId({ region: '990101' }), /province/],
    ])('refuses a citizen ID number with %s, without echoing it', async (_what, id, message) => {
      const run = await yihao(['account', 'create', '--citizen-id', id, '--name', 'Wang Fang', '--password-stdin'], { input: PASSWORD });
      expectBadInput(run, message);
      expect(run.stderr).not.toContain(id);
      expect(run.stderr).not.toMatch(/\d{6}/);
    });

    it('refuses an empty password on stdin', async () => {
      const run = await yihao(['account', 'create', '--citizen-id', syntheticCitizenId(), '--name', 'Wang Fang', '--password-stdin'], { input: '\n' });
      expectBadInput(run, /password .*empty/);
    });

    it('refuses an account without --name', async () => {
      const run = await yihao(['account', 'create', '--citizen-id', syntheticCitizenId(), '--password-stdin'], { input: PASSWORD });
      expectBadInput(run, /--name is required/);
    });

    it('refuses a client without --name', async () => {
      const run = await yihao(['client', 'create', '--redirect-uri', 'https://tax.example.gov.cn/cb']);
      expectBadInput(run, /--name is required/);
    });

    it('refuses an unknown option, naming it but not its value', async () => {
      const run = await yihao(['client', 'create', '--name', 'X', '--redirect-url=https://tax.example.gov.cn/cb']);
      expectBadInput(run, /unknown option --redirect-url\b/);
      expect(run.stderr).not.toContain('tax.example');
    });

    it('refuses an unknown command and a configuration error with exit code 2', async () => {
      expectBadInput(await yihao(['frobnicate']), /unknown command 'frobnicate'/);
      expectBadInput(await yihao(['migrate'], { env: { DATABASE_URL: 'mysql://db.example/yihao' } }), /configuration: DATABASE_URL/);
    });

    it('says in words what is wrong with a configured value, in a process that has served nothing', async () => {
      const dir = freshDir();
      const file = join(dir, 'yihao.json');
      writeFileSync(file, JSON.stringify({ port: 70000 }));
      expectBadInput(await yihao(['migrate'], { env: { YIHAO_CONFIG: file } }), /configuration: port expected number to be less than or equal to 65,535$/m);
      writeFileSync(file, JSON.stringify({ sweeper: { intervalSeconds: 300, batchSize: 0 } }));
      expectBadInput(await yihao(['migrate'], { env: { YIHAO_CONFIG: file } }), /configuration: sweeper\.batchSize expected number to be greater than or equal to 1$/m);
    });

    it('reports an unreachable database in one line with exit code 1', async () => {
      const run = await yihao(['migrate', '--json'], { env: { DATABASE_URL: 'postgres://yihao@127.0.0.1:1/yihao' } });
      expect(run.stderr).toMatch(/^yihao: unexpected error: [^\n]*ECONNREFUSED[^\n]*\n$/);
      expect(run.stdout).toBe('');
      expect(run.code).toBe(1);
    });

    it('prints help for the CLI and for each command', async () => {
      const help = await yihao(['--help']);
      expect(help.code).toBe(0);
      for (const name of ['migrate', 'client create', 'account create', 'keys list', 'keys rotate']) expect(help.stdout).toContain(name);
      const usage = await yihao(['help', 'account', 'create']);
      expect(usage.code).toBe(0);
      expect(usage.stdout).toMatch(/^Usage: yihao account create --citizen-id ID/);
    });

    it('rotates the signing keys: new keys published first, signing from keys.publishSeconds on, the old ones signing until then; --now at once', async () => {
      const rotate = await yihao(['keys', 'rotate', '--json']);
      expect(rotate.stderr).toBe('');
      expect(rotate.code).toBe(0);
      const { activated, signs_from: signsFrom } = JSON.parse(rotate.stdout) as { activated: string[]; signs_from: string };
      expect(activated).toHaveLength(2);
      // 2 × keys.refreshSeconds (5) + 30 by default.
      expect(Date.parse(signsFrom) - Date.now()).toBeGreaterThan(30_000);
      expect(Date.parse(signsFrom) - Date.now()).toBeLessThanOrEqual(40_000);

      const listed = async () => {
        const list = await yihao(['keys', 'list', '--json']);
        expect(list.code).toBe(0);
        return (JSON.parse(list.stdout) as { keys: KeyJson[] }).keys;
      };
      let keys = await listed();
      expect(keys.filter((k) => activated.includes(k.kid))).toEqual(activated.map(() => expect.objectContaining({ status: 'next', signs_from: signsFrom, retired_at: null })));
      for (const old of keysBefore.filter((k) => k.status === 'active')) {
        expect(keys.find((k) => k.kid === old.kid)).toMatchObject({ status: 'active', retired_at: signsFrom });
      }

      // A key that must stop signing now: the newest keys sign at once, every other is retired.
      const now = await yihao(['keys', 'rotate', '--now', '--json']);
      expect(now.code).toBe(0);
      const immediate = JSON.parse(now.stdout) as { activated: string[]; signs_from: string | null };
      expect(immediate.signs_from).toBeNull();
      keys = await listed();
      const active = keys.filter((k) => k.status === 'active');
      expect(active.map((k) => k.kid).sort()).toEqual([...immediate.activated].sort());
      expect(active.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
      for (const old of [...keysBefore, ...activated.map((kid) => ({ kid }))]) {
        expect(keys.find((k) => k.kid === old.kid)).toMatchObject({ status: 'retired', retired_at: expect.any(String) });
      }
      // The rotation is in the audit trail, with the keys before and after.
      const db = openDatabase({ dataDir });
      try {
        const [event, atOnce] = await db('audit_events').where({ action: 'keys.rotated' }).orderBy('id', 'desc').limit(2).then((rows) => rows.reverse());
        expect(event).toMatchObject({ actor_type: 'system', actor_id: 'cli' });
        const oldActive = keysBefore.filter((k) => k.status === 'active').map((k) => k.kid);
        expect(JSON.parse(event.details as string)).toEqual({ via: 'cli', before: { active: expect.arrayContaining(oldActive) }, after: { active: activated } });
        expect(JSON.parse(atOnce.details as string)).toEqual({ via: 'cli', immediate: true, before: { active: expect.arrayContaining(oldActive) }, after: { active: immediate.activated } });
      } finally {
        await db.destroy();
      }
    });
  });
});
