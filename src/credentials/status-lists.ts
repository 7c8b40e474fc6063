import { createHeaderAndPayload, StatusList } from '@sd-jwt/jwt-status-list';
import type { CredentialStore } from './credential-store.js';
import type { IssuerSigner } from './issuer-signer.js';

/** Bit values of a 1-bit list (Token Status List: 0 valid, 1 invalid). */
export const STATUS_VALID = 0;
export const STATUS_INVALID = 1;

/**
 * How long a verifier may keep using a list it fetched (`exp`), beyond the `ttl` after which it
 * should fetch it again: long enough for a counter that is offline for a working day.
 */
const LIST_VALIDITY_SECONDS = 86_400;

export const statusListPath = (id: string) => `/credentials/status/${id}`;

/** Serves each status list as a signed `statuslist+jwt`, built from the revoked entries on every fetch. */
export function statusLists(deps: { store: CredentialStore; signer: IssuerSigner; issuer: string; ttlSeconds: number }) {
  return {
    uri: (id: string) => `${deps.issuer}${statusListPath(id)}`,

    /** The signed list, or undefined for an unknown id. */
    async render(id: string, now = Date.now()): Promise<string | undefined> {
      const [info, revoked] = await Promise.all([deps.store.statusList(id), deps.store.revokedIndices(id)]);
      if (!info) return undefined;
      const bits = new Array<number>(info.size).fill(STATUS_VALID);
      for (const i of revoked) bits[i] = STATUS_INVALID;
      const iat = Math.floor(now / 1000);
      const { header, payload } = createHeaderAndPayload(
        new StatusList(bits, info.bits),
        { iss: deps.issuer, sub: this.uri(id), iat, exp: iat + LIST_VALIDITY_SECONDS, ttl: deps.ttlSeconds },
        { alg: 'ES256', typ: 'statuslist+jwt' },
      );
      return deps.signer.signJwt(header, payload);
    },
  };
}
export type StatusLists = ReturnType<typeof statusLists>;
