/**
 * The credential issuer's and the OID4VP verifier's keys rotate as the token signing keys do
 * (src/keys/signing-keys.ts): published first, signing only from `keys.publishSeconds` later. Two
 * instances share one store; A reads its keys every 0.2 s, B read them once at start and not again
 * (as an instance between two polls). Right after a rotation, what A signs (a status list, a
 * presentation request) must verify against the keys B publishes, where a wallet or a verifier may
 * fetch them. A publishing window "ends" by moving the old key's `retired_at` to the past, as time
 * passing would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import type { Config } from '../../src/config/index.js';
import type { Backend, Harness } from '../support/harness.js';
import { pgAvailable, redisAvailable } from '../support/services.js';
import { credentialKeyPair, issuerJwks, verifierJwks, verifiesWith, type CredentialKeyPair } from '../support/credential-key-pair.js';

const backends: Backend[] = pgAvailable && redisAvailable ? ['sqlite', 'postgres+redis'] : ['sqlite'];

const staged =
  (refreshSeconds: number) =>
  (c: Config): Config => ({ ...c, keys: { ...c.keys, refreshSeconds, publishSeconds: 7200 } });

describe.each(backends)('credential keys: a rotation is published before it signs (%s)', (backend) => {
  let pair: CredentialKeyPair;
  let a: Harness;
  let b: Harness;

  beforeAll(async () => {
    pair = await credentialKeyPair(backend, staged(0.2), staged(3600));
    ({ a, b } = pair);
  }, 120_000);
  afterAll(async () => pair?.close(), 30_000);

  const statusListAtA = () => pair.statusListAtA();
  const requestObjectAtA = () => pair.requestObjectAtA();
  /** Until A has read the rotation (0.2 s), then a while more. */
  const aPolled = () => new Promise((r) => setTimeout(r, 700));

  for (const [name, table, jwksOf, signedAtA, keysOf, signerOf] of [
    ['issuer', 'credential_issuer_keys', issuerJwks, statusListAtA, (h: Harness) => h.yihao.credentials.keys, (h: Harness) => h.yihao.credentials.signer],
    ['verifier', 'verifier_keys', verifierJwks, requestObjectAtA, (h: Harness) => h.yihao.credentials.verifier.keys, (h: Harness) => h.yihao.credentials.verifier.signer],
  ] as const) {
    it(`the ${name} key: what A signs after a rotation verifies against B's keys, before and after the window ends`, async () => {
      // B reads its keys now, and not again until the window ends.
      const before = await jwksOf(b);
      expect(await verifiesWith(await signedAtA(), before)).toBe('verified');
      const [fresh] = await keysOf(a).rotate();
      await aPolled();
      // A publishes the new key already, and still signs with the old one, which B publishes.
      const during = await signedAtA();
      expect(await verifiesWith(during, await jwksOf(b))).toBe('verified');
      expect(decodeProtectedHeader(during).kid).not.toBe(fresh!.kid);
      expect((await jwksOf(a)).keys.map((k) => k.kid)).toContain(fresh!.kid);
      expect(fresh).toMatchObject({ status: 'next', signsFrom: expect.any(String) });

      // The window ends: the old key's end is past; B has read the keys meanwhile (it would have, within 2 × refreshSeconds).
      await a.yihao.stores.db(table).whereNot({ kid: fresh!.kid }).whereNotNull('retired_at').andWhere('retired_at', '>', Date.now()).update({ retired_at: Date.now() - 1 });
      signerOf(b).reload();
      await aPolled();
      const after = await signedAtA();
      expect(decodeProtectedHeader(after).kid).toBe(fresh!.kid);
      expect(await verifiesWith(after, await jwksOf(b))).toBe('verified');
      // What A signed before the rotation still verifies at B: the old key stays published.
      expect((await jwksOf(b)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining(before.keys.map((k) => k.kid!)));
      expect((await keysOf(a).list()).find((k) => k.kid === fresh!.kid)?.status).toBe('active');
    });
  }
});
