import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { isYihaoError } from '../errors.js';
import { readForm } from '../http/form-body.js';
import { ACR } from '../accounts/index.js';
import { hasSecondFactor } from '../mfa/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import { MAX_RESPONSE_LENGTH } from '../passkeys/index.js';
import { SmsDeliveryError } from '../sms/index.js';
import { passkeyGate } from './passkey-gate.js';
import type { PortalDeps } from './deps.js';
import { endPortalSession, fail, noticeOf, pageContext, signedIn, startSignIn, type SignedIn } from './portal-context.js';
import { htmlPage } from '../http/html-page.js';
import { qrCodeDataUrl } from '../mfa/totp.js';
import { certificateOfferPage, walletPage } from './views/pages.js';

type Action = (ctx: Context, s: SignedIn, form: Record<string, string>) => Promise<void>;

const seeOther = (ctx: Context, to: string) => {
  ctx.status = 303;
  ctx.redirect(to);
};

/**
 * Every change the portal offers: a form POST with the portal session's CSRF token. The ids in a
 * form only name what to act on; the service looks them up among the signed-in citizen's own.
 */
export function actionRoutes(router: Router, deps: PortalDeps): void {
  const id = z.string().min(1).max(deps.formFieldMaxLength);

  const post = (path: string, fields: z.ZodObject, action: Action) =>
    router.post(path, async (ctx) => {
      let form: Record<string, string>;
      try {
        form = await readForm(ctx, deps.bodyMaxBytes);
      } catch (e) {
        if (isYihaoError(e)) return fail(ctx, deps, e.status, (t) => t.formExpired, 'invalid_request');
        throw e;
      }
      const s = await signedIn(ctx, deps);
      if (!s || !deps.csrf.check(s.session.id, form.csrf)) return fail(ctx, deps, 403, (t) => t.formExpired, 'csrf');
      if (!fields.safeParse(form).success) return fail(ctx, deps, 400, (t) => t.notFound, 'invalid_request');
      await action(ctx, s, form);
    });

  const notFound = (ctx: Context) => fail(ctx, deps, 404, (t) => t.notFound, 'not_found');
  // Changing the sign-in methods needs a sign-in made just now, so a browser left signed in (or a
  // stolen portal cookie) can neither strip the second factor nor add an attacker's passkey. While
  // the account has a second factor, that sign-in must have used it (loa:2): a password or an SMS
  // code alone could otherwise remove the factors and then bind its own (docs/security.md).
  const fresh = (s: SignedIn) => Date.now() / 1000 - s.session.authTime <= deps.freshSignInSeconds;
  const atLoa2 = (s: SignedIn) => acrRank(s.session.acr) >= acrRank(ACR.twoFactor);
  const signInAgain = (secondFactor: boolean) => ({ reauthenticate: true, ...(secondFactor ? { acr: ACR.twoFactor } : {}) });
  /**
   * Sends the browser to sign in again when this portal sign-in may not remove a sign-in method; true
   * if it did. `byApproval`: whether a phone's approval of a QR code (loa:2, but relayable to a
   * phished citizen) may do it: it may remove a phone (the citizen whose only second factor is the
   * app does so with it), not an authenticator app or a passkey (passkey-gate.ts likewise).
   */
  async function removalNeedsSignIn(ctx: Context, s: SignedIn, byApproval: boolean): Promise<boolean> {
    const secondFactor = hasSecondFactor(await deps.strongCredentials(s.account.id));
    if (fresh(s) && (!secondFactor || (atLoa2(s) && (byApproval || !s.session.approvedOnPhone)))) return false;
    await startSignIn(ctx, deps, '/account/credentials?notice=signed_in_again', signInAgain(secondFactor));
    return true;
  }
  const passkeyBinding = (s: SignedIn) => `portal:${s.session.id}`;
  const passkeyReturn = '/account/credentials?notice=signed_in_for_passkey';
  // The browser's Yihao session is gone: on to the signed-out page, through its upstream's sign-out
  // first where the session came from an upstream set to be signed out too.
  const signedOutTo = (ctx: Context, s: SignedIn) => (deps.afterSignOut ? deps.afterSignOut(ctx, s.session.sessionUid, '/account/signed-out') : Promise.resolve('/account/signed-out'));

  post('/account/sessions/end', z.object({ session: id }), async (ctx, s, form) => {
    if (!(await deps.self.endSession(s.actor, form.session!))) return notFound(ctx);
    if (form.session !== s.session.sessionUid) return seeOther(ctx, '/account/sessions?notice=session_ended');
    // This browser's own session: the portal goes with it.
    await endPortalSession(ctx, deps, s.session);
    seeOther(ctx, await signedOutTo(ctx, s));
  });

  post('/account/sessions/end-all', z.object({}), async (ctx, s) => {
    await deps.self.endAllSessions(s.actor);
    await endPortalSession(ctx, deps, s.session);
    seeOther(ctx, await signedOutTo(ctx, s));
  });

  // The citizen says an in-person check made about them was them; anyone else's evidence is not found.
  post('/account/proofing/confirm', z.object({ evidence: id }), async (ctx, s, form) => {
    const outcome = deps.proofing && (await deps.proofing.confirm(form.evidence!, { type: 'citizen', accountId: s.account.id, sub: s.account.sub }, { ip: ctx.ip, requestId: ctx.get('x-request-id') || undefined }));
    if (!outcome?.ok) return notFound(ctx);
    seeOther(ctx, '/account/profile?notice=proofing_confirmed');
  });

  post('/account/apps/revoke', z.object({ client_id: id }), async (ctx, s, form) => {
    if (!(await deps.self.revokeApp(s.actor, form.client_id!))) return notFound(ctx);
    seeOther(ctx, '/account/apps?notice=consent_revoked');
  });

  post('/account/credentials/remove', z.object({ credential: id }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, false)) return;
    if (!(await deps.self.removeCredential(s.actor, s.account, form.credential!))) return notFound(ctx);
    seeOther(ctx, '/account/credentials?notice=credential_removed');
  });

  post('/account/devices/remove', z.object({ device: id }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, true)) return;
    if (!(await deps.self.removeDevice(s.actor, s.account, form.device!))) return notFound(ctx);
    seeOther(ctx, '/account/credentials?notice=credential_removed');
  });

  post('/account/passkeys/sign-in', z.object({}), async (ctx, s) => {
    // An account with a second factor signs in with it: the passkey is then bound at loa:2.
    await startSignIn(ctx, deps, passkeyReturn, signInAgain(hasSecondFactor(await deps.strongCredentials(s.account.id))));
  });

  post('/account/passkeys/send-code', z.object({}), async (ctx, s) => {
    if ((await passkeyGate(deps, s)) !== 'prove_phone' || !s.account.phone) return seeOther(ctx, '/account/credentials');
    let sent = false;
    try {
      // Signed in to the portal: the citizen's own share of the number's hour (sms.limits.perNumberUnproven).
      sent = (await deps.otp.issue({ phone: s.account.phone, purpose: 'bind_factor', clientIp: ctx.ip, proven: true })).ok;
    } catch (e) {
      if (!(e instanceof SmsDeliveryError)) throw e;
    }
    seeOther(ctx, `/account/credentials?notice=${sent ? 'code_sent' : 'code_not_sent'}`);
  });

  post('/account/passkeys/prove-phone', z.object({ code: z.string().max(deps.formFieldMaxLength) }), async (ctx, s, form) => {
    if ((await passkeyGate(deps, s)) !== 'prove_phone' || !s.account.phone) return seeOther(ctx, '/account/credentials');
    const check = await deps.otp.verify({ phone: s.account.phone, purpose: 'bind_factor', code: form.code!.trim() });
    if (check !== 'ok') return seeOther(ctx, '/account/credentials?notice=code_wrong');
    await deps.sessions.markPhoneProven(s.session);
    seeOther(ctx, '/account/credentials?notice=phone_proven');
  });

  post('/account/passkeys/options', z.object({}), async (ctx, s) => {
    const gate = await passkeyGate(deps, s);
    if (gate !== 'ready') return fail(ctx, deps, 403, (t) => (gate === 'no_host_name' ? t.passkeyNeedsHostName : t.addPasskeyNeedsSignIn), 'not_ready');
    ctx.set('cache-control', 'no-store');
    ctx.body = await deps.passkeys.registrationOptions(s.account, passkeyBinding(s));
  });

  post('/account/passkeys', z.object({ credential: z.string().max(MAX_RESPONSE_LENGTH) }), async (ctx, s, form) => {
    if ((await passkeyGate(deps, s)) !== 'ready') return seeOther(ctx, '/account/credentials');
    const added = await deps.self.addPasskey(s.actor, s.account, passkeyBinding(s), form.credential);
    seeOther(ctx, `/account/credentials?notice=${added ? 'passkey_added' : 'passkey_failed'}`);
  });

  // The identity credential needs loa:2: the citizen signs in again with the second factor first.
  post('/account/wallet/sign-in', z.object({}), async (ctx) => {
    await startSignIn(ctx, deps, '/account/wallet', { acr: ACR.twoFactor });
  });

  // The offer is shown on this answer only (never in a URL): the QR code, and the transaction code apart from it.
  post('/account/wallet/offer', z.object({}), async (ctx, s) => {
    if (!deps.walletOffers) return notFound(ctx);
    const offer = await deps.walletOffers.offerIdentity({ sub: s.account.sub, sessionUid: s.session.sessionUid, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if (!offer) return startSignIn(ctx, deps, '/account/wallet', { acr: ACR.twoFactor });
    const qrDataUrl = await qrCodeDataUrl(offer.offerUri);
    const base = pageContext(ctx, deps);
    htmlPage(ctx, (nonce) => walletPage({ ...base, path: '/account/wallet', nonce, chrome: { section: 'wallet', name: s.account.name, csrf: s.csrf, notice: noticeOf(ctx) } }, { strongEnough: true, offer: { ...offer, qrDataUrl } }));
  });

  // One certificate to the app's wallet: the offer names it, so the app gets this one. Shown on this
  // answer only; a sign-in below loa:2 steps up first and comes back to the list.
  post('/account/certificates/offer', z.object({ certificate: id }), async (ctx, s, form) => {
    const offers = deps.certificates?.walletOffer?.bind(deps.certificates);
    if (!offers) return notFound(ctx);
    const offer = await offers({ sub: s.account.sub, accountId: s.account.id, sessionUid: s.session.sessionUid, certificateId: form.certificate!, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if (offer === 'not_found') return notFound(ctx);
    if (offer === 'sign_in') return startSignIn(ctx, deps, '/account/certificates', { acr: ACR.twoFactor });
    const summary = (await deps.certificates!.list(s.account.id)).find((x) => x.id === form.certificate);
    const base = pageContext(ctx, deps);
    const name = summary ? summary.names[base.locale === 'en' ? 'en' : 'zh-CN'] : '';
    const qrDataUrl = await qrCodeDataUrl(offer.offerUri);
    htmlPage(ctx, (nonce) => certificateOfferPage({ ...base, path: '/account/certificates', nonce, chrome: { section: 'certificates', name: s.account.name, csrf: s.csrf, notice: noticeOf(ctx) } }, name, { ...offer, qrDataUrl }));
  });

  // Signing out of the portal signs this browser out of Yihao: the portal is Yihao's own page, and
  // a citizen who signs out here expects to be signed out, not silently signed back in.
  post('/account/logout', z.object({}), async (ctx, s) => {
    await deps.self.endSession(s.actor, s.session.sessionUid);
    await endPortalSession(ctx, deps, s.session);
    seeOther(ctx, await signedOutTo(ctx, s));
  });
}
