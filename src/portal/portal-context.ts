import type { Context } from 'koa';
import type { Account } from '../accounts/index.js';
import { htmlPage } from '../http/html-page.js';
import { NOTICES, pickLocale, portalMessages, type Locale, type Notice, type PortalMessages } from './i18n.js';
import { keysStillHeld } from '../storage/key-held.js';
import type { PortalDeps } from './deps.js';
import type { PortalSession } from './portal-sessions.js';
import type { Actor } from './self-service.js';
import { portalErrorPage, signedOutPage, type PageContext } from './views/pages.js';
import { signedOutSince } from '../oidc/signed-out-since.js';

const SESSION_COOKIE = 'yihao_portal';
const LOGIN_COOKIE = 'yihao_portal_login';
const LOCALE_COOKIE = 'yihao_portal_lang';

const cookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: '/account', overwrite: true });

/** `?ui_locales=` wins and is remembered in a cookie; Simplified Chinese is the default. */
export function localeOf(ctx: Context): Locale {
  const asked = ctx.query.ui_locales;
  if (typeof asked === 'string') {
    const locale = pickLocale(asked);
    ctx.cookies.set(LOCALE_COOKIE, locale, { ...cookieOptions(ctx), signed: false, maxAge: 365 * 86_400_000 });
    return locale;
  }
  return ctx.cookies.get(LOCALE_COOKIE) === 'en' ? 'en' : 'zh-CN';
}

export function pageContext(ctx: Context, deps: PortalDeps, locale = localeOf(ctx)): Omit<PageContext, 'nonce'> {
  return { locale, t: portalMessages(locale), path: ctx.path, timeZone: deps.timeZone };
}

export function noticeOf(ctx: Context): Notice | undefined {
  const n = ctx.query.notice;
  return NOTICES.find((known) => known === n);
}

export function fail(ctx: Context, deps: PortalDeps, status: number, message: (t: PortalMessages) => string, code: string, locale?: Locale): void {
  const c = pageContext(ctx, deps, locale);
  ctx.status = status;
  htmlPage(ctx, (nonce) => portalErrorPage({ ...c, nonce }, message(c.t), code));
}

export function renderSignedOut(ctx: Context, deps: PortalDeps): void {
  const c = pageContext(ctx, deps);
  htmlPage(ctx, (nonce) => signedOutPage({ ...c, nonce }));
}

export interface SignedIn {
  session: PortalSession;
  account: Account;
  csrf: string;
  actor: Actor;
}

/**
 * The signed-in citizen, if the portal cookie names a live portal session whose Yihao session
 * still exists for the same active account, from a sign-in the account still honours. Anything else ends the portal session: ending the
 * Yihao session (from any device) signs this browser out of the portal too.
 */
export async function signedIn(ctx: Context, deps: PortalDeps): Promise<SignedIn | undefined> {
  const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
  if (!id) return undefined;
  const session = await deps.sessions.find(id);
  const yihaoSession = session && (await deps.provider().Session.findByUid(session.sessionUid));
  const account = yihaoSession && yihaoSession.accountId === session.sub ? await deps.accounts.findBySub(session.sub) : undefined;
  // A Yihao session saved back by a request in flight during a sign-out everywhere is not honoured.
  if (!session || !account || account.status !== 'active' || signedOutSince(account, session.authTime)) {
    if (session) await deps.sessions.destroy(id);
    ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
    return undefined;
  }
  // A portal sign-in made with a key removed since vouches for no level: the Yihao session may have
  // outlived the removal (the one it was removed from, or one whose login a later sign-in replaced),
  // and what needs loa:2 asks for a sign-in again.
  const keysGone = (await keysStillHeld(deps.keyHeld, session.keys ?? [])).length < (session.keys?.length ?? 0);
  return {
    session: keysGone ? { ...session, acr: undefined } : session,
    account,
    csrf: deps.csrf.make(session.id),
    actor: { sub: session.sub, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined },
  };
}

/** Sends the browser to sign in at Yihao, to come back to `returnTo` (one of our own paths). */
export async function startSignIn(ctx: Context, deps: PortalDeps, returnTo: string, opts: { reauthenticate?: boolean; acr?: string } = {}): Promise<void> {
  const { transactionId, authorizationUrl } = await deps.rp.begin({ returnTo, locale: localeOf(ctx), ...opts });
  ctx.cookies.set(LOGIN_COOKIE, transactionId, { ...cookieOptions(ctx), maxAge: 600_000 });
  ctx.status = 303;
  ctx.redirect(authorizationUrl);
}

/** The sign-in transaction this browser started, read once. */
export function takeLoginTransaction(ctx: Context): string | undefined {
  const id = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
  ctx.cookies.set(LOGIN_COOKIE, null, cookieOptions(ctx));
  return id;
}

export async function beginPortalSession(ctx: Context, deps: PortalDeps, s: Omit<PortalSession, 'id' | 'createdAt'>): Promise<void> {
  // A new sign-in never inherits an earlier portal session (no fixation).
  const previous = ctx.cookies.get(SESSION_COOKIE, { signed: true });
  if (previous) await deps.sessions.destroy(previous);
  const session = await deps.sessions.create(s);
  ctx.cookies.set(SESSION_COOKIE, session.id, cookieOptions(ctx));
}

export async function endPortalSession(ctx: Context, deps: PortalDeps, session: PortalSession): Promise<void> {
  await deps.sessions.destroy(session.id);
  ctx.cookies.set(SESSION_COOKIE, null, cookieOptions(ctx));
}
