import type { Context } from 'koa';
import { ACR, type Account, type Channel } from '../accounts/index.js';
import { htmlPage } from '../http/html-page.js';
import { maskCitizenId } from '../identity/index.js';
import type { PendingSecondFactor, SecondFactors } from '../mfa/index.js';
import { ACR_BELOW_REQUESTED, acrRank, requiredAcr } from '../oidc/acr-policy.js';
import type { InteractionDeps } from './deps.js';
import { auditWhere, renderLogin, type LoadedInteraction } from './interaction-context.js';
import { totpEnrolmentPage, totpPage } from './views/second-factor.pages.js';

export interface SecondFactorDeps extends InteractionDeps {
  secondFactors: SecondFactors;
}

/**
 * The channels a sign-in on the login page can produce. A client that accepts none of them is told
 * so at once instead of being offered a sign-in it would refuse. (The QR hand-off, when it lands on
 * the login page, adds 'mobile' here.)
 */
export const LOGIN_PAGE_CHANNELS: readonly Channel[] = ['web'];

/** The highest level a web sign-in reaches: password + TOTP. loa:3 needs the ID card (kiosk, counter). */
const WEB_MAX_RANK = acrRank(ACR.twoFactor);

/** Login reasons that a step-up in place answers: the session is fine apart from its level. */
const STEP_UP_REASONS = new Set([ACR_BELOW_REQUESTED, 'essential_acr', 'essential_acrs']);

/**
 * The level this interaction must reach: the higher of what the authorization request asks for
 * (acr_values, default_acr_values, or the acr claim) and the client's registered minimum (min_acr).
 */
export const requestedRank = (it: LoadedInteraction): number => acrRank(requiredAcr(it.details.params, it.minAcr));

/** Whether a password alone is not enough for this request. */
export const needsSecondFactor = (it: LoadedInteraction): boolean => requestedRank(it) >= acrRank(ACR.twoFactor);

/** RFC 8176: the earlier factor(s), then `otp` for TOTP or a recovery code, and `mfa`. */
export const secondFactorAmr = (firstFactor: string[]): string[] => [...new Set([...firstFactor, 'otp', 'mfa'])];

const ttlOf = (it: LoadedInteraction): number => it.details.exp - Math.floor(Date.now() / 1000);

/**
 * What the web sign-in cannot give ends the request: a level above loa:2, or a client that does not
 * accept the web channel at all. The client gets `unmet_authentication_requirements` (OpenID
 * Connect Core 1.0, 3.1.2.6) instead of a sign-in that could never satisfy it. Returns true if it did.
 */
export async function refuseUnreachableLevel(ctx: Context, deps: InteractionDeps, it: LoadedInteraction): Promise<boolean> {
  const wanted = requiredAcr(it.details.params, it.minAcr);
  let description: string | undefined;
  if (!it.allowedChannels.some((c) => LOGIN_PAGE_CHANNELS.includes(c))) description = `this client accepts sign-ins only through: ${it.allowedChannels.join(', ')}`;
  else if (acrRank(wanted) > WEB_MAX_RANK) description = `${wanted} cannot be reached by signing in on the web`;
  if (!description) return false;
  const returnTo = await deps.provider().interactionResult(
    ctx.req,
    ctx.res,
    { error: 'unmet_authentication_requirements', error_description: description },
    { mergeWithLastSubmission: false },
  );
  ctx.status = 303;
  ctx.redirect(returnTo);
  return true;
}

/**
 * The first factor is proven: remember that, server-side and bound to this interaction, and send the
 * browser to the second step (TOTP, or setting TOTP up when the account has none).
 */
export async function startSecondFactor(
  ctx: Context,
  deps: SecondFactorDeps,
  it: LoadedInteraction,
  account: Pick<Account, 'id' | 'sub'>,
  firstFactor: { amr: string[]; stepUp: boolean },
): Promise<PendingSecondFactor> {
  const stage = (await deps.secondFactors.hasTotp(account.id)) ? 'verify' : 'enrol';
  return deps.secondFactors.begin(it.uid, { accountId: account.id, sub: account.sub, stage, ...firstFactor }, ttlOf(it));
}

/** The TOTP page or the enrolment page for a pending second step. */
export async function renderSecondFactor(ctx: Context, deps: SecondFactorDeps, it: LoadedInteraction, pending: PendingSecondFactor, error?: string): Promise<void> {
  const base = { locale: it.locale, uid: it.uid, csrf: it.csrf, clientName: it.clientName, error };
  if (pending.stage === 'verify') {
    htmlPage(ctx, (nonce) => totpPage({ ...base, nonce, stepUp: pending.stepUp }));
    return;
  }
  const account = await deps.accounts.findById(pending.accountId);
  // The authenticator app lists the account under the masked ID number.
  const label = account ? maskCitizenId(account.citizenId()) : pending.sub;
  const display = await deps.secondFactors.enrolmentDisplay(it.uid, pending, label);
  htmlPage(ctx, (nonce) => totpEnrolmentPage({ ...base, nonce, ...display }));
}

/**
 * A signed-in session (password) below the requested level, for an account that has TOTP: the
 * password is already proven in this session, so it is not asked again; only the code is.
 * A full sign-in (password first) instead when:
 * - the login prompt objects to anything else about the session (prompt=login, max_age, another subject);
 * - the session's first factor was not a password (an SMS code and a TOTP code are both "something you have");
 * - the account has no TOTP yet: setting one up must not rest on a session cookie alone.
 */
async function stepUpInPlace(deps: SecondFactorDeps, it: LoadedInteraction): Promise<Account | undefined> {
  const { session, prompt } = it.details;
  if (!session?.accountId || !session.amr?.includes('pwd') || requestedRank(it) <= acrRank(session.acr)) return undefined;
  if (!prompt.reasons.includes(ACR_BELOW_REQUESTED) || !prompt.reasons.every((r) => STEP_UP_REASONS.has(r))) return undefined;
  const account = await deps.accounts.findBySub(session.accountId);
  if (account?.status !== 'active' || !(await deps.secondFactors.hasTotp(account.id))) return undefined;
  return account;
}

/** GET of the interaction while the login prompt is open: the password form, or the second step. */
export async function showLoginStep(ctx: Context, deps: SecondFactorDeps, it: LoadedInteraction): Promise<void> {
  if (await refuseUnreachableLevel(ctx, deps, it)) return;
  let pending = await deps.secondFactors.pending(it.uid);
  if (!pending) {
    const account = await stepUpInPlace(deps, it);
    if (account) {
      pending = await startSecondFactor(ctx, deps, it, account, { amr: it.details.session!.amr!, stepUp: true });
      await deps.audit.append({ action: 'login.step_up', actorType: 'citizen', actorId: account.sub, accountId: account.sub, details: { from: it.details.session!.acr, to: ACR.twoFactor }, ...auditWhere(ctx, it) });
    }
  }
  if (pending) return renderSecondFactor(ctx, deps, it, pending);
  renderLogin(ctx, it);
}
