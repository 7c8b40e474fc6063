import { lazyImport } from '../lazy-import.js';

// The verifiable-credential libraries, loaded when a credential is first issued, presented or
// checked rather than at start-up (src/lazy-import.ts): together they were the larger part of the
// time every Yihao process spent loading libraries.
export const sdJwtVc = lazyImport(() => import('@sd-jwt/sd-jwt-vc'));
export const sdJwtCrypto = lazyImport(() => import('@sd-jwt/crypto-nodejs'));
export const statusListCodec = lazyImport(() => import('@sd-jwt/jwt-status-list'));
export const openid4vci = lazyImport(() => import('@openid4vc/openid4vci'));
export const openid4vp = lazyImport(() => import('@openid4vc/openid4vp'));
export const oauth2 = lazyImport(() => import('@openid4vc/oauth2'));
