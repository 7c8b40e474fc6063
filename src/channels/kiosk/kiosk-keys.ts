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
 * The payload of a JWT signed with one of a client's registered keys (its `jwks` or `jwks_uri`, as
 * oidc-provider loads them for private_key_jwt), or undefined if none of them verifies it. Only
 * asymmetric algorithms: a client secret never signs a kiosk's statements.
 */
export async function verifiedByClientKey(jwt: string, client: Client, header: { alg?: string | undefined; kid?: string | undefined }): Promise<Uint8Array | undefined> {
  if (!header.alg || header.alg === 'none' || header.alg.startsWith('HS')) return undefined;
  const store = (client as unknown as { asymmetricKeyStore: ClientKeyStore }).asymmetricKeyStore;
  try {
    await store.refresh();
  } catch {
    throw new ClientKeysUnavailable();
  }
  for (const jwk of store.selectForVerify({ alg: header.alg, ...(header.kid ? { kid: header.kid } : {}) })) {
    try {
      return (await compactVerify(jwt, await store.getKeyObject(jwk, true), { algorithms: [header.alg] })).payload;
    } catch {
      // Try the next key that fits.
    }
  }
  return undefined;
}
