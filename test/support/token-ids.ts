import { createPurposeKeys } from '../../src/identity/index.js';
import type { Harness } from './harness.js';

/** The key a token is stored under (src/oidc/hashed-token-ids.ts), for tests that read or change its record through the raw store. */
export function storedTokenId(h: Pick<Harness, 'config'>, value: string): string {
  return createPurposeKeys(h.config.secrets).keyed('token_id', h.config.keys.purposes.tokenId.version)('token_id', value);
}
