import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import type { ClientInput } from '../../src/clients/index.js';
import type { Harness } from './harness.js';

export const CIBA = 'urn:openid:params:grant-type:ciba';

/**
 * Registers a counter system as an operator would (`yihao client create --kind ciba --jwks-file F`,
 * through the same registry): confidential, private_key_jwt, CIBA in poll mode unless a notification
 * endpoint makes it ping. `via` sends its requests to another instance of the same issuer.
 */
export async function registerCounterSystem(h: Harness, extra: Partial<ClientInput> = {}): Promise<{ clientId: string; rpVia(target: Harness): Promise<oidc.Configuration> }> {
  const keys = await generateKeyPair('ES256', { extractable: true });
  const { client_id: clientId } = await h.yihao.clients.create({
    kind: 'ciba',
    name: '政务服务中心 3 号窗口',
    jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'counter-1', use: 'sig', alg: 'ES256' }] },
    scope: 'openid profile',
    ...extra,
  });
  const auth = oidc.PrivateKeyJwt({ key: keys.privateKey, kid: 'counter-1' });
  return {
    clientId,
    async rpVia(target) {
      if (target === h) return oidc.discovery(new URL(h.issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests] });
      const toInstance: oidc.CustomFetch = (url, options) => fetch(url.replace(h.issuer, target.url), options as RequestInit);
      const rp = await oidc.discovery(new URL(h.issuer), clientId, undefined, auth, { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: toInstance });
      rp[oidc.customFetch] = toInstance;
      return rp;
    },
  };
}

/** A counter system registered as above, as a relying party of `h`. */
export async function registerCounter(h: Harness, extra: Partial<ClientInput> = {}): Promise<oidc.Configuration> {
  return (await registerCounterSystem(h, extra)).rpVia(h);
}
