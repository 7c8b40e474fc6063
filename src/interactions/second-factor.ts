import type { Context } from 'koa';
import { ACR, maskPhone, type Account, type Channel } from '../accounts/index.js';
import { htmlPage } from '../http/html-page.js';
import { maskCitizenId } from '../identity/index.js';
import type { PendingSecondFactor, SecondFactors } from '../mfa/index.js';
import { SmsDeliveryError, type OtpService } from '../sms/index.js';
import { ACR_BELOW_REQUESTED, acrRank, requiredAcr } from '../oidc/acr-policy.js';
import type { InteractionDeps } from './deps.js';
import { auditWhere, renderLogin, type LoadedInteraction } from './interaction-context.js';
import { recoveryHoldUntil } from '../accounts/recovery-hold.js';
import { phoneProofPage, totpEnrolmentPage, totpPage } from './views/second-factor.pages.js';

export interface SecondFactorDeps extends InteractionDeps {
  secondFactors: SecondFactors;
  /** SMS codes that prove the account's mobile number before an authenticator app is bound. */
  otp: OtpService;
  /** How long an SMS code lives, in minutes, for the page text. */
  codeMinutes: number;
  /** `passwordReset.holdSeconds`: after a reset by SMS, no authenticator app is bound for this long (accounts/recovery-hold.ts). */
  recoveryHoldSeconds: number;
}

/**
 * The channels a sign-in from the login page can produce: the web forms, and the mobile app through
 * the QR hand-off. A client that accepts none of them is told so at once instead of being offered a
 * sign-in it would refuse.
 */
export const LOGIN_PAGE_CHANNELS: readonly Channel[] = ['web', 'mobile'];

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
 * What the web sign-in cannot give ends the request: a level above loa:2, or a client that accepts
 * none of the login page's channels (or not the `channel` of the caller's sign-in method). The client gets `unmet_authentication_requirements` (OpenID
 * Connect Core 1.0, 3.1.2.6) instead of a sign-in that could never satisfy it. Returns true if it did.
 */
