import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A CSRF token bound to one interaction: an HMAC of its uid under a server key. A page that did not
 * receive our form cannot know it, and a token from one interaction does not fit another.
 */
export function csrfTokens(key: string) {
  const make = (uid: string) => createHmac('sha256', key).update(`csrf:interaction:${uid}`).digest('base64url');
  return {
    make,
    check(uid: string, token: unknown): boolean {
      if (typeof token !== 'string') return false;
      const expected = Buffer.from(make(uid));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
export type CsrfTokens = ReturnType<typeof csrfTokens>;
