import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { IssuerKeys } from './issuer-keys.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as const;

/** A public JWK without its private members. */
export const publicJwkOf = (jwk: JWK): JWK => Object.fromEntries(Object.entries(jwk).filter(([k]) => !(PRIVATE_MEMBERS as readonly string[]).includes(k))) as JWK;

/**
 * Signs with the key whose turn it is and publishes every key still visible: a rotation's new key
 * (published before it signs, for `keys.publishSeconds`) and retired ones (they verify what was
 * signed before). Keys are read again after `refreshSeconds`, so running servers publish a key from
 * `yihao credential rotate-key` within that window, as they do the token signing keys; and at the
 * moment a signing key's time ends, so the next one signs from then and the old one no longer.
 */
export function issuerSigner(keys: IssuerKeys, refreshSeconds: number) {
  let loaded: { at: number; keys: JWK[]; changesAt: number; signing: JWK } | undefined;
  async function current(): Promise<NonNullable<typeof loaded>> {
    const now = Date.now();
    if (!loaded || now - loaded.at > refreshSeconds * 1000 || now >= loaded.changesAt) {
      let read = await keys.load();
      // Every key retired (the one due to sign next was deleted): a retired key signs nothing, so a
      // new one is made, as at first start.
      if (read.signingKid === undefined) {
        await keys.ensure();
        read = await keys.load();
      }
      const signing = read.keys.find((k) => k.kid === read.signingKid);
      if (!signing) throw new Error('no credential issuer key: run the server once, or yihao credential rotate-key');
      loaded = { at: Date.now(), keys: read.keys, changesAt: read.changesAt ?? Infinity, signing };
    }
    return loaded;
  }
  return {
    /** The key that signs now (private). */
    async active(): Promise<JWK & { kid: string; alg: string }> {
      return (await current()).signing as JWK & { kid: string; alg: string };
    },
    async publicJwks(): Promise<{ keys: JWK[] }> {
      return { keys: (await current()).keys.map(publicJwkOf) };
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
