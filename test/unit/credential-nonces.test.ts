/**
 * OID4VCI c_nonces (src/credentials/nonces.ts): minted without storage, accepted only if ours and
 * unexpired. (That each is good once, on every instance, is tested over HTTP with the real replay
 * store in test/integration/credentials-issuance.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { createPurposeKeys } from '../../src/identity/index.js';
import { credentialNonces } from '../../src/credentials/nonces.js';
import type { AdapterConstructor } from '../../src/storage/oidc-adapter.js';

const keys = (indexKey: string) => createPurposeKeys({ indexKey: Buffer.from(indexKey.padEnd(32, '!')).toString('base64') }).keyed('credential_nonce', 2);
// check() never touches the store; consume() is the integration test's.
const noStore = class {} as unknown as AdapterConstructor;
const nonces = credentialNonces({ keyed: keys('one'), Adapter: noStore, lifetimeSeconds: 300 });

describe('credential nonces', () => {
  it('accepts its own nonce until it expires, and not after', () => {
    const t0 = Date.UTC(2026, 11, 5, 8, 0, 0);
    const { nonce, expiresAt } = nonces.mint(t0);
    expect(expiresAt.getTime()).toBe(t0 + 300_000);
    expect(nonces.check(nonce, t0 + 299_000)).toEqual({ ok: true, expiresAt });
    expect(nonces.check(nonce, t0 + 300_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it("refuses another server's nonce, an edited expiry, and anything not shaped like a nonce", () => {
    const { nonce } = credentialNonces({ keyed: keys('two'), Adapter: noStore, lifetimeSeconds: 300 }).mint();
    expect(nonces.check(nonce)).toEqual({ ok: false, reason: 'malformed' });
    const own = nonces.mint().nonce;
    const [exp, rest] = [own.slice(0, 10), own.slice(10)];
    expect(nonces.check(`${String(Number(exp) + 3600)}${rest}`)).toEqual({ ok: false, reason: 'malformed' });
    for (const bad of [undefined, 42, '', 'a.b.c', `${own}x`]) expect(nonces.check(bad)).toEqual({ ok: false, reason: 'malformed' });
  });
});