export async function refuseUnreachableLevel(ctx: Context, deps: InteractionDeps, it: LoadedInteraction, channel?: Channel): Promise<boolean> {
  const wanted = requiredAcr(it.details.params, it.minAcr);
  let description: string | undefined;
  // `channel`: the one the caller's sign-in method produces (a web form posted anyway, say).
  const reachable = channel ? [channel] : LOGIN_PAGE_CHANNELS;
  if (!it.allowedChannels.some((c) => reachable.includes(c))) description = `this client accepts sign-ins only through: ${it.allowedChannels.join(', ')}`;
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
 * The first factor is proven: remember that, server-side and bound to this interaction, and say
 * what the second step is:
 * - `verify`: a TOTP code;
 * - `use_passkey`, `use_app`: none here. The account's second factor is a passkey, or the
 *   government app's device key (the QR sign-in), and binding an authenticator app on a password
 *   (and an SMS code) would go around it;
 * - `prove_phone`, then `enrol`: the account has no second factor yet. An SMS code to its mobile
 *   number comes first, so that a password alone (guessed, phished) cannot bind an attacker's
 *   authenticator app and reach loa:2. An account without a mobile number (made by an operator)
 *   goes straight to `enrol`: its password is then the only proof, which the operator accepted;
 * - `recovery_hold`: none yet. The account has no second factor and its password was reset by SMS
 *   lately: a new one is not bound until the hold ends (accounts/recovery-hold.ts), or whoever held
 *   the phone for a moment would bind their own authenticator app with the password they set.
 */
export async function startSecondFactor(
  deps: SecondFactorDeps,
  it: LoadedInteraction,
  account: Pick<Account, 'id' | 'sub' | 'phone' | 'recoveredAt'>,
  firstFactor: { amr: string[]; stepUp: boolean },
): Promise<PendingSecondFactor | 'use_passkey' | 'use_app' | 'recovery_hold'> {
  const strong = await deps.secondFactors.strongCredentials(account.id);
  if (!strong.totp && strong.passkey) return 'use_passkey';
  if (!strong.totp && strong.deviceKey) return 'use_app';
  if (!strong.totp && recoveryHoldUntil(account, deps.recoveryHoldSeconds) !== undefined) return 'recovery_hold';
  const stage = strong.totp ? 'verify' : account.phone ? 'prove_phone' : 'enrol';
  return deps.secondFactors.begin(it.uid, { accountId: account.id, sub: account.sub, stage, ...firstFactor, at: Math.floor(Date.now() / 1000) }, ttlOf(it));
}

/**
 * Whether the pending step may still go on: its account is active, and has not been signed out
 * everywhere (a password reset, say) since the first factor was proven. A login within the
 * sign-out's own second still counts, as everywhere else (`Accounts.notBeforeNow`).
 */
export const pendingStillValid = (pending: PendingSecondFactor, account: Pick<Account, 'status' | 'notBefore'> | undefined): boolean =>
  account?.status === 'active' && (account.notBefore === undefined || (pending.at ?? 0) >= account.notBefore);

/** The mobile number is proven: the pending step moves on to setting the authenticator app up. */
export const advanceToEnrolment = (deps: SecondFactorDeps, it: LoadedInteraction, pending: PendingSecondFactor): Promise<PendingSecondFactor> =>
  deps.secondFactors.begin(it.uid, { accountId: pending.accountId, sub: pending.sub, amr: pending.amr, stepUp: pending.stepUp, at: pending.at, stage: 'enrol' }, ttlOf(it));

/**
 * Sends the code that proves the account's mobile number. Returns the message for the page when it
 * could not be sent (and sets the status), or undefined.
 */
export async function sendPhoneProof(ctx: Context, deps: SecondFactorDeps, it: LoadedInteraction, phone: string): Promise<string | undefined> {
  try {
    // After the password in this sign-in: the citizen's own share of the number's hour. Bound to this interaction.
    const sent = await deps.otp.issue({ phone, purpose: 'bind_factor', clientIp: ctx.ip, proven: true, flow: it.uid });
    if (sent.ok) return undefined;
    ctx.status = 429;
    ctx.set('retry-after', String(sent.retryAfterSeconds));
    return sent.reason === 'too_soon' ? it.t.sms.tooSoon(sent.retryAfterSeconds) : it.t.sms.tooManyCodes(sent.retryAfterSeconds);
  } catch (e) {
    if (!(e instanceof SmsDeliveryError)) throw e;
    ctx.status = 503;
    ctx.set('retry-after', '60');
    return it.t.sms.smsUnavailable;
  }
}

/** The TOTP page, the mobile-number proof or the enrolment page for a pending second step. */
export async function renderSecondFactor(
  ctx: Context,
  deps: SecondFactorDeps,
  it: LoadedInteraction,
  pending: PendingSecondFactor,
  error?: string,
  notice?: string,
): Promise<void> {
  const base = { locale: it.locale, uid: it.uid, csrf: it.csrf, clientName: it.clientName, error, switchLanguage: `/interaction/${it.uid}` };
  if (pending.stage === 'verify') {
    htmlPage(ctx, (nonce) => totpPage({ ...base, nonce, stepUp: pending.stepUp }));
    return;
  }
  const account = await deps.accounts.findById(pending.accountId);
  if (pending.stage === 'prove_phone') {
    const maskedPhone = account?.phone ? maskPhone(account.phone) : '';
    htmlPage(ctx, (nonce) => phoneProofPage({ ...base, nonce, maskedPhone, codeMinutes: deps.codeMinutes, notice }));
    return;
  }
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
 * - its password was an upstream's (amr `fed`): Yihao never checked it, and the upstream's level cap
 *   (`maxAcr`) says what a sign-in there is worth, as the portal's lasting-credential gate holds;
 * - the account has no TOTP yet: setting one up must not rest on a session cookie alone.
 */
async function stepUpInPlace(deps: SecondFactorDeps, it: LoadedInteraction): Promise<Account | undefined> {
  const { session, prompt } = it.details;
  if (!session?.accountId || !session.amr?.includes('pwd') || session.amr.includes('fed') || requestedRank(it) <= acrRank(session.acr)) return undefined;
  if (!prompt.reasons.includes(ACR_BELOW_REQUESTED) || !prompt.reasons.every((r) => STEP_UP_REASONS.has(r))) return undefined;
  const account = await deps.accounts.findBySub(session.accountId);
  if (account?.status !== 'active' || !(await deps.secondFactors.hasTotp(account.id))) return undefined;
  return account;
}

/** GET of the interaction while the login prompt is open: the password form, or the second step. */
export async function showLoginStep(ctx: Context, deps: SecondFactorDeps, it: LoadedInteraction): Promise<void> {
  if (await refuseUnreachableLevel(ctx, deps, it)) return;
  // A client that takes the mobile app but not the web: straight to the QR hand-off.
  if (!it.allowedChannels.includes('web')) {
    ctx.status = 303;
    return ctx.redirect(`/interaction/${it.uid}/qr`);
  }
  let pending = await deps.secondFactors.pending(it.uid);
  if (pending && !pendingStillValid(pending, await deps.accounts.findById(pending.accountId))) {
    // Its first factor no longer counts (see pendingStillValid): the sign-in starts over.
    await deps.secondFactors.settle(it.uid);
    pending = undefined;
  }
  if (!pending) {
    const account = await stepUpInPlace(deps, it);
    if (account) {
      // stepUpInPlace only picks accounts that have TOTP: the step is always `verify`.
      pending = (await startSecondFactor(deps, it, account, { amr: it.details.session!.amr!, stepUp: true })) as PendingSecondFactor;
      await deps.audit.append({ action: 'login.step_up', actorType: 'citizen', actorId: account.sub, accountId: account.sub, details: { from: it.details.session!.acr, to: ACR.twoFactor }, ...auditWhere(ctx, it) });
    }
  }
  if (pending) return renderSecondFactor(ctx, deps, it, pending);
  renderLogin(ctx, it);
}
