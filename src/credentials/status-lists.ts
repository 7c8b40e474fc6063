import { createHash } from 'node:crypto';
import { statusListCodec } from './libraries.js';
import type { CredentialStore, StatusListInfo } from './credential-store.js';
import type { IssuerSigner } from './issuer-signer.js';

/** Bit values of a 1-bit list (Token Status List: 0 valid, 1 invalid). */
export const STATUS_VALID = 0;
export const STATUS_INVALID = 1;
/** Token Status List's "suspended", in 2-bit lists only. */
export const STATUS_SUSPENDED = 2;

/**
 * How long a verifier may keep using a list it fetched (`exp`), beyond the `ttl` after which it
 * should fetch it again: long enough for a counter that is offline for a working day.
 */
const LIST_VALIDITY_SECONDS = 86_400;

/** Lists whose signed form this instance keeps (a few are open at a time; closed ones are fetched less). */
const MEMO_LISTS = 256;

export const statusListPath = (id: string) => `/credentials/status/${id}`;

/**
 * Serves each status list as a signed `statuslist+jwt`. The revoked entries are read on every fetch,
 * so a revocation shows at once; building and compressing a list costs milliseconds of CPU, so the
 * signed list is reused while its revoked entries and the signing key are unchanged, and it is less
 * than half a `ttl` old.
 */
export function statusLists(deps: { store: CredentialStore; signer: IssuerSigner; issuer: string; ttlSeconds: number }) {
  const memo = new Map<string, { fingerprint: string; at: number; jwt: string }>();
  const uri = (id: string) => `${deps.issuer}${statusListPath(id)}`;

  async function build(info: StatusListInfo, invalid: readonly { index: number; status: 'revoked' | 'suspended' }[], now: number): Promise<string> {
    const bits = new Array<number>(info.size).fill(STATUS_VALID);
    for (const e of invalid) bits[e.index] = e.status === 'suspended' && info.bits === 2 ? STATUS_SUSPENDED : STATUS_INVALID;
    const iat = Math.floor(now / 1000);
    const { createHeaderAndPayload, StatusList } = await statusListCodec();
    const { header, payload } = createHeaderAndPayload(
      new StatusList(bits, info.bits),
      { iss: deps.issuer, sub: uri(info.id), iat, exp: iat + LIST_VALIDITY_SECONDS, ttl: deps.ttlSeconds },
      { alg: 'ES256', typ: 'statuslist+jwt' },
    );
    return deps.signer.signJwt(header, payload);
  }

  return {
    uri,

    /** The signed list, or undefined for an unknown id. */
    async render(id: string, now = Date.now()): Promise<string | undefined> {
      const [info, invalid, key] = await Promise.all([deps.store.statusList(id), deps.store.invalidEntries(id), deps.signer.active()]);
      if (!info) return undefined;
      const entries = invalid.sort((a, b) => a.index - b.index).map((e) => `${e.index}${e.status === 'suspended' ? 's' : ''}`);
      const fingerprint = createHash('sha256').update(`${key.kid}:${info.size}:${entries.join(',')}`).digest('base64url');
      const kept = memo.get(id);
      if (kept && kept.fingerprint === fingerprint && now - kept.at < (deps.ttlSeconds * 1000) / 2) return kept.jwt;
      const jwt = await build(info, invalid, now);
      memo.delete(id);
      if (memo.size >= MEMO_LISTS) memo.delete(memo.keys().next().value!);
      memo.set(id, { fingerprint, at: now, jwt });
      return jwt;
    },
  };
}
export type StatusLists = ReturnType<typeof statusLists>;
