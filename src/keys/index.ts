export { createSigningKeys, type SigningKeys, type SigningKeyInfo, type SigningKeySet, SIGNING_ALGS, TOKEN_SIGNING_KEYS } from './signing-keys.js';
