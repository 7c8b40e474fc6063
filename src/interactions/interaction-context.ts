import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import type { Acr, Authentication, Channel } from '../accounts/index.js';
import { readForm } from '../http/form-body.js';
import { flushPendingWrites } from '../storage/write-batch.js';
import { htmlPage } from '../http/html-page.js';
import { YihaoError } from '../errors.js';
import { allowedChannelsOf, citizenIdConsentSinceOf, citizenIdReleaseOf, minAcrOf } from '../oidc/client-metadata.js';
import { messages, type Messages } from './i18n.js';
import { pickLocale, type Locale } from '../http/locale.js';
import type { InteractionDeps, LoginOption } from './deps.js';
import { errorPage, loginPage } from './views/pages.js';
import { isDependencyFailure } from '../storage/dependency-failure.js';

type Details = Awaited<ReturnType<ReturnType<InteractionDeps['provider']>['interactionDetails']>>;

export interface LoadedInteraction {
  details: Details;
  uid: string;
  locale: Locale;
  t: Messages;
  clientName: string;
  /** The client's citizen_id_release policy, for the consent page. */
  citizenIdRelease: string;
  /** Since when (epoch seconds) that policy holds for grants (src/oidc/citizen-id-consent.ts); undefined: always. */
  citizenIdConsentSince: number | undefined;
  /** The scopes the client is registered for: what claims asked for by name may come under. */
  clientScope: string | undefined;
  /** The client's registered minimum level (`min_acr`), if any. */
  minAcr: Acr | undefined;
  /** The channels the client accepts sign-ins from. */
  allowedChannels: readonly Channel[];
  csrf: string;
  form: Record<string, string>;
  result?: InteractionResults;
  /** Upstream sign-in buttons for the login page. */
  loginOptions: LoginOption[];
}

const LOCALE_COOKIE = 'yihao_lang';

/**
 * The language of the sign-in pages: the language switch (`?ui_locales=` on an interaction page)
 * wins and is remembered for this browser session on every interaction page, so the consent page
 * after the login page and the next sign-in keep it; else the relying party's `ui_locales`.
 */
function interactionLocale(ctx: Context, asked: unknown): Locale {
  const switched = ctx.query.ui_locales;
  if (typeof switched === 'string') {
    const locale = pickLocale(switched);
    ctx.cookies.set(LOCALE_COOKIE, locale, { signed: false, httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: '/interaction', overwrite: true });
    return locale;
  }
  const remembered = ctx.cookies.get(LOCALE_COOKIE);
  return remembered === 'en' || remembered === 'zh-CN' ? remembered : pickLocale(asked);
}

export function fail(ctx: Context, status: number, locale: Locale, message: string, code: string) {
  ctx.status = status;
  htmlPage(ctx, (nonce) => errorPage({ locale, nonce, message, code }));
}

/**
 * Loads the interaction named by the `_interaction` cookie and checks that it is the one in the
 * URL; for form posts also the CSRF token. Answers the request itself (and returns undefined)
 * when anything does not fit.
 */
