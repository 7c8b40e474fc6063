import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createBlindIndex, createCitizenIdVault, createSealer, parseCitizenId, SealError } from '../../src/identity/index.js';
import { syntheticCitizenId } from '../support/citizen-ids.js';

const newKey = (kid: string) => ({ kid, key: randomBytes(32).toString('base64') });
const indexKey = () => randomBytes(32).toString('base64');

/** Flips one bit in the n-th dot-separated part of a sealed value. */
function flip(sealed: string, part: number, byte = 0): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[byte] = bytes[byte]! ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

describe('createSealer', () => {
  it('round-trips text, including empty and non-ASCII text', () => {
    const sealer = createSealer([newKey('k1')]);
    for (const text of ['hello', '', '一号 🪪', 'x'.repeat(100_000)]) {
      expect(sealer.open(sealer.seal(text, 'citizen_id'), 'citizen_id')).toBe(text);
    }
  });

  it('writes v1.<kid>.<iv>.<ciphertext+tag> with a fresh 12-byte IV each time', () => {
    const sealer = createSealer([newKey('k1')]);
    const a = sealer.seal('same', 'citizen_id');
    const b = sealer.seal('same', 'citizen_id');
    expect(a).not.toBe(b);
    const [version, kid, iv, body] = a.split('.');
    expect([version, kid]).toEqual(['v1', 'k1']);
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(body!, 'base64url')).toHaveLength(4 + 16);
    expect(a).toMatch(/^v1\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('same');
  });

  it('seals with the first key and still opens values sealed with an older key after rotation', () => {
    const old = newKey('old');
    const before = createSealer([old]);
    const sealedOld = before.seal('secret', 'citizen_id');

    const after = createSealer([newKey('new'), old]);
    expect(after.currentKid).toBe('new');
    expect(after.open(sealedOld, 'citizen_id')).toBe('secret');
    expect(after.kidOf(sealedOld)).toBe('old');
    const sealedNew = after.seal('secret', 'citizen_id');
    expect(after.kidOf(sealedNew)).toBe('new');
    expect(() => before.open(sealedNew, 'citizen_id')).toThrow(/unknown key id "new"/);
  });

  it('refuses a value once its key is dropped from the key set', () => {
    const old = newKey('old');
    const sealed = createSealer([old]).seal('secret', 'citizen_id');
    expect(() => createSealer([newKey('new')]).open(sealed, 'citizen_id')).toThrow(SealError);
  });

  it('detects tampering with the IV, the ciphertext, the tag, or the kid', () => {
    const k1 = newKey('k1');
    const sealer = createSealer([k1, { kid: 'k2', key: k1.key }]);
    const sealed = sealer.seal('secret value', 'citizen_id');
    const tampered = [
      flip(sealed, 2),
      flip(sealed, 3, 0),
      flip(sealed, 3, 12 + 15), // last byte of the tag
      sealed.replace('.k1.', '.k2.'), // same key material under another kid: the kid is authenticated
      sealed.slice(0, -2),
    ];
    for (const t of tampered) {
      expect(() => sealer.open(t, 'citizen_id')).toThrow(SealError);
      try {
        sealer.open(t, 'citizen_id');
      } catch (e) {
        expect((e as Error).message).not.toContain('secret');
      }
    }
  });

  it('refuses to open a value for another purpose (AAD mismatch)', () => {
    const sealer = createSealer([newKey('k1')]);
    const sealed = sealer.seal('secret', 'citizen_id');
    expect(() => sealer.open(sealed, 'signing_key:abc')).toThrow(/failed authentication/);
    expect(() => sealer.open(sealed, 'citizen_id ')).toThrow(SealError);
  });

  it('refuses malformed values with a clear error', () => {
    const sealer = createSealer([newKey('k1')]);
    const good = sealer.seal('x', 'p');
    const [, , iv, body] = good.split('.');
    for (const bad of ['', 'v1', 'v2.k1.aa.bb', `v1.k1.${iv}`, `v1.k1.${iv}.${body}.extra`, `v1.k1.AAAA.${body}`, `v1.k1.${iv}.AAAA`, `v1.k1.${iv}.${body}!`, `v1..${iv}.${body}`]) {
      expect(() => sealer.open(bad, 'p')).toThrow(SealError);
    }
    expect(() => sealer.open(undefined as unknown as string, 'p')).toThrow(SealError);
  });

  it('requires a purpose', () => {
    const sealer = createSealer([newKey('k1')]);
    expect(() => sealer.seal('x', '')).toThrow(SealError);
    expect(() => sealer.open(sealer.seal('x', 'p'), '')).toThrow(SealError);
  });

  it('refuses bad key sets', () => {
    expect(() => createSealer([])).toThrow(SealError);
    expect(() => createSealer([{ kid: 'k1', key: randomBytes(16).toString('base64') }])).toThrow(/32 bytes/);
    expect(() => createSealer([{ kid: 'k.1', key: randomBytes(32).toString('base64') }])).toThrow(SealError);
    expect(() => createSealer([newKey('k1'), newKey('k1')])).toThrow(/used twice/);
  });

  it('keeps key material out of JSON and inspect', () => {
    const k = newKey('k1');
    const sealer = createSealer([k]);
    expect(JSON.stringify(sealer)).not.toContain(k.key);
    expect(inspect(sealer, { depth: 10, showHidden: true })).not.toContain(k.key);
  });
});

