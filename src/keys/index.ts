export { createSigningKeys, type SigningKeys, type SigningKeyInfo, SIGNING_ALGS } from './signing-keys.js';
