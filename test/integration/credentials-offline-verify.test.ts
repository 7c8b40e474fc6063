/**
 * The counter without a network (docs/credentials.md, "Verifying offline"): `yihao credential bundle`
 * exports the issuer's keys, metadata and signed status lists; `yihao credential verify` checks a
 * presentation from that file alone. The verify runs have no database, no Redis and no outbound
 * network to reach (DATABASE_URL and REDIS_URL point at closed ports, YIHAO_OUTBOUND_ALLOW is
 * empty), and a revocation shows only once a fresh bundle carries it. Presentations come from the
 * independent wallet (test/support/wallet.ts); the attacker's presentations are refused with
 * their reason and exit code 1, bad input with 2.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, ES256 } from '@sd-jwt/crypto-nodejs';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { issueIdentityCredential } from '../../src/credentials/identity-credential.js';
import { LOA2 } from '../support/admin-operators.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { Wallet, walletKey, type WalletKey } from '../support/wallet.js';
import { buildCli, hostedYihao, pgUrlWithSchema } from '../support/yihao-cli.js';

const COUNTER = 'https://counter.example.gov.cn/hall-3';
const VCT = 'urn:yihao:vct:identity:1';

const backends: { name: Backend; enabled: boolean }[] = [
  { name: 'sqlite', enabled: true },
  { name: 'postgres+redis', enabled: pgAvailable && redisAvailable },
];

/** Nothing to reach: a database, a cache and the network that are not there. */
const OFFLINE = { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', YIHAO_OUTBOUND_ALLOW: '' };

type Held = { credential: string; key: WalletKey; id: string };

describe.each(backends)('yihao credential bundle | verify, offline ($name)', ({ name, enabled }) => {
  let h: Harness;
  let dir: string;
  let cliEnv: Record<string, string>;
  let wallet: Wallet;
  let held: Held;
  let citizen: Awaited<ReturnType<Harness['citizen']>>;

  /**
   * A credential as the credential endpoint makes it (its status entry recorded, signed with the
   * active issuer key); the OID4VCI flow that delivers it is credentials-issuance.test.ts.
   */
  async function issue(validity: { issuedAt: number; expiresAt: number } = { issuedAt: Date.now(), expiresAt: Date.now() + 86_400_000 }): Promise<Held> {
    const account = (await h.yihao.accounts.findBySub(citizen.sub))!;
    const key = await wallet.newKey();
    const record = await h.yihao.credentials.store.record({ accountId: account.id, type: VCT, clientId: 'yh_app', holderJkt: 'jkt', ...validity });
    const credential = await issueIdentityCredential({
      subject: { account, acr: LOA2 },
      holderJwk: key.publicJwk,
      issuer: h.issuer,
      ...validity,
      status: { uri: `${h.issuer}/credentials/status/${record.statusListId}`, idx: record.statusIndex },
      signingKey: await h.yihao.credentials.signer.active(),
    });
    return { credential, key, id: record.id };
  }

  const bundle = async (file: string) => {
    const run = await hostedYihao(['credential', 'bundle', '--out', join(dir, file), '--json'], cliEnv);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as { status_lists: number; keys: number };
  };

  const verify = async (presentation: string, opts: { nonce?: string; audience?: string; bundle?: string; extra?: string[] } = {}) => {
    const file = join(dir, `p-${Math.random().toString(36).slice(2)}.txt`);
    writeFileSync(file, presentation);
    const run = await hostedYihao(
      ['credential', 'verify', '--bundle', join(dir, opts.bundle ?? 'bundle.json'), '--presentation', file, '--nonce', opts.nonce ?? 'n-1', '--audience', opts.audience ?? COUNTER, '--json', ...(opts.extra ?? [])],
      OFFLINE,
    );
    return { ...run, body: run.stdout ? (JSON.parse(run.stdout) as Record<string, unknown>) : undefined };
  };
  const refusal = (run: Awaited<ReturnType<typeof verify>>) => [run.code, run.body?.reason];

  beforeAll(async () => {
    if (!enabled) return;
    buildCli();
    dir = mkdtempSync(join(tmpdir(), 'yihao-bundle-'));
    h = await startHarness({ backend: name });
    cliEnv = h.env.TEST_SCHEMA ? { ...h.env, DATABASE_URL: pgUrlWithSchema(h.env.DATABASE_URL!, h.env.TEST_SCHEMA) } : h.env;
    citizen = await h.citizen({ name: '王五' });
    wallet = await Wallet.create('yh_app');
    held = await issue();
    expect(await bundle('bundle.json')).toMatchObject({ status_lists: 1, keys: 1 });
  });
  afterAll(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.runIf(enabled)('accepts a subset presentation and shows only the disclosed claims', async () => {
    const presentation = await wallet.present(held, { citizen_id_masked: true, acr: true }, { aud: COUNTER, nonce: 'n-1' });
    const run = await verify(presentation, { extra: ['--claim', 'citizen_id_masked'] });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.body).toMatchObject({ valid: true, vct: VCT, status_stale: false, claims: { citizen_id_masked: `${citizen.citizenId.slice(0, 6)}********${citizen.citizenId.slice(14)}`, acr: LOA2 } });
    expect(Object.keys(run.body!.claims as object).sort()).toEqual(['acr', 'citizen_id_masked']);

    const text = await hostedYihao(['credential', 'verify', '--bundle', join(dir, 'bundle.json'), '--presentation', '-', '--nonce', 'n-2', '--audience', COUNTER], OFFLINE, await wallet.present(held, { name: true }, { aud: COUNTER, nonce: 'n-2' }));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^valid: ${VCT}\\n  name: 王五\\nstatus as of `));
    expect(text.stdout).not.toContain(citizen.citizenId);

    // A bundle older than its status lists' ttl still answers (the counter is offline), and says so.
    const aged = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as { status_lists: { fetched_at: string }[] };
    for (const list of aged.status_lists) list.fetched_at = new Date(Date.now() - 3_600_000).toISOString();
    writeFileSync(join(dir, 'aged.json'), JSON.stringify(aged));
    const stale = await verify(presentation, { bundle: 'aged.json' });
    expect([stale.code, stale.body?.status_stale]).toEqual([0, true]);
  });

  it.runIf(enabled)('refuses a tampered disclosure, a wrong nonce or audience, and a key the credential is not bound to', async () => {
    const presentation = await wallet.present(held, { citizen_id_masked: true }, { aud: COUNTER, nonce: 'n-1' });
    const [jwt, disclosure, ...rest] = presentation.split('~');
    const [salt, claim] = JSON.parse(Buffer.from(disclosure!, 'base64url').toString()) as [string, string, string];
    const forged = Buffer.from(JSON.stringify([salt, claim, '110105********9999'])).toString('base64url');
    expect(refusal(await verify([jwt, forged, ...rest].join('~')))).toEqual([1, 'tampered']);
    expect(refusal(await verify(presentation, { nonce: 'n-other' }))).toEqual([1, 'wrong_nonce']);
    expect(refusal(await verify(presentation, { audience: 'https://elsewhere.example' }))).toEqual([1, 'wrong_audience']);
    const thief = await wallet.newKey();
    const stolen = await wallet.present({ credential: held.credential, key: thief }, { citizen_id_masked: true }, { aud: COUNTER, nonce: 'n-1' });
    const run = await verify(stolen);
    expect(refusal(run)).toEqual([1, 'holder_key_mismatch']);
    expect(run.stderr).toMatch(/^yihao: presentation refused \(holder_key_mismatch\): /);
  });

  it.runIf(enabled)('refuses a credential signed by anyone but the issuer, an expired one, and one missing a needed claim', async () => {
    // The attacker's own key, named with the issuer's kid: the signature does not verify against the published key.
    const forger = await walletKey();
    const kid = (await h.yihao.credentials.signer.active()).kid;
    const holder = await wallet.newKey();
    const fake = await new SDJwtVcInstance({ signer: await ES256.getSigner(forger.privateJwk), signAlg: 'ES256', hasher: digest, saltGenerator: () => 'c2FsdHNhbHQ' }).issue(
      { iss: h.issuer, vct: VCT, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600, cnf: { jwk: holder.publicJwk }, name: '冒充者' },
      { _sd: ['name'] } as never,
      { header: { kid } },
    );
    expect(refusal(await verify(await wallet.present({ credential: fake, key: holder }, { name: true }, { aud: COUNTER, nonce: 'n-1' })))).toEqual([1, 'bad_signature']);

    const expired = await issue({ issuedAt: Date.now() - 2 * 86_400_000, expiresAt: Date.now() - 86_400_000 });
    expect(refusal(await verify(await wallet.present(expired, { acr: true }, { aud: COUNTER, nonce: 'n-1' })))).toEqual([1, 'expired']);

    expect(refusal(await verify(await wallet.present(held, { acr: true }, { aud: COUNTER, nonce: 'n-1' }), { extra: ['--claim', 'name'] }))).toEqual([1, 'missing_claim']);
  });

  it.runIf(enabled)('refuses a revoked credential once a fresh bundle carries the updated status list, not before', async () => {
    const victim = await issue();
    await bundle('before.json');
    const run = await hostedYihao(['credential', 'revoke', victim.id, '--reason', 'phone reported stolen'], cliEnv);
    expect(run.code).toBe(0);
    const presentation = await wallet.present(victim, { acr: true }, { aud: COUNTER, nonce: 'n-1' });
    // The old bundle knows nothing of it (verify reads no server): the counter's known limit, the bundle's age.
    expect((await verify(presentation, { bundle: 'before.json' })).code).toBe(0);
    await bundle('after.json');
    expect(refusal(await verify(presentation, { bundle: 'after.json' }))).toEqual([1, 'revoked']);
    // The other credentials of that list stay valid.
    expect((await verify(await wallet.present(held, { acr: true }, { aud: COUNTER, nonce: 'n-1' }), { bundle: 'after.json' })).code).toBe(0);
  });

  it.runIf(enabled)('answers bad input with exit code 2, echoing nothing it was given', async () => {
    const presentation = await wallet.present(held, { citizen_id: true }, { aud: COUNTER, nonce: 'n-1' });
    const noNonce = await hostedYihao(['credential', 'verify', '--bundle', join(dir, 'bundle.json'), '--presentation', '-', '--audience', COUNTER], OFFLINE, presentation);
    expect([noNonce.code, noNonce.stderr]).toEqual([2, expect.stringMatching(/--nonce is required/)]);
    writeFileSync(join(dir, 'broken.json'), '{"format":"something else"}');
    const broken = await verify(presentation, { bundle: 'broken.json' });
    expect([broken.code, broken.stderr]).toEqual([2, expect.stringMatching(/not a credential bundle/)]);
    const missing = await verify(presentation, { bundle: 'no-such-file.json' });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/cannot read the bundle file/)]);
    const claim = await verify(presentation, { extra: ['--claim', citizen.citizenId] });
    expect([claim.code, claim.stderr]).toEqual([2, expect.stringMatching(/--claim is one of/)]);
    const garbage = await verify('not a presentation at all');
    expect([garbage.code, garbage.stderr]).toEqual([2, expect.stringMatching(/not an SD-JWT/)]);
    for (const run of [noNonce, broken, missing, claim, garbage]) expect(run.stderr).not.toContain(citizen.citizenId);
    const noOut = await hostedYihao(['credential', 'bundle'], cliEnv);
    expect([noOut.code, noOut.stderr]).toEqual([2, expect.stringMatching(/--out is required/)]);
  });
});
