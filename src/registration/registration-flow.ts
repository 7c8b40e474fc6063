import type { Context } from 'koa';
import { csrfTokens } from '../http/csrf.js';
import type { PendingRegistrations } from './pending-registrations.js';

const COOKIE = 'yihao.registration';

/**
 * The browser's side of a registration: a random flow id in a signed (app keys), httpOnly,
 * SameSite=Lax cookie scoped to `/register`, and a CSRF token that is an HMAC of that id. The
 * cookie holds nothing but the id; the details stay server-side (see pending-registrations.ts).
 */
export function registrationFlow(pending: PendingRegistrations, csrfKeys: readonly string[], maxAgeSeconds: number) {
  const tokens = csrfTokens(csrfKeys, 'registration');

  const current = (ctx: Context): string | undefined => {
    const id = ctx.cookies.get(COOKIE, { signed: true });
    return pending.isId(id) ? id : undefined;
  };

  const set = (ctx: Context, value: string | null) =>
    ctx.cookies.set(COOKIE, value, {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      path: '/register',
      secure: ctx.secure,
      overwrite: true,
      ...(value === null ? {} : { maxAge: maxAgeSeconds * 1000 }),
    });

  return {
    /** The flow id from the cookie, or undefined when it is missing, forged or malformed. */
    current,
    /** The flow id from the cookie, or a new one (set on the answer); the cookie's life is renewed. */
    ensure(ctx: Context): string {
      const id = current(ctx) ?? pending.newId();
      set(ctx, id);
      return id;
    },
    end(ctx: Context): void {
      set(ctx, null);
    },
    csrf: tokens.make,
    checkCsrf: tokens.check,
  };
}
export type RegistrationFlow = ReturnType<typeof registrationFlow>;
