/**
 * The presentation check (src/credentials/presentation-check.ts) against credentials and status
 * lists made here by another implementation (@sd-jwt/sd-jwt-vc, @sd-jwt/jwt-status-list, jose),
 * for the refusals the CLI suite (credentials-offline-verify.test.ts) does not reach: a list not
 * signed by the issuer or made for another entry, an old key-binding JWT, a key the issuer does not
 * publish, another issuer, claims outside the type's schema. A retired key still verifies.
 * Disclosures must each be named once by a digest the issuer signed (RFC 9901 §7.1).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { digest, ES256, generateSalt } from '@sd-jwt/crypto-nodejs';
import { createHeaderAndPayload, StatusList } from '@sd-jwt/jwt-status-list';
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
import { createHash } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { checkPresentation, PresentationRefused, type IssuerTrust } from '../../src/credentials/presentation-check.js';
import { walletKey, type WalletKey } from '../support/wallet.js';

const ISSUER = 'https://id.example.gov.cn';
const LIST = `${ISSUER}/credentials/status/AAAAAAAAAAAAAAAA`;
const VCT = 'urn:yihao:vct:identity:1';
const AUD = 'https://kiosk.example.gov.cn';
const now = () => Math.floor(Date.now() / 1000);

type Key = WalletKey & { kid: string };
const issuerKey = async (kid: string): Promise<Key> => ({ ...(await walletKey()), kid });

async function signList(key: Key, opts: { revoked?: number[]; sub?: string; exp?: number } = {}): Promise<string> {
  const bits = new Array<number>(16).fill(0);
  for (const i of opts.revoked ?? []) bits[i] = 1;
  const { header, payload } = createHeaderAndPayload(new StatusList(bits, 1), { iss: ISSUER, sub: opts.sub ?? LIST, iat: now(), exp: opts.exp ?? now() + 86_400, ttl: 300 }, { alg: 'ES256', typ: 'statuslist+jwt' });
  return new SignJWT(payload).setProtectedHeader({ ...header, kid: key.kid }).sign(await importJWK(key.privateJwk, 'ES256'));
}

async function issue(key: Key, holder: WalletKey, claims: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const sdjwt = new SDJwtVcInstance({ signer: await ES256.getSigner(key.privateJwk), signAlg: 'ES256', hasher: digest, hashAlg: 'sha-256', saltGenerator: generateSalt });
  return sdjwt.issue(
    { iss: ISSUER, vct: VCT, iat: now(), exp: now() + 3600, cnf: { jwk: holder.publicJwk }, status: { status_list: { idx: 3, uri: LIST } }, ...claims, ...extra },
    { _sd: Object.keys(claims) } as never,
    { header: { kid: key.kid } },
  );
}

describe('checkPresentation', () => {
  let active: Key;
  let retired: Key;
  let holder: WalletKey;
  let trust: IssuerTrust;
  let list: string;
  const claims = { name: '赵六', citizen_id_masked: '110105********002X', acr: 'urn:yihao:loa:2' };
  const publicOf = (k: Key): JWK => ({ ...k.publicJwk, kid: k.kid, alg: 'ES256' });

  beforeAll(async () => {
    [active, retired, holder] = await Promise.all([issuerKey('vc-new'), issuerKey('vc-old'), walletKey()]);
    trust = { issuer: ISSUER, jwks: { keys: [publicOf(active), publicOf(retired)] } };
    list = await signList(active);
  });

  const lists = (jwt: string | undefined) => async (uri: string) => (uri === LIST ? jwt : undefined);
  const present = async (credential: string, kb: { nonce?: string; aud?: string; iat?: number } = {}) => {
    const sdjwt = new SDJwtVcInstance({ hasher: digest, kbSigner: await ES256.getSigner(holder.privateJwk), kbSignAlg: 'ES256' });
    return sdjwt.present(credential, { name: true, acr: true }, { kb: { payload: { iat: kb.iat ?? now(), aud: kb.aud ?? AUD, nonce: kb.nonce ?? 'n' } } });
  };
  const reason = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'accepted';
    } catch (e) {
      if (e instanceof PresentationRefused) return e.reason;
      throw e;
    }
  };

  it('accepts a presentation, by the active or a retired key, and returns only what was disclosed', async () => {
    for (const key of [active, retired]) {
      const result = await checkPresentation(await present(await issue(key, holder, claims)), { nonce: 'n', audience: AUD, claims: ['name'] }, trust, lists(list));
      expect(result.claims).toEqual({ name: '赵六', acr: 'urn:yihao:loa:2' });
      expect(result.statusList).toBe(LIST);
    }
  });

  it('refuses a status list not signed by the issuer, made for another list, out of date, or missing', async () => {
    const presentation = await present(await issue(active, holder, claims));
    const check = (jwt: string | undefined) => reason(checkPresentation(presentation, { nonce: 'n', audience: AUD }, trust, lists(jwt)));
    const stranger = await issuerKey('vc-new');
    expect(await check(await signList(stranger, { revoked: [] }))).toBe('status_list_invalid');
    expect(await check(await signList(active, { sub: `${ISSUER}/credentials/status/BBBBBBBBBBBBBBBB` }))).toBe('status_list_invalid');
    expect(await check(await signList(active, { exp: now() - 3600 }))).toBe('status_list_invalid');
    expect(await check(undefined)).toBe('status_unknown');
    expect(await check(await signList(active, { revoked: [3] }))).toBe('revoked');
    expect(await check(await signList(active, { revoked: [2, 4] }))).toBe('accepted');
  });

  it('refuses an old key-binding JWT, a key the issuer does not publish, another issuer, and claims outside the schema', async () => {
    const check = async (presentation: string) => reason(checkPresentation(presentation, { nonce: 'n', audience: AUD }, trust, lists(list)));
    expect(await check(await present(await issue(active, holder, claims), { iat: now() - 3600 }))).toBe('stale_key_binding');
    expect(await check(await present(await issue(await issuerKey('vc-unknown'), holder, claims)))).toBe('unknown_key');
    expect(await check(await present(await issue(active, holder, claims, { iss: 'https://other.example' })))).toBe('wrong_issuer');
    expect(await check(await present(await issue(active, holder, claims, { vct: 'urn:other:vct' })))).toBe('unknown_type');
    expect(await check(await present(await issue(active, holder, { ...claims, name: 42 })))).toBe('schema');
    expect(await check(await present(await issue(active, holder, claims, { nbf: now() + 3600 })))).toBe('not_yet_valid');
    expect(await check((await present(await issue(active, holder, claims))).replace(/~[^~]+$/, '~'))).toBe('malformed');
  });
  describe('disclosures against the digests the issuer signed (RFC 9901 §7.1)', () => {
    const framed = async (extra: Record<string, unknown>, frame: Record<string, unknown>) => {
      const sdjwt = new SDJwtVcInstance({ signer: await ES256.getSigner(active.privateJwk), signAlg: 'ES256', hasher: digest, hashAlg: 'sha-256', saltGenerator: generateSalt });
      return sdjwt.issue({ iss: ISSUER, vct: VCT, iat: now(), exp: now() + 3600, cnf: { jwk: holder.publicJwk }, status: { status_list: { idx: 3, uri: LIST } }, ...extra } as never, frame as never, { header: { kid: active.kid } });
    };
    const disclosing = async (credential: string, frame: Record<string, unknown>) => {
      const sdjwt = new SDJwtVcInstance({ hasher: digest, kbSigner: await ES256.getSigner(holder.privateJwk), kbSignAlg: 'ES256' });
      return sdjwt.present(credential, frame as never, { kb: { payload: { iat: now(), aud: AUD, nonce: 'n' } } });
    };
    /** `presented` (ending in '~') with a key-binding JWT over exactly it. */
    const bound = async (presented: string) => {
      const sd_hash = createHash('sha256').update(presented, 'ascii').digest('base64url');
      return presented + (await new SignJWT({ iat: now(), aud: AUD, nonce: 'n', sd_hash }).setProtectedHeader({ alg: 'ES256', typ: 'kb+jwt' }).sign(await importJWK(holder.privateJwk, 'ES256')));
    };
    const verdict = async (presentation: string) => {
      try {
        await checkPresentation(presentation, { nonce: 'n', audience: AUD }, trust, lists(list));
        return 'accepted';
      } catch (e) {
        return e instanceof PresentationRefused ? e.reason : `crash: ${String(e)}`;
      }
    };

    it('accepts decoys, nothing disclosed, and disclosures nested in objects and arrays', async () => {
      const withDecoys = await framed(claims, { _sd: Object.keys(claims), _sd_decoy: 3 });
      expect(await verdict(await disclosing(withDecoys, { name: true, acr: true }))).toBe('accepted');
      expect(await verdict(await disclosing(withDecoys, {}))).toBe('accepted');
      const nested = await framed({ ...claims, address: { locality: '杭州', street: '某路' }, nationalities: ['CN', 'HK'] }, { _sd: ['name', 'acr', 'address', 'nationalities'], address: { _sd: ['locality', 'street'] }, nationalities: { _sd: [0, 1] } });
      // Not the identity credential's schema, but never "tampered": every digest is found.
      expect(await verdict(await disclosing(nested, { name: true, acr: true, address: { locality: true }, nationalities: { 1: true } }))).toBe('schema');
    });

    it('refuses a repeated disclosure, another credential\'s, one that is not JSON, and one re-spelled with a character of the same low byte', async () => {
      const credential = await framed(claims, { _sd: Object.keys(claims) });
      const other = await framed({ ...claims, name: '李四' }, { _sd: Object.keys(claims) });
      const [jwt, d1, d2] = credential.split('~') as [string, string, string];
      const foreign = other.split('~')[1]!;
      const letter = [...d1].findIndex((c) => /[A-Za-z]/.test(c));
      const respelled = d1.slice(0, letter) + String.fromCharCode(0x100 + d1.charCodeAt(letter)) + d1.slice(letter + 1);
      for (const disclosures of [[d1, d2, d1], [d1, foreign], [d1, 'e30'], [d1, Buffer.from('["s"]').toString('base64url')]]) {
        expect(await verdict(await bound([jwt, ...disclosures, ''].join('~')))).toBe('tampered');
      }
      // Characters no SD-JWT holds: refused before any digest is taken.
      for (const disclosures of [[d1, '%%%'], [respelled, d2]]) expect(await verdict(await bound([jwt, ...disclosures, ''].join('~')))).toBe('malformed');
      // A trailing '~' with no key-binding JWT at all.
      expect(await verdict([jwt, d1, d2, ''].join('~'))).toBe('malformed');
    });
  });
});
