import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { authorizationUrl, relyingParty } from '../support/relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from '../support/scripted-browser.js';
import { legacySeal } from '../support/legacy-seal.js';
import { buildCli, hostedYihao, pgUrlWithSchema } from '../support/yihao-cli.js';
import { rewriteColumn } from '../../src/keys/column-rewrite.js';
import { certificateStore } from '../../src/credentials/certificate-store.js';
import { createSealer } from '../../src/identity/index.js';
import type { Config } from '../../src/config/index.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];
const SCOPE = 'openid profile citizen_id';
const newSealKey = (kid: string) => ({ kid, key: randomBytes(32).toString('base64') });

describe.each(backends)('key rotation (%s)', (backend) => {
  let h: Harness;
  let client: { client_id: string; client_secret?: string };
  let legacy: Awaited<ReturnType<Harness['citizen']>>;
  let modern: Awaited<ReturnType<Harness['citizen']>>;

  beforeAll(async () => {
    buildCli();
    h = await startHarness({ backend });
    client = await h.client({ scope: SCOPE, citizenIdRelease: 'full' });
    legacy = await h.citizen();
    modern = await h.citizen();
    // A row as it was before sealed citizen IDs named their account.
    await h.yihao.stores.db('accounts').where({ sub: legacy.sub }).update({ citizen_sealed: legacySeal(h.config.secrets.sealKeys[0]!, legacy.citizenId) });
    await h.stop();
  }, 180_000);
  afterAll(async () => h?.close());

  /** The CLI's environment for the harness's stores, with `secrets` and optional file config. */
  function cliEnv(secrets: Config['secrets'], fileConfig?: object): Record<string, string> {
    const dir = h.env.YIHAO_DATA_DIR!;
    const secretsFile = join(dir, `secrets-${randomBytes(4).toString('hex')}.json`);
    writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
    const env: Record<string, string> = { YIHAO_DATA_DIR: dir, ISSUER: h.issuer, YIHAO_SECRETS_FILE: secretsFile };
    if (h.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: pgUrlWithSchema(h.env.DATABASE_URL, h.env.TEST_SCHEMA!), REDIS_URL: h.env.REDIS_URL!, YIHAO_REDIS_PREFIX: h.env.YIHAO_REDIS_PREFIX! });
    if (fileConfig) {
      const configFile = join(dir, `config-${randomBytes(4).toString('hex')}.json`);
      writeFileSync(configFile, JSON.stringify(fileConfig));
      env.YIHAO_CONFIG = configFile;
    }
    return env;
  }

  async function userinfoOf(server: Harness, who: { citizenId: string; password: string }) {
    const rp = await relyingParty(server, client);
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await scriptedSignIn(new ScriptedBrowser(), await authorizationUrl(rp, verifier, { scope: SCOPE }), { identifier: who.citizenId, password: who.password });
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    return oidc.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub);
  }

  it('reseals everything under a new seal key, resumably, and the server then runs without the old key', async () => {
    const old = h.config.secrets;
    const k2 = newSealKey('k2_new');
    const both = { ...old, sealKeys: [k2, ...old.sealKeys] };
    const first = await hostedYihao(['keys', 'reseal', '--batch-size', '1', '--json'], cliEnv(both));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as { seal_kid: string; columns: { column: string; rewritten: number; unreadable: number }[] };
    expect(report.seal_kid).toBe('k2_new');
    const byColumn = Object.fromEntries(report.columns.map((c) => [c.column, c.rewritten]));
    expect(byColumn['accounts.citizen_sealed']).toBeGreaterThanOrEqual(2);
    expect(byColumn['signing_keys.sealed_private_jwk']).toBeGreaterThanOrEqual(1);
    expect(byColumn['credential_issuer_keys.sealed_private_jwk']).toBeGreaterThanOrEqual(1);
    expect(byColumn['verifier_keys.sealed_private_jwk']).toBeGreaterThanOrEqual(1);

    // Nothing left: a rerun (after a kill, say) finds no work.
    const again = await hostedYihao(['keys', 'reseal', '--json'], cliEnv(both));
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { columns: { rewritten: number; scanned: number }[] }).columns.every((c) => c.rewritten === 0 && c.scanned === 0)).toBe(true);

    // Text output shows progress and the table.
    const text = await hostedYihao(['keys', 'reseal'], cliEnv(both));
    expect(text.stdout).toContain('Everything sealed is now under seal key k2_new');

    const after = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets: { ...c.secrets, sealKeys: [k2] } }) });
    try {
      expect(await userinfoOf(after, legacy)).toMatchObject({ citizen_id: legacy.citizenId });
      expect(await userinfoOf(after, modern)).toMatchObject({ citizen_id: modern.citizenId });
      const rows = (await after.yihao.stores.db('accounts').select('citizen_sealed')) as { citizen_sealed: string }[];
      expect(rows.every((r) => r.citizen_sealed.startsWith('v2.k2_new.'))).toBe(true);
      // The credential issuer key opens under the new seal key alone: its public half is published.
      const issuerKeys = await fetch(`${after.url}/.well-known/jwt-vc-issuer`);
      expect(issuerKeys.status).toBe(200);
      expect(((await issuerKeys.json()) as { jwks: { keys: unknown[] } }).jwks.keys).toHaveLength(1);
    } finally {
      await after.stop();
    }
    h = { ...h, config: { ...h.config, secrets: { ...old, sealKeys: [k2] } } } as Harness;
  }, 240_000);

  it('reseals department certificates too: their claims open under the new seal key alone', async () => {
    const secrets = h.config.secrets;
    const claims = { licence_number: 'A-0042', holder_name: '张三' };
    const now = Date.now();
    let id = '';
    const before = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets }) });
    try {
      const db = before.yihao.stores.db;
      const account = (await db('accounts').where({ sub: modern.sub }).first()) as { id: string };
      const store = certificateStore(db, createSealer(secrets.sealKeys));
      const pushed = { typeId: 'driving_licence', departmentId: 'd_transport', accountId: account.id, validFrom: now, validUntil: now + 86_400_000, pushedBy: 'transport-system', createdAt: now, claims, idempotencyKey: undefined };
      id = (await db.transaction((trx) => store.insert(pushed, trx))).certificate.id;
    } finally {
      await before.stop();
    }

    const k3 = newSealKey('k3_new');
    const withBoth = { ...secrets, sealKeys: [k3, ...secrets.sealKeys] };
    const run = await hostedYihao(['keys', 'reseal', '--json'], cliEnv(withBoth));
    // Everything else is under the new key from here on, whatever this case finds.
    h = { ...h, config: { ...h.config, secrets: { ...secrets, sealKeys: [k3] } } } as Harness;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const byColumn = Object.fromEntries((JSON.parse(run.stdout) as { columns: { column: string; rewritten: number }[] }).columns.map((c) => [c.column, c.rewritten]));
    expect(byColumn['certificates.sealed_claims']).toBe(1);

    // The old key goes, as docs/keys.md says it may once reseal has run: the certificate still opens.
    const after = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets: { ...c.secrets, sealKeys: [k3] } }) });
    try {
      const row = (await after.yihao.stores.db('certificates').where({ id }).first()) as { sealed_claims: string };
      expect(row.sealed_claims.startsWith('v2.k3_new.')).toBe(true);
      expect(await certificateStore(after.yihao.stores.db, createSealer([k3])).claims({ id })).toEqual(claims);
    } finally {
      await after.stop();
    }
  }, 240_000);

  it('never overwrites a value that the server changed between the read and the write', async () => {
    const server = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets: h.config.secrets }) });
    try {
      const db = server.yihao.stores.db;
      const row = (await db('accounts').where({ sub: modern.sub }).first()) as { id: string; citizen_sealed: string };
      // What this run read is no longer what the row holds: the server re-sealed it in between.
      const progress = await rewriteColumn(
        db,
        {
          name: 'test',
          table: 'accounts',
          key: 'id',
          column: 'citizen_sealed',
          pending: (q) => q.clearSelect().select('id', db.raw('? as citizen_sealed', ['what-we-read'])).where({ id: row.id }),
          rewrite: () => 'stale-value',
        },
        { batchSize: 10 },
      );
      expect(progress).toMatchObject({ scanned: 1, rewritten: 0, changedMeanwhile: 1 });
      const now = (await db('accounts').where({ id: row.id }).first()) as { citizen_sealed: string };
      expect(now.citizen_sealed).toBe(row.citizen_sealed);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('moves the citizen index to version 2 with dual lookup meanwhile; sign-in works before, during and after', async () => {
    const secrets = h.config.secrets;
    const during = { keys: { purposes: { citizenIndex: { version: 2, reindexFrom: 1 } } } };
    const window = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets, keys: { ...c.keys, purposes: { ...c.keys.purposes, citizenIndex: { version: 2, reindexFrom: 1 } } } }) });
    try {
      // Before the re-index: rows have version 1, found through the dual lookup.
      expect(await userinfoOf(window, legacy)).toMatchObject({ citizen_id: legacy.citizenId });
      const run = await hostedYihao(['keys', 'reindex', '--batch-size', '1', '--json'], cliEnv(secrets, during));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect((JSON.parse(run.stdout) as { columns: { rewritten: number }[] }).columns[0]!.rewritten).toBeGreaterThanOrEqual(2);
      const indexes = (await window.yihao.stores.db('accounts').select('citizen_index')) as { citizen_index: string }[];
      expect(indexes.every((r) => r.citizen_index.startsWith('2$'))).toBe(true);
      expect(await userinfoOf(window, modern)).toMatchObject({ citizen_id: modern.citizenId });
    } finally {
      await window.stop();
    }
    const after = await startHarness({ reuse: h, overrides: (c) => ({ ...c, secrets, keys: { ...c.keys, purposes: { ...c.keys.purposes, citizenIndex: { version: 2 } } } }) });
    try {
      expect(await userinfoOf(after, legacy)).toMatchObject({ citizen_id: legacy.citizenId });
      // A second account for the same number is still refused (the check uses the current version).
      await expect(after.yihao.accounts.create({ citizenId: modern.citizenId, name: 'dup', password: 'password-123' })).rejects.toThrow(/already exists/);
    } finally {
      await after.stop();
    }
  }, 240_000);
});
