import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a token is bound to; a token made for one purpose never fits another, even for the same id. */
export type CsrfPurpose = 'interaction' | 'portal' | 'console' | 'registration' | 'password-reset';

/**
 * The one CSRF helper. A token is an HMAC, under a server key, of its purpose and of the id that
 * the form belongs to (an interaction uid, a portal or console session, a registration or
 * password-reset flow). A page that did not receive our form cannot know it, a token from one
 * interaction does not fit another, and nothing needs storing. Forms carry it in a `csrf` field.
 */
export function csrfTokens(key: string, purpose: CsrfPurpose) {
  const make = (binding: string) => createHmac('sha256', key).update(`csrf:${purpose}:${binding}`).digest('base64url');
  return {
    make,
    check(binding: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const expected = Buffer.from(make(binding));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
export type CsrfTokens = ReturnType<typeof csrfTokens>;
