/**
 * A software WebAuthn authenticator for tests over HTTP: ES256 keys, `none` attestation, and every
 * field it signs open to a lie (flags, origin, RP ID, counter, user handle, challenge), so that an
 * attacker's test can tell each one on purpose.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export const b64u = (b: Uint8Array | Buffer | string) => Buffer.from(b).toString('base64url');
export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

// ---- a minimal CBOR encoder (what an authenticator sends) ----
function cborHead(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}
export type Cbor = number | string | Uint8Array | Map<Cbor, Cbor>;
export function cbor(v: Cbor): Buffer {
  if (typeof v === 'number') return v >= 0 ? cborHead(0, v) : cborHead(1, -1 - v);
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    return Buffer.concat([cborHead(3, s.length), s]);
  }
  if (v instanceof Uint8Array) return Buffer.concat([cborHead(2, v.length), Buffer.from(v)]);
  const parts: Buffer[] = [cborHead(5, v.size)];
  for (const [k, val] of v) parts.push(cbor(k), cbor(val));
  return Buffer.concat(parts);
}

// ---- a software authenticator that can lie ----
export interface SoftKey {
  id: Buffer;
  privateKey: KeyObject;
  coseKey: Buffer;
  userHandle: string;
  counter: number;
}
export interface Lies {
  uv?: boolean;
  up?: boolean;
  be?: boolean;
  origin?: string;
  rpId?: string;
  type?: string;
  counter?: number;
  userHandle?: string | null;
  challenge?: string;
  transports?: string[];
  /** Sign with this key instead of the credential's own. */
  signWith?: KeyObject;
  /** Name this credential id in the response instead. */
  claimId?: Buffer;
  /** A self-attestation ('packed') whose signature is garbage. */
  bogusPacked?: boolean;
}

function flagsByte(l: Lies, attested: boolean): number {
  return (l.up === false ? 0 : 0x01) | (l.uv === false ? 0 : 0x04) | (l.be ? 0x08 : 0) | (attested ? 0x40 : 0);
}
export function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

export class SoftAuthenticator {
  keys: SoftKey[] = [];
  constructor(private readonly origin: string, private readonly rpId: string) {}

  /** A registration response to `options` (PublicKeyCredentialCreationOptionsJSON). */
  create(options: { challenge: string; user: { id: string } }, l: Lies = {}): { json: string; key: SoftKey } {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const id = randomBytes(32);
    const key: SoftKey = { id, privateKey, coseKey, userHandle: options.user.id, counter: l.counter ?? 0 };
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length, 0);
    const authData = Buffer.concat([sha256(l.rpId ?? this.rpId), Buffer.from([flagsByte(l, true)]), counterBytes(key.counter), Buffer.alloc(16), idLen, id, coseKey]);
    const clientDataJSON = JSON.stringify({ type: l.type ?? 'webauthn.create', challenge: l.challenge ?? options.challenge, origin: l.origin ?? this.origin, crossOrigin: false });
    const attStmt = l.bogusPacked ? new Map<Cbor, Cbor>([['alg', -7], ['sig', randomBytes(70)]]) : new Map<Cbor, Cbor>();
    const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', l.bogusPacked ? 'packed' : 'none'], ['attStmt', attStmt], ['authData', authData]]));
    const json = JSON.stringify({
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(attestationObject), transports: l.transports ?? ['internal'] },
    });
    return { json, key };
  }

  /** Keeps `key` (after the server accepted it). */
  hold(key: SoftKey) {
    this.keys.push(key);
  }

  /** An assertion to `options` (PublicKeyCredentialRequestOptionsJSON) made with `key`. */
  get(options: { challenge: string }, key: SoftKey, l: Lies = {}): string {
    const counter = l.counter ?? (key.counter === 0 ? 0 : ++key.counter);
    const authData = Buffer.concat([sha256(l.rpId ?? this.rpId), Buffer.from([flagsByte(l, false)]), counterBytes(counter)]);
    const clientDataJSON = JSON.stringify({ type: l.type ?? 'webauthn.get', challenge: l.challenge ?? options.challenge, origin: l.origin ?? this.origin, crossOrigin: false });
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), l.signWith ?? key.privateKey);
    const id = l.claimId ?? key.id;
    const userHandle = l.userHandle === null ? undefined : (l.userHandle ?? key.userHandle);
    return JSON.stringify({
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature), ...(userHandle ? { userHandle } : {}) },
    });
  }
}
