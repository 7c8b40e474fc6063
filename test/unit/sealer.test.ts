import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createBlindIndex, createCitizenIdVault, createPurposeKeys, createSealer, parseCitizenId, SealError } from '../../src/identity/index.js';
import { legacySeal } from '../support/legacy-seal.js';
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

  it('writes v2.<kid>.<iv>.<ciphertext+tag> with a fresh 12-byte IV each time', () => {
    const sealer = createSealer([newKey('k1')]);
    const a = sealer.seal('same', 'citizen_id');
    const b = sealer.seal('same', 'citizen_id');
    expect(a).not.toBe(b);
    const [version, kid, iv, body] = a.split('.');
    expect([version, kid]).toEqual(['v2', 'k1']);
    expect(Buffer.from(iv!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(body!, 'base64url')).toHaveLength(4 + 16);
    expect(a).toMatch(/^v2\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
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
    for (const bad of ['', 'v2', 'v3.k1.aa.bb', `v3.k1.${iv}.${body}`, `v2.k1.${iv}`, `v2.k1.${iv}.${body}.extra`, `v2.k1.AAAA.${body}`, `v2.k1.${iv}.AAAA`, `v2.k1.${iv}.${body}!`, `v2..${iv}.${body}`]) {
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

describe('createSealer envelope versions', () => {
  it('opens v1 values (sealed before v2), says they need re-sealing, and authenticates the version', () => {
    const key = newKey('k1');
    const sealer = createSealer([key]);
    const legacy = legacySeal(key, '440305199001010157');
    expect(sealer.versionOf(legacy)).toBe('v1');
    expect(sealer.open(legacy, 'citizen_id')).toBe('440305199001010157');
    expect(sealer.needsReseal(legacy)).toBe(true);
    // Relabelling a value's version is tampering: the version is part of the authenticated data.
    expect(() => sealer.open(legacy.replace(/^v1\./, 'v2.'), 'citizen_id')).toThrow(SealError);
    const fresh = sealer.seal('x', 'p');
    expect(() => sealer.open(fresh.replace(/^v2\./, 'v1.'), 'p')).toThrow(SealError);
    expect(sealer.needsReseal(fresh)).toBe(false);
    expect(fresh.startsWith(sealer.currentPrefix)).toBe(true);
  });
});

describe('createPurposeKeys', () => {
  it('keeps version 1 of every purpose exactly what the index key gave before (pairwise subs do not move)', () => {
    const key = indexKey();
    const keys = createPurposeKeys({ indexKey: key });
    for (const purpose of ['pairwise', 'citizen_index', 'client_secret', 'sms', 'first_party_secret', 'citizen_pseudonym', 'recovery_code'] as const) {
      expect(keys.keyed(purpose, 1)('pairwise:https://rp.example', 'sub-1')).toBe(createBlindIndex(key)('pairwise:https://rp.example', 'sub-1'));
    }
  });

  it('gives each purpose its own key from version 2, and a new root retires the old one', () => {
    const key = indexKey();
    const keys = createPurposeKeys({ indexKey: key });
    const a = keys.keyed('citizen_index', 2)('citizen_id', 'v');
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(keys.keyed('citizen_index', 1)('citizen_id', 'v'));
    expect(a).not.toBe(keys.keyed('client_secret', 2)('citizen_id', 'v'));
    expect(a).not.toBe(keys.keyed('citizen_index', 3)('citizen_id', 'v'));
    expect(createPurposeKeys({ indexKey: key }).keyed('citizen_index', 2)('citizen_id', 'v')).toBe(a);
    const withRoot = createPurposeKeys({ indexKey: key, indexKeys: { '2': indexKey() } });
    expect(withRoot.keyed('citizen_index', 2)('citizen_id', 'v')).not.toBe(a);
    expect(withRoot.keyed('citizen_index', 1)('citizen_id', 'v')).toBe(keys.keyed('citizen_index', 1)('citizen_id', 'v'));
    expect(() => keys.keyed('sms', 0)).toThrow(SealError);
  });
});

describe('createCitizenIdVault', () => {
  const secrets = () => ({ sealKeys: [newKey('k1')], indexKey: indexKey() });

  it('seals, opens and indexes a citizen ID', () => {
    const vault = createCitizenIdVault(secrets());
    const id = parseCitizenId(syntheticCitizenId());
    const sealed = vault.seal(id, 'a_1');
    expect(sealed).not.toContain(id);
    expect(vault.open(sealed, { accountId: 'a_1', citizenIndex: vault.index(id) })).toBe(id);
    expect(vault.index(id)).toBe(vault.index(parseCitizenId(id.toLowerCase())));
    expect(vault.index(id)).toHaveLength(43);
  });

  it('opens a value only for the account it was sealed for, and only where the index names the same number', () => {
    const vault = createCitizenIdVault(secrets());
    const id = parseCitizenId(syntheticCitizenId());
    const other = parseCitizenId(syntheticCitizenId());
    const sealed = vault.seal(id, 'a_1');
    expect(() => vault.open(sealed, { accountId: 'a_2', citizenIndex: vault.index(id) })).toThrow(SealError);
    expect(() => vault.open(sealed, { accountId: 'a_1', citizenIndex: vault.index(other) })).toThrow(/does not belong/);
  });

  it('refuses a value sealed for another purpose, even under the same keys', () => {
    const s = secrets();
    const vault = createCitizenIdVault(s);
    const sealer = createSealer(s.sealKeys);
    const owner = { accountId: 'a_1', citizenIndex: vault.index(parseCitizenId('440305199001010157')) };
    expect(() => vault.open(sealer.seal('440305199001010157', 'signing_key:abc'), owner)).toThrow(SealError);
    expect(() => vault.open(sealer.seal('not a number', 'citizen_id:account:a_1'), owner)).toThrow(/does not hold a citizen ID/);
  });

  it('opens after rotation and says which values need re-sealing', () => {
    const s = secrets();
    const id = parseCitizenId(syntheticCitizenId());
    const sealedOld = createCitizenIdVault(s).seal(id, 'a_1');
    const rotated = createCitizenIdVault({ ...s, sealKeys: [newKey('k2'), ...s.sealKeys] });
    const owner = { accountId: 'a_1', citizenIndex: rotated.index(id) };
    expect(rotated.open(sealedOld, owner)).toBe(id);
    expect(rotated.needsReseal(sealedOld)).toBe(true);
    expect(rotated.needsReseal(rotated.seal(id, 'a_1'))).toBe(false);
    expect(rotated.needsReseal(legacySeal(s.sealKeys[0]!, id))).toBe(true);
  });

  it('gives the same index regardless of seal-key rotation', () => {
    const s = secrets();
    const id = parseCitizenId(syntheticCitizenId());
    const rotated = createCitizenIdVault({ ...s, sealKeys: [newKey('k2'), ...s.sealKeys] });
    expect(rotated.index(id)).toBe(createCitizenIdVault(s).index(id));
  });

  it('moves the index to a new version with both looked up meanwhile, and opens rows in either version', () => {
    const s = secrets();
    const id = parseCitizenId(syntheticCitizenId());
    const v1 = createCitizenIdVault(s);
    const during = createCitizenIdVault(s, { version: 2, reindexFrom: 1 });
    const after = createCitizenIdVault(s, { version: 2 });
    expect(during.index(id)).toMatch(/^2\$[A-Za-z0-9_-]{43}$/);
    expect(during.lookupIndexes(id)).toEqual([during.index(id), v1.index(id)]);
    expect(after.lookupIndexes(id)).toEqual([during.index(id)]);
    expect(during.needsReindex(v1.index(id))).toBe(true);
    expect(during.needsReindex(during.index(id))).toBe(false);
    const sealed = v1.seal(id, 'a_1');
    expect(after.open(sealed, { accountId: 'a_1', citizenIndex: v1.index(id) })).toBe(id);
    expect(after.open(sealed, { accountId: 'a_1', citizenIndex: after.index(id) })).toBe(id);
  });
});
