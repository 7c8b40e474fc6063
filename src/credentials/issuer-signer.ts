import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { IssuerKeys } from './issuer-keys.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

/** A public JWK without its private members. */
export const publicJwkOf = (jwk: JWK): JWK => Object.fromEntries(Object.entries(jwk).filter(([k]) => !(PRIVATE_MEMBERS as readonly string[]).includes(k))) as JWK;

/**
 * Signs with the newest active credential issuer key and publishes every key still visible
 * (retired ones verify what was signed before a rotation). Keys are read again after
 * `refreshSeconds`, so running servers pick up `yihao credential rotate-key` within that window,
 * as they do for the token signing keys.
 */
export function issuerSigner(keys: IssuerKeys, refreshSeconds: number) {
  let loaded: { at: number; keys: JWK[] } | undefined;
  async function current(): Promise<JWK[]> {
    if (!loaded || Date.now() - loaded.at > refreshSeconds * 1000) {
      const { keys: all } = await keys.load();
      if (all.length === 0) throw new Error('no credential issuer key: run the server once, or yihao credential rotate-key');
      loaded = { at: Date.now(), keys: all };
    }
    return loaded.keys;
  }
  return {
    /** The key that signs now (private). */
    async active(): Promise<JWK & { kid: string; alg: string }> {
      return (await current())[0] as JWK & { kid: string; alg: string };
    },
    async publicJwks(): Promise<{ keys: JWK[] }> {
      return { keys: (await current()).map(publicJwkOf) };
    },
    async signJwt(header: Record<string, unknown>, payload: JWTPayload): Promise<string> {
      const key = await this.active();
      return new SignJWT(payload).setProtectedHeader({ ...header, alg: key.alg, kid: key.kid }).sign(await importJWK(key, key.alg));
    },
    /** Forget the loaded keys (after a rotation in this process). */
    reload(): void {
      loaded = undefined;
    },
  };
}
export type IssuerSigner = ReturnType<typeof issuerSigner>;