export async function loadInteraction(
  ctx: Context,
  deps: InteractionDeps,
  opts: { form: boolean; prompt?: 'login' | 'consent' },
): Promise<LoadedInteraction | undefined> {
  let details: Details;
  try {
    details = await deps.provider().interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    // A store that is down is not an expired form: the outer app answers 503, and a retry works.
    if (isDependencyFailure(err)) throw err;
    const fallbackLocale = interactionLocale(ctx, undefined);
    fail(ctx, 400, fallbackLocale, messages(fallbackLocale).formExpired, 'session_not_found');
    return undefined;
  }
  const locale = interactionLocale(ctx, details.params.ui_locales);
  const t = messages(locale);
  if (details.uid !== ctx.params.uid) {
    fail(ctx, 400, locale, t.formExpired, 'interaction_mismatch');
    return undefined;
  }
  let form: Record<string, string> = {};
  if (opts.form) {
    try {
      form = await readForm(ctx, deps.bodyMaxBytes);
    } catch (e) {
      if (e instanceof YihaoError) return fail(ctx, e.status, locale, t.fieldTooLong, 'invalid_request'), undefined;
      throw e;
    }
    if (!deps.csrf.check(details.uid, form.csrf)) {
      fail(ctx, 403, locale, t.formExpired, 'csrf');
      return undefined;
    }
  }
  if (opts.prompt && details.prompt.name !== opts.prompt) {
    fail(ctx, 400, locale, t.formExpired, 'wrong_step');
    return undefined;
  }
  const clientId = String(details.params.client_id);
  const client = await deps.provider().Client.find(clientId);
  return {
    details,
    uid: details.uid,
    locale,
    t,
    clientName: client?.clientName ?? clientId,
    citizenIdRelease: citizenIdReleaseOf(client),
    citizenIdConsentSince: citizenIdConsentSinceOf(client),
    clientScope: client?.scope,
    minAcr: minAcrOf(client),
    allowedChannels: allowedChannelsOf(client),
    csrf: deps.csrf.make(details.uid),
    form,
    loginOptions: details.prompt.name === 'login' && deps.loginOptions ? await deps.loginOptions(details.params) : [],
  };
}

export function renderLogin(ctx: Context, it: LoadedInteraction, extra: { error?: string } = {}): void {
  htmlPage(ctx, (nonce) => loginPage({ locale: it.locale, nonce, uid: it.uid, switchLanguage: `/interaction/${it.uid}`, csrf: it.csrf, clientName: it.clientName, loginOptions: it.loginOptions, ...extra }), { script: true });
}

/** Where an interaction's audit events happened. */
export const auditWhere = (ctx: Context, it: LoadedInteraction) => ({
  clientId: String(it.details.params.client_id),
  channel: 'web',
  ip: ctx.ip,
  requestId: ctx.state.requestId as string,
});

/** Whole minutes until `until`, at least one: what the lock message tells the citizen. */
export const minutesUntil = (until: Date): number => Math.max(1, Math.ceil((until.getTime() - Date.now()) / 60_000));

/** A guess refused until `until` (src/accounts/lockout.ts): 429 with Retry-After, and the text to show. */
export function throttled(ctx: Context, it: LoadedInteraction, until: Date): string {
  const seconds = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 1000));
  ctx.status = 429;
  ctx.set('retry-after', String(seconds));
  return it.t.tooManyAttempts(seconds);
}

/**
 * Completes the login prompt with one Authentication (audited) and returns where the browser goes
 * next: back into the authorization flow.
 */
/**
 * A sign-in that guessed nothing (a passkey, an upstream's) makes this address familiar to the
 * account, as a right password does: the distributed lock leaves it alone, and SMS codes asked for
 * from it take the citizen's own share of the number's hour (sms.limits.perNumberUnproven). Not a
 * phone's QR approval: its code can be relayed from anywhere.
 */
export async function rememberAddress(ctx: Context, deps: InteractionDeps, sub: string): Promise<void> {
  const account = await deps.accounts.findBySub(sub);
  if (account) await deps.accounts.lockout.markFamiliar(account.id, ctx.ip);
}

export async function completeLogin(
  ctx: Context,
  deps: InteractionDeps,
  it: LoadedInteraction,
  authentication: Authentication,
  auditDetails: Record<string, unknown> = {},
): Promise<string> {
  const { accountId: sub, acr, amr, at } = authentication;
  // The event and the credential's last use go out together, and land before the login does.
  await deps.audit.append({ action: 'login.succeeded', actorType: 'citizen', actorId: sub, accountId: sub, details: { amr, acr, ...auditDetails }, ...auditWhere(ctx, it) }, { withRequestWrites: true });
  await flushPendingWrites();
  return deps
    .provider()
    .interactionResult(ctx.req, ctx.res, { login: { accountId: sub, acr, amr, ts: at, remember: true, authentication } }, { mergeWithLastSubmission: false });
}
