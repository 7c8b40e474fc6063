import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signs and checks cookie signatures (`name.sig`) for Koa's and oidc-provider's `cookies` module,
 * in the place of the `keygrip` instance it would otherwise build from the key list on every
 * request. The signatures are keygrip's own (HMAC-SHA1, base64url without padding, key 0 signs,
 * any key verifies), so cookies already in browsers stay valid across the change and across a key
 * rotation. What differs is the cost: keygrip compares with `tsscmp`, which hashes both sides once
 * more with a random key, three HMACs and a regular-expression replace per signed cookie read; a
 * sign-in reads and writes a dozen. Here a read is one HMAC and a constant-time compare.
 */
export class CookieSigner {
  readonly #keys: readonly string[];

  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('a cookie signer needs at least one key');
    this.#keys = [...keys];
  }

  #sign(data: string, key: string): string {
    return createHmac('sha1', key).update(data).digest('base64url');
  }

  sign(data: string): string {
    return this.#sign(data, this.#keys[0]!);
  }

  verify(data: string, signature: string): boolean {
    return this.index(data, signature) > -1;
  }

  /** The index of the key that made `signature`, or -1. Every key is tried, whatever matched: no early answer to time. */
  index(data: string, signature: string): number {
    const given = Buffer.from(typeof signature === 'string' ? signature : '');
    let found = -1;
    for (let i = 0; i < this.#keys.length; i++) {
      // The signature's length is public (27 characters): comparing it first gives nothing away.
      const expected = Buffer.from(this.#sign(data, this.#keys[i]!));
      if (given.length === expected.length && timingSafeEqual(given, expected) && found === -1) found = i;
    }
    return found;
  }
}
