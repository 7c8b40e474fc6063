import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { ClientInput } from '../../src/clients/index.js';
import type { Harness } from './harness.js';

export const ID_CARD_GRANT = 'urn:yihao:grant-type:id-card';
export const LOA3 = 'urn:yihao:loa:3';

export interface CardRead {
  citizenId: string;
  face?: 'pass' | 'fail';
  /** Epoch seconds; default now. */
  iat?: number;
  jti?: string;
  /** Sign with another key (a forged assertion). */
  key?: CryptoKey;
  typ?: string;
  iss?: string;
  kid?: string;
}

export interface SimulatedKiosk {
  client: { client_id: string };
  rp: oidc.Configuration;
  privateKey: CryptoKey;
  /** A card assertion as the kiosk software makes it after reading the chip and matching the face. */
  assertion(read: CardRead): Promise<string>;
  /** Posts a card assertion through the ID-card grant (openid-client, private_key_jwt). */
  cardLogin(read: CardRead | string, scope?: string): ReturnType<typeof oidc.genericGrantRequest>;
}

/** A kiosk registered as an operator would (`yihao client create --kind kiosk --jwks-file F`): its own ES256 key, the device flow and the ID-card grant. */
export async function simulatedKiosk(h: Harness, extra: Partial<ClientInput> = {}): Promise<SimulatedKiosk> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomBytes(6).toString('hex');
  const client = await h.client({
    kind: 'kiosk',
    name: '政务自助终端',
    redirectUris: [],
    scope: 'openid profile',
    allowedChannels: ['kiosk'],
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
    ...extra,
  });
  return kioskOf(h, client, { privateKey, kid });
}

/** The kiosk software for a kiosk already registered (by the CLI or the registry), holding its private key. */
export async function kioskOf(h: Harness, client: { client_id: string }, { privateKey, kid }: { privateKey: CryptoKey; kid: string }): Promise<SimulatedKiosk> {
  const rp = await oidc.discovery(new URL(h.issuer), client.client_id, undefined, oidc.PrivateKeyJwt({ key: privateKey, kid }), {
    execute: [oidc.allowInsecureRequests],
  });
  const assertion = async (read: CardRead) =>
    new SignJWT({ citizen_id: read.citizenId, face_match: { result: read.face ?? 'pass', score: read.face === 'fail' ? 0.21 : 0.97 } })
      .setProtectedHeader({ alg: 'ES256', typ: read.typ ?? 'card-assertion+jwt', kid: read.kid ?? kid })
      .setIssuer(read.iss ?? client.client_id)
      .setAudience(h.issuer)
      .setIssuedAt(read.iat ?? Math.floor(Date.now() / 1000))
      .setJti(read.jti ?? randomBytes(16).toString('base64url'))
      .sign(read.key ?? privateKey);
  return {
    client,
    rp,
    privateKey,
    assertion,
    async cardLogin(read, scope = 'openid profile') {
      const jwt = typeof read === 'string' ? read : await assertion(read);
      return oidc.genericGrantRequest(rp, ID_CARD_GRANT, { assertion: jwt, scope });
    },
  };
}
