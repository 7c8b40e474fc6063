import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a token is bound to; a token made for one purpose never fits another, even for the same id. */
export type CsrfPurpose = 'interaction' | 'portal' | 'console' | 'registration' | 'password-reset';

/**
 * The one CSRF helper. A token is an HMAC, under a server key, of its purpose and of the id that
 * the form belongs to (an interaction uid, a portal or console session, a registration or
 * password-reset flow). A page that did not receive our form cannot know it, a token from one
 * interaction does not fit another, and nothing needs storing. Forms carry it in a `csrf` field.
 *
 * `keys` are the cookie keys, newest first: the newest makes tokens, and every one is accepted, so
 * that rotating the keys (YIHAO_COOKIE_KEYS) does not expire the forms citizens have open.
 */
export function csrfTokens(keys: readonly string[], purpose: CsrfPurpose) {
  if (keys.length === 0) throw new Error('CSRF tokens need at least one key');
  const tokenOf = (key: string, binding: string) => createHmac('sha256', key).update(`csrf:${purpose}:${binding}`).digest('base64url');
  return {
    make: (binding: string) => tokenOf(keys[0]!, binding),
    check(binding: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const given = Buffer.from(token);
      let fits = false;
      for (const key of keys) {
        const expected = Buffer.from(tokenOf(key, binding));
        if (given.length === expected.length && timingSafeEqual(given, expected)) fits = true;
      }
      return fits;
    },
  };
}
export type CsrfTokens = ReturnType<typeof csrfTokens>;
