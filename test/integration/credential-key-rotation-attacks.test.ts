/**
 * Attacks on the staged rotation of the credential issuer's and the OID4VP verifier's signing keys
 * (a helper's review) (src/keys/signing-keys.ts, src/credentials/issuer-signer.ts,
 * docs/credentials.md "Keys"). Two instances share one store: A reads its keys every 0.2 s and
 * rotates with keys.publishSeconds 40 (2 × 5 s + 30 s, the default for refreshSeconds 5); B read
 * them once and not again (an instance between two polls). Time passing is simulated by moving
 * `retired_at`, as credential-key-staged-rotation.test.ts does. After each attack both key sets are
 * rotated at once (`--now`) so the next one starts from one plain active key. Four failed before
 * their fixes: a rotation from a host 60 s slow (PostgreSQL) signed at once with an unpublished
 * key; an old key's end far ahead kept it signing past a staged rotation; a retired key signed
 * once the next key's row was deleted; and a certificate's credential, valid for years, outlived
 * its issuer key's publication.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import type { Config } from '../../src/config/index.js';
import { startHarness, type Backend, type Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { credentialKeyPair, issuerJwks, verifierJwks, verifiesWith, type CredentialKeyPair } from '../support/credential-key-pair.js';
import { walletKey } from '../support/wallet.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];

const PUBLISH_A = 40;
const fast = (c: Config): Config => ({ ...c, keys: { ...c.keys, refreshSeconds: 0.2, publishSeconds: PUBLISH_A } });
const slow = (c: Config): Config => ({ ...c, keys: { ...c.keys, refreshSeconds: 3600, publishSeconds: 7200 } });

describe.each(backends)('credential key rotation under attack (%s)', (backend) => {
  let pair: CredentialKeyPair;
  let a: Harness;
  let b: Harness;

  beforeAll(async () => {
    pair = await credentialKeyPair(backend, fast, slow);
    ({ a, b } = pair);
  }, 120_000);
  afterAll(async () => pair?.close(), 30_000);

  // Back to one plain active key per set, read by both instances.
  afterEach(async () => {
    vi.restoreAllMocks();
    await a.yihao.credentials.keys.rotate(undefined, { immediate: true });
    await a.yihao.credentials.verifier.keys.rotate(undefined, { immediate: true });
    for (const h of [a, b]) {
      h.yihao.credentials.signer.reload();
      h.yihao.credentials.verifier.signer.reload();
    }
  });

  const tokenJwks = async (at: Harness) => (await (await fetch(`${at.url}/jwks`)).json()) as JSONWebKeySet;
  const statusListAtA = () => pair.statusListAtA();
  const requestObjectAtA = () => pair.requestObjectAtA();
  const aPolled = () => new Promise((r) => setTimeout(r, 700));

  const sets = [
    ['issuer', 'credential_issuer_keys', issuerJwks, statusListAtA, (h: Harness) => h.yihao.credentials.keys, (h: Harness) => h.yihao.credentials.signer],
    ['verifier', 'verifier_keys', verifierJwks, requestObjectAtA, (h: Harness) => h.yihao.credentials.verifier.keys, (h: Harness) => h.yihao.credentials.verifier.signer],
  ] as const;

  for (const [name, table, jwksOf, signedAtA, keysOf, signerOf] of sets) {
    it(`the ${name} key: two staged rotations in a row: the middle key signs in its turn, one key signs at a time, and always one B publishes`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      await jwksOf(b);
      const [k1] = await keysOf(a).rotate();
      signerOf(b).reload(); // B polls within its refreshSeconds
      await jwksOf(b);
      const [k2] = await keysOf(a).rotate();
      await aPolled();
      const during = await signedAtA();
      expect(decodeProtectedHeader(during).kid).toBe(k0);
      expect(await verifiesWith(during, await jwksOf(b))).toBe('verified');
      const listed = await keysOf(a).list();
      expect(listed.filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([k0]);
      const info = (kid: string) => listed.find((k) => k.kid === kid)!;
      // k1 signs from k0's end, k2 from k1's end (each publishSeconds after its own rotation).
      expect(info(k1!.kid).signsFrom).toBe(info(k0).retiredAt);
      expect(info(k2!.kid).signsFrom).toBe(info(k1!.kid).retiredAt);

      // k0's window ends: k1 signs (not k2), and B publishes it.
      await a.yihao.stores.db(table).where({ kid: k0 }).update({ retired_at: Date.now() - 1 });
      await aPolled();
      const next = await signedAtA();
      expect(decodeProtectedHeader(next).kid).toBe(k1!.kid);
      expect(await verifiesWith(next, await jwksOf(b))).toBe('verified');
      expect((await keysOf(a).list()).filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([k1!.kid]);
    });

    // PostgreSQL only: the embedded SQLite is one host's, and every process on it reads one clock.
    it.skipIf(backend === 'sqlite')(`the ${name} key: a rotation run from a machine whose clock is 60 s behind still publishes the new key before it signs`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      const before = await jwksOf(b); // B read its keys just now, and polls again within refreshSeconds
      expect(await verifiesWith(await signedAtA(), before)).toBe('verified');
      const realNow = Date.now.bind(Date);
      const skewed = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 60_000);
      let fresh;
      try {
        [fresh] = await keysOf(a).rotate();
      } finally {
        skewed.mockRestore();
      }
      await aPolled();
      const during = await signedAtA();
      // The promise: the new key signs only publishSeconds after the rotation; until then the current key.
      expect({ kid: decodeProtectedHeader(during).kid, atB: await verifiesWith(during, await jwksOf(b)) }).toEqual({ kid: k0, atB: 'verified' });
      expect(fresh!.kid).not.toBe(k0);
    });

    it(`the ${name} key: an earlier end far ahead (a forged row, or a rotation from a clock a year fast) does not keep the old key signing past a staged rotation`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      await a.yihao.stores.db(table).where({ kid: k0 }).update({ retired_at: Date.now() + 365 * 86_400_000 });
      const rotatedAt = Date.now();
      const [fresh] = await keysOf(a).rotate();
      // The docs: the new key signs from keys.publishSeconds after the rotation.
      const signsFrom = Date.parse(fresh!.signsFrom ?? '');
      expect(signsFrom).toBeLessThanOrEqual(rotatedAt + PUBLISH_A * 1000 + 60_000);
    });

    it(`the ${name} key: a key listed as retired never signs (the next key's row gone, e.g. deleted by an operator)`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      const [fresh] = await keysOf(a).rotate();
      await a.yihao.stores.db(table).where({ kid: fresh!.kid }).delete();
      await a.yihao.stores.db(table).where({ kid: k0 }).update({ retired_at: Date.now() - 1 });
      signerOf(a).reload();
      const signed = await signedAtA();
      const listed = await keysOf(a).list();
      const signer = listed.find((k) => k.kid === decodeProtectedHeader(signed).kid);
      expect(signer?.status).not.toBe('retired');
    });

    it(`the ${name} key: an instance started during the publishing window signs with the current key and publishes the next one`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      const [fresh] = await keysOf(a).rotate();
      const c = await startHarness({ share: a, overrides: slow });
      try {
        const atC = await signerOf(c).active();
        expect(atC.kid).toBe(k0);
        expect((await jwksOf(c)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([k0, fresh!.kid]));
        const nulls = (await c.yihao.stores.db(table).whereNull('retired_at').select('kid')) as { kid: string }[];
        expect(nulls.map((r) => r.kid)).toEqual([fresh!.kid]);
      } finally {
        await c.close();
      }
    }, 60_000);

    it(`the ${name} key: concurrent staged rotations from both instances leave one key without an end, each new key publishSeconds away`, async () => {
      const k0 = decodeProtectedHeader(await signedAtA()).kid!;
      const startedAt = Date.now();
      const [[fa], [fb]] = await Promise.all([keysOf(a).rotate(), keysOf(b).rotate()]);
      const rows = (await a.yihao.stores.db(table).select('kid', 'retired_at')) as { kid: string; retired_at: number | string | null }[];
      const open = rows.filter((r) => r.retired_at === null).map((r) => r.kid);
      expect(open).toHaveLength(1);
      expect([fa!.kid, fb!.kid]).toContain(open[0]);
      const listed = await keysOf(a).list();
      expect(listed.filter((k) => k.status === 'active').map((k) => k.kid)).toEqual([k0]);
      // Neither new key signs before A's publishSeconds (the shorter of the two) from the rotations.
      for (const k of listed.filter((x) => x.kid === fa!.kid || x.kid === fb!.kid)) {
        expect(Date.parse(k.signsFrom!)).toBeGreaterThanOrEqual(startedAt + PUBLISH_A * 1000);
      }
    });
  }

  it('a department certificate credential verifies against the published issuer keys for as long as it is valid, after a rotation', async () => {
    const police = await a.yihao.admin.services.bootstrap.createDepartment({ name: '评审测试公安厅', level: 'national' });
    const typeId = 'review_licence';
    await a.yihao.credentials.certificates.store.insertType({
      id: typeId,
      departmentId: police.id,
      vct: `${a.issuer}/credentials/types/${typeId}`,
      names: { 'zh-CN': '评审驾驶证', en: 'Review licence' },
      claims: { licence_number: { type: 'string', required: true } },
      validityDays: 1826,
      createdBy: 'test',
      createdAt: Date.now(),
      approvedAt: Date.now(),
      approvedBy: 'cli',
    });
    const citizen = await a.citizen({ name: '评审员' });
    const account = (await a.yihao.accounts.findBySub(citizen.sub))!;
    const validUntil = Date.now() + 5 * 365 * 86_400_000; // the type's default: 5 years
    await a.yihao.stores.db.transaction((trx) =>
      a.yihao.credentials.certificates.store.insert(
        { typeId, departmentId: police.id, accountId: account.id, claims: { licence_number: 'REV-0001' }, validFrom: Date.now() - 86_400_000, validUntil, pushedBy: 'review', createdAt: Date.now(), idempotencyKey: undefined },
        trx,
      ),
    );
    const now = Date.now();
    const held = await a.yihao.credentials.certificates.issuance.held(account, typeId, now);
    expect(held).toBeDefined();
    const [{ credential }] = (await a.yihao.credentials.certificates.issuance.issue(held!, { account, client: 'yh_app', keys: [(await walletKey()).publicJwk], now })) as [{ credential: string }];
    const signedBy = decodeProtectedHeader(credential.split('~')[0]!).kid!;
    const exp = (JSON.parse(Buffer.from(credential.split('~')[0]!.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;

    await a.yihao.credentials.keys.rotate(undefined, { immediate: true });
    // 400 days later (longer than credentials.validitySeconds, 1 year, and keys.retiredKeepSeconds, 30 days):
    const later = 400 * 86_400_000;
    expect(exp * 1000).toBeGreaterThan(Date.now() + later); // the credential is still valid then
    await a.yihao.stores.db('credential_issuer_keys').where({ kid: signedBy }).update({ retired_at: Date.now() - later });
    a.yihao.credentials.signer.reload();
    expect((await issuerJwks(a)).keys.map((k) => k.kid)).toContain(signedBy);
  });

  it('the issuer, verifier and token key sets never share a key, after rotations of each', async () => {
    await a.yihao.credentials.keys.rotate();
    await a.yihao.credentials.verifier.keys.rotate();
    await a.yihao.credentials.keys.rotate(undefined, { immediate: true });
    await aPolled();
    const [issuer, verifier, token] = await Promise.all([issuerJwks(a), verifierJwks(a), tokenJwks(a)]);
    const ids = (s: JSONWebKeySet) => s.keys.map((k) => `${k.kid}|${String(k.x ?? k.n)}`);
    const [i, v, t] = [ids(issuer), ids(verifier), ids(token)];
    const material = (s: JSONWebKeySet) => s.keys.map((k) => String(k.x ?? k.n));
    expect(i.filter((x) => v.includes(x) || t.includes(x))).toEqual([]);
    expect(v.filter((x) => t.includes(x))).toEqual([]);
    expect(material(issuer).filter((x) => material(verifier).includes(x) || material(token).includes(x))).toEqual([]);
    expect(material(verifier).filter((x) => material(token).includes(x))).toEqual([]);
  });

  it('a rotation whose audit record fails is not made; one whose record lands is audited in the same transaction', async () => {
    const db = a.yihao.stores.db;
    const count = async (action: string) => Number(((await db('audit_events').where({ action }).count({ n: '*' })) as { n: number | string }[])[0]!.n);
    const keysBefore = ((await db('verifier_keys').select('kid')) as { kid: string }[]).map((r) => r.kid).sort();
    const auditedBefore = await count('vc.verifier_key_rotated');
    await expect(
      a.yihao.credentials.verifier.keys.rotate(async (trx, activated) => {
        await a.yihao.services.audit.append({ action: 'vc.verifier_key_rotated', actorType: 'system', actorId: 'cli', details: { via: 'cli', after: { active: activated } } }, { trx });
        throw new Error('the record failed');
      }),
    ).rejects.toThrow('the record failed');
    expect(((await db('verifier_keys').select('kid')) as { kid: string }[]).map((r) => r.kid).sort()).toEqual(keysBefore);
    expect(await count('vc.verifier_key_rotated')).toBe(auditedBefore);

    const [fresh] = await a.yihao.credentials.verifier.keys.rotate((trx, activated) =>
      a.yihao.services.audit.append({ action: 'vc.verifier_key_rotated', actorType: 'system', actorId: 'cli', details: { via: 'cli', after: { active: activated } } }, { trx }),
    );
    expect(await count('vc.verifier_key_rotated')).toBe(auditedBefore + 1);
    expect(fresh!.status).toBe('next');
  });

  it('migration 20261208_130 adds the issuing key to issued credentials, and goes down and up again', async () => {
    const { migrations } = await import('../../migrations/index.js');
    const [, m] = migrations.find(([n]) => n === '20261208_130_issued_credentials_kid')!;
    const db = a.yihao.stores.db;
    expect(await db.schema.hasColumn('issued_credentials', 'kid')).toBe(true);
    await m.down!(db);
    expect(await db.schema.hasColumn('issued_credentials', 'kid')).toBe(false);
    await m.up(db);
    expect(await db.schema.hasColumn('issued_credentials', 'kid')).toBe(true);
  });
});