describe('createBlindIndex', () => {
  it('is deterministic for the same key, purpose and value', () => {
    const key = indexKey();
    const a = createBlindIndex(key);
    const b = createBlindIndex(key);
    expect(a('citizen_id', '440305199001010157')).toBe(b('citizen_id', '440305199001010157'));
  });

  it('separates purposes, values and keys', () => {
    const idx = createBlindIndex(indexKey());
    const v = '440305199001010157';
    const tags = new Set([idx('citizen_id', v), idx('pseudonym:client-a', v), idx('pseudonym:client-b', v), idx('citizen_id', '11010519491231002X')]);
    expect(tags.size).toBe(4);
    expect(createBlindIndex(indexKey())('citizen_id', v)).not.toBe(idx('citizen_id', v));
  });

  it('fits the 64-character index column and does not contain the value', () => {
    const tag = createBlindIndex(indexKey())('citizen_id', '440305199001010157');
    expect(tag).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a short key and an empty purpose', () => {
    expect(() => createBlindIndex(randomBytes(16).toString('base64'))).toThrow(SealError);
    expect(() => createBlindIndex(indexKey())('', 'x')).toThrow(SealError);
  });
});

describe('createCitizenIdVault', () => {
  const secrets = () => ({ sealKeys: [newKey('k1')], indexKey: indexKey() });

  it('seals, opens and indexes a citizen ID', () => {
    const vault = createCitizenIdVault(secrets());
    const id = parseCitizenId(syntheticCitizenId());
    const sealed = vault.seal(id);
    expect(sealed).not.toContain(id);
    expect(vault.open(sealed)).toBe(id);
    expect(vault.index(id)).toBe(vault.index(parseCitizenId(id.toLowerCase())));
    expect(vault.index(id)).toHaveLength(43);
  });

  it('refuses a value sealed for another purpose, even under the same keys', () => {
    const s = secrets();
    const vault = createCitizenIdVault(s);
    const sealer = createSealer(s.sealKeys);
    expect(() => vault.open(sealer.seal('440305199001010157', 'signing_key:abc'))).toThrow(SealError);
    expect(() => vault.open(sealer.seal('not a number', 'citizen_id'))).toThrow(/does not hold a citizen ID/);
  });

  it('opens after rotation and says which values need re-sealing', () => {
    const s = secrets();
    const id = parseCitizenId(syntheticCitizenId());
    const sealedOld = createCitizenIdVault(s).seal(id);
    const rotated = createCitizenIdVault({ ...s, sealKeys: [newKey('k2'), ...s.sealKeys] });
    expect(rotated.open(sealedOld)).toBe(id);
    expect(rotated.needsReseal(sealedOld)).toBe(true);
    expect(rotated.needsReseal(rotated.seal(id))).toBe(false);
  });

  it('gives the same index regardless of seal-key rotation', () => {
    const s = secrets();
    const id = parseCitizenId(syntheticCitizenId());
    const rotated = createCitizenIdVault({ ...s, sealKeys: [newKey('k2'), ...s.sealKeys] });
    expect(rotated.index(id)).toBe(createCitizenIdVault(s).index(id));
  });
});
