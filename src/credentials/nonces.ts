import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Keyed } from '../identity/index.js';
import { ReplayDetectedError, type AdapterConstructor } from '../storage/oidc-adapter.js';

const NONCE_SHAPE = /^([0-9]{10})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export type NonceRefusal = 'malformed' | 'expired' | 'used';

/**
 * OID4VCI `c_nonce`s. Minting one stores nothing (the nonce endpoint is open to anyone, so it must
 * not be a way to fill a store): a nonce is its expiry, random bytes and a keyed hash of both. A
 * nonce is good once: its first use is recorded in the shared replay store (Redis `SET NX` or an
 * SQL insert), for as long as it could still be accepted, so it fails on every instance after that.
 */
export function credentialNonces(deps: { keyed: Keyed; Adapter: AdapterConstructor; lifetimeSeconds: number }) {
  const mac = (body: string) => deps.keyed('c_nonce', body);
  const used = new deps.Adapter('ReplayDetection');
  return {
    lifetimeSeconds: deps.lifetimeSeconds,

    mint(now = Date.now()): { nonce: string; expiresAt: Date } {
      const exp = Math.floor(now / 1000) + deps.lifetimeSeconds;
      const body = `${exp}.${randomBytes(16).toString('base64url')}`;
      return { nonce: `${body}.${mac(body)}`, expiresAt: new Date(exp * 1000) };
    },

    /** Whether a nonce is one of ours and unexpired (before the proof carrying it is verified). */
    check(nonce: unknown, now = Date.now()): { ok: true; expiresAt: Date } | { ok: false; reason: NonceRefusal } {
      const m = typeof nonce === 'string' ? NONCE_SHAPE.exec(nonce) : null;
      if (!m) return { ok: false, reason: 'malformed' };
      const expected = Buffer.from(mac(`${m[1]}.${m[2]}`));
      if (!timingSafeEqual(expected, Buffer.from(m[3]!))) return { ok: false, reason: 'malformed' };
      const exp = Number(m[1]);
      if (exp * 1000 <= now) return { ok: false, reason: 'expired' };
      return { ok: true, expiresAt: new Date(exp * 1000) };
    },

    /** Uses the nonce up; false if it was used before. */
    async consume(nonce: string): Promise<boolean> {
      const key = createHash('sha256').update(`c_nonce:${nonce}`).digest('base64url');
      try {
        // Kept a little past the nonce's own expiry, after which check() refuses it anyway.
        await used.upsert(key, { iat: Math.floor(Date.now() / 1000) }, deps.lifetimeSeconds + 60);
        return true;
      } catch (e) {
        if (e instanceof ReplayDetectedError) return false;
        throw e;
      }
    },
  };
}
export type CredentialNonces = ReturnType<typeof credentialNonces>;
