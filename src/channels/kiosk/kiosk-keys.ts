import { compactVerify, type JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Client } from 'oidc-provider';

/** The public part of oidc-provider's client key store (jwks or jwks_uri), which private_key_jwt uses too. */
interface ClientKeyStore {
  refresh(): Promise<void>;
  selectForVerify(opts: { alg?: string; kid?: string }): JWK[];
  getKeyObject(jwk: JWK, asymmetric: boolean): Promise<KeyObject> | KeyObject;
}

export class ClientKeysUnavailable extends Error {
  constructor() {
    super('the client keys cannot be loaded');
    this.name = 'ClientKeysUnavailable';
  }
}

/**
 * The algorithms a kiosk may sign with: the asymmetric ones the provider accepts for private_key_jwt
 * (clientAuthSigningAlgValues in src/oidc/provider.ts). A header is the caller's input, so anything
 * else (`none`, a client secret's HS*, a JWE alg, a name nobody knows, a non-string) is a refusal
 * here, before it reaches the key store, which throws on an alg it cannot map to a key type.
 */
const KIOSK_SIGNING_ALGS: readonly string[] = ['ES256', 'RS256', 'PS256', 'EdDSA'];

export const isKioskSigningAlg = (alg: unknown): alg is string => typeof alg === 'string' && KIOSK_SIGNING_ALGS.includes(alg);

/**
 * The payload of a JWT signed with one of a client's registered keys (its `jwks` or `jwks_uri`, as
 * oidc-provider loads them for private_key_jwt), or undefined if none of them verifies it or its
 * header is not one a kiosk signs with. Throws only ClientKeysUnavailable.
 */
export async function verifiedByClientKey(jwt: string, client: Client, header: { alg?: unknown; kid?: unknown }): Promise<Uint8Array | undefined> {
  const { alg, kid } = header;
  if (!isKioskSigningAlg(alg) || (kid !== undefined && typeof kid !== 'string')) return undefined;
  const store = (client as unknown as { asymmetricKeyStore: ClientKeyStore }).asymmetricKeyStore;
  try {
    await store.refresh();
  } catch {
    throw new ClientKeysUnavailable();
  }
  let candidates: JWK[];
  // The allowlist keeps the store from throwing today; should the two drift apart, a refusal still beats a 500.
  try {
    candidates = store.selectForVerify({ alg, ...(kid ? { kid } : {}) });
  } catch {
    return undefined;
  }
  for (const jwk of candidates) {
    try {
      return (await compactVerify(jwt, await store.getKeyObject(jwk, true), { algorithms: [alg] })).payload;
    } catch {
      // Try the next key that fits.
    }
  }
  return undefined;
}
