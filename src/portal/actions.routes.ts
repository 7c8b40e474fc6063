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
import { passkeyGate, signInIsFresh, walletGate, type PasskeyGate } from './lasting-credential-gate.js';
import { recoveryHoldUntil } from '../accounts/recovery-hold.js';
import type { PortalDeps } from './deps.js';
import type { Notice } from './i18n.js';
import { endPortalSession, fail, noticeOf, pageContext, signedIn, startSignIn, type SignedIn } from './portal-context.js';
import type { KeyRef } from './self-service.js';
import { htmlPage } from '../http/html-page.js';
import { qrCodeDataUrl } from '../mfa/totp.js';
import { certificateOfferPage, removeBoundPage, walletPage } from './views/pages.js';
import { requestIdOf } from '../http/request-context.js';

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
  // An id names a row in the store. One with a control character names none, and PostgreSQL refuses
  // NUL in a text value outright (a 500): refused here, it reads as the unknown id it is.
  const id = z.string().min(1).max(deps.formFieldMaxLength).regex(/^\P{Cc}+$/u);

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
  const atLoa2 = (s: SignedIn) => acrRank(s.session.acr) >= acrRank(ACR.twoFactor);
  const signInAgain = (secondFactor: boolean) => ({ reauthenticate: true, ...(secondFactor ? { acr: ACR.twoFactor } : {}) });
  /**
   * Sends the browser to sign in again when this portal sign-in may not remove a sign-in method; true
   * if it did. `byApproval`: whether a phone's approval of a QR code (loa:2, but relayable to a
   * phished citizen) may do it: it may remove a phone (the citizen whose only second factor is the
   * app does so with it), not an authenticator app or a passkey (lasting-credential-gate.ts likewise).
   */
  async function removalNeedsSignIn(ctx: Context, s: SignedIn, byApproval: boolean, returnTo = '/account/credentials?notice=signed_in_again'): Promise<boolean> {
    const secondFactor = hasSecondFactor(await deps.strongCredentials(s.account.id));
    if (signInIsFresh(deps, s.session) && (!secondFactor || (atLoa2(s) && (byApproval || !s.session.approvedOnPhone)))) return false;
    await startSignIn(ctx, deps, returnTo, signInAgain(secondFactor));
    return true;
  }
  const passkeyBinding = (s: SignedIn) => `portal:${s.session.id}`;
  const passkeyReturn = '/account/credentials?notice=signed_in_for_passkey';
  // The browser's Yihao session is gone: on to the signed-out page, through its upstream's sign-out
  // first where the session came from an upstream set to be signed out too.
  const signedOutTo = (ctx: Context, s: SignedIn) => (deps.afterSignOut ? deps.afterSignOut(ctx, s.session.sessionUid, '/account/signed-out') : Promise.resolve('/account/signed-out'));

  // Ending another session, revoking an app and confirming an in-person check take the sign-in a
  // removal takes (found by a review: a stale, password-only session did all three). Signing out
  // everywhere does not: it ends the thief's session too, and is the citizen's way out.
  post('/account/sessions/end', z.object({ session: id }), async (ctx, s, form) => {
    if (form.session !== s.session.sessionUid && (await removalNeedsSignIn(ctx, s, true, '/account/sessions?notice=signed_in_to_act'))) return;
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
  // A phone's approval may do it, as it may remove a phone: for a citizen whose only second factor
  // is the app it is the only loa:2 sign-in there is (a review found them sent round in a loop).
  post('/account/proofing/confirm', z.object({ evidence: id }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, true, '/account/profile?notice=signed_in_to_act')) return;
    const outcome = deps.proofing && (await deps.proofing.confirm(form.evidence!, { type: 'citizen', accountId: s.account.id, sub: s.account.sub }, { ip: ctx.ip, requestId: requestIdOf(ctx) }));
    if (!outcome?.ok) return notFound(ctx);
    seeOther(ctx, '/account/profile?notice=proofing_confirmed');
  });

  post('/account/apps/revoke', z.object({ client_id: id }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, true, '/account/apps?notice=signed_in_to_act')) return;
    if (!(await deps.self.revokeApp(s.actor, form.client_id!))) return notFound(ctx);
    seeOther(ctx, '/account/apps?notice=consent_revoked');
  });

  // Whether the sign-in methods bound from the removed one's sign-ins go too, and which the
  // question listed (ids, space-separated): only what the citizen was shown is removed.
  const removal = { bound: z.enum(['remove', 'keep']).optional(), listed: z.string().max(deps.formFieldMaxLength).regex(/^\P{Cc}*$/u).optional() };

  /**
   * The sign-in methods to remove with `key`, or undefined when the citizen must be asked first (and
   * the question page was sent): when some are bound from its sign-ins and the form has not answered,
   * or answered "remove" for a list that no longer holds all of them (one bound since).
   */
  async function boundToRemove(ctx: Context, s: SignedIn, key: KeyRef | undefined, what: string, action: string, form: Record<string, string>, fields: Record<string, string>): Promise<KeyRef[] | undefined> {
    const found = key ? await deps.self.boundFrom(s.account, key) : [];
    const listed = new Set((form.listed ?? '').split(' '));
    const answered = form.bound === 'keep' || (form.bound === 'remove' && found.every((k) => listed.has(k.id)));
    if (found.length === 0 || answered) return form.bound === 'remove' ? found : [];
    const base = pageContext(ctx, deps);
    const listedNow = { ...fields, listed: found.map((k) => k.id).join(' ') };
    htmlPage(ctx, (nonce) => removeBoundPage({ ...base, path: '/account/credentials', nonce, chrome: { section: 'credentials', name: s.account.name, csrf: s.csrf, notice: undefined } }, what, found, action, listedNow));
    return undefined;
  }

  post('/account/credentials/remove', z.object({ credential: id, ...removal }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, false)) return;
    const credential = (await deps.self.credentials(s.account)).find((c) => c.id === form.credential);
    const key: KeyRef | undefined = credential?.type === 'passkey' ? { model: 'PasskeyGrant', id: credential.id } : credential?.type === 'totp' ? { model: 'TotpGrant', id: credential.id } : undefined;
    const what = credential ? (pageContext(ctx, deps).t.credentialTypes[credential.type] ?? credential.type) : '';
    const also = await boundToRemove(ctx, s, key, what, '/account/credentials/remove', form, { credential: form.credential! });
    if (!also) return;
    if (!(await deps.self.removeCredential(s.actor, s.account, form.credential!, s.session.sessionUid, also))) return notFound(ctx);
    seeOther(ctx, '/account/credentials?notice=credential_removed');
  });

  post('/account/devices/remove', z.object({ device: id, ...removal }), async (ctx, s, form) => {
    if (await removalNeedsSignIn(ctx, s, true)) return;
    const device = (await deps.self.devices(s.account)).find((d) => d.id === form.device);
    const what = device ? `${pageContext(ctx, deps).t.credentialTypes.device ?? 'device'} · ${device.name}` : '';
    const also = await boundToRemove(ctx, s, device && { model: 'DeviceKeyGrant', id: device.id }, what, '/account/devices/remove', form, { device: form.device! });
    if (!also) return;
    if (!(await deps.self.removeDevice(s.actor, s.account, form.device!, also))) return notFound(ctx);
    seeOther(ctx, '/account/credentials?notice=credential_removed');
  });

  post('/account/passkeys/sign-in', z.object({}), async (ctx, s) => {
    // An account with a second factor signs in with it: the passkey is then bound at loa:2.
    await startSignIn(ctx, deps, passkeyReturn, signInAgain(hasSecondFactor(await deps.strongCredentials(s.account.id))));
  });

  /**
   * The SMS code to the account's own number that a gate asks for (`prove_phone`): sent and checked
   * only while that gate asks for it, then back to the page that shows the gate. A proof counts for
   * the whole portal session, whichever page asked for it. The code is bound to the portal session
   * that asked for it: another browser signed in to the same account cannot spend it.
   */
  function phoneProofRoutes(prefix: string, gate: (s: SignedIn) => PasskeyGate | Promise<PasskeyGate>, page: string, proven: Notice) {
    post(`${prefix}/send-code`, z.object({}), async (ctx, s) => {
      if ((await gate(s)) !== 'prove_phone' || !s.account.phone) return seeOther(ctx, page);
      let sent = false;
      try {
        // Signed in to the portal: the citizen's own share of the number's hour (sms.limits.perNumberUnproven).
        sent = (await deps.otp.issue({ phone: s.account.phone, purpose: 'bind_factor', clientIp: ctx.ip, proven: true, flow: s.session.id })).ok;
      } catch (e) {
        if (!(e instanceof SmsDeliveryError)) throw e;
      }
      seeOther(ctx, `${page}?notice=${sent ? 'code_sent' : 'code_not_sent'}`);
    });

    post(`${prefix}/prove-phone`, z.object({ code: z.string().max(deps.formFieldMaxLength) }), async (ctx, s, form) => {
      if ((await gate(s)) !== 'prove_phone' || !s.account.phone) return seeOther(ctx, page);
      const check = await deps.otp.verify({ phone: s.account.phone, purpose: 'bind_factor', code: form.code!.trim(), flow: s.session.id });
      if (check !== 'ok') return seeOther(ctx, `${page}?notice=code_wrong`);
      await deps.sessions.markPhoneProven(s.session);
      seeOther(ctx, `${page}?notice=${proven}`);
    });
  }
  phoneProofRoutes('/account/passkeys', (s) => passkeyGate(deps, s), '/account/credentials', 'phone_proven');
  phoneProofRoutes('/account/wallet', (s) => walletGate(deps, s), '/account/wallet', 'phone_proven_for_wallet');
  phoneProofRoutes('/account/certificates', (s) => walletGate(deps, s), '/account/certificates', 'phone_proven_for_wallet');

  /**
   * A credential in a wallet lasts as a passkey does: sends the browser on to what the wallet gate
   * asks for first (a fresh sign-in at loa:2, or the SMS proof on `page`); true if it did.
   */
  async function offerNeedsMore(ctx: Context, s: SignedIn, page: string): Promise<boolean> {
    const gate = walletGate(deps, s);
    if (gate === 'ready') return false;
    // Held, or the SMS proof first: the page says which.
    if (gate === 'prove_phone' || gate === 'recovery_hold') seeOther(ctx, page);
    else await startSignIn(ctx, deps, page, signInAgain(true));
    return true;
  }

  post('/account/passkeys/options', z.object({}), async (ctx, s) => {
    const gate = await passkeyGate(deps, s);
    if (gate !== 'ready') {
      const until = recoveryHoldUntil(s.account, deps.recoveryHoldSeconds);
      return fail(ctx, deps, 403, (t) => (gate === 'no_host_name' ? t.passkeyNeedsHostName : gate === 'recovery_hold' ? t.recoveryHold(new Date(until ?? Date.now()).toISOString()) : t.addPasskeyNeedsSignIn), gate === 'recovery_hold' ? 'recovery_hold' : 'not_ready');
    }
    ctx.set('cache-control', 'no-store');
    ctx.body = await deps.passkeys.registrationOptions(s.account, passkeyBinding(s));
  });

  post('/account/passkeys', z.object({ credential: z.string().max(MAX_RESPONSE_LENGTH) }), async (ctx, s, form) => {
    if ((await passkeyGate(deps, s)) !== 'ready') return seeOther(ctx, '/account/credentials');
    const added = await deps.self.addPasskey(s.actor, s.account, passkeyBinding(s), form.credential, s.session.keys);
    seeOther(ctx, `/account/credentials?notice=${added ? 'passkey_added' : 'passkey_failed'}`);
  });

  // The identity credential needs a fresh sign-in at loa:2: made just now, with the second factor.
  post('/account/wallet/sign-in', z.object({}), async (ctx) => {
    await startSignIn(ctx, deps, '/account/wallet', signInAgain(true));
  });

  // The offer is shown on this answer only (never in a URL): the QR code, and the transaction code apart from it.
  post('/account/wallet/offer', z.object({}), async (ctx, s) => {
    if (!deps.walletOffers) return notFound(ctx);
    if (await offerNeedsMore(ctx, s, '/account/wallet')) return;
    const offer = await deps.walletOffers.offerIdentity({ sub: s.account.sub, sessionUid: s.session.sessionUid, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if (!offer) return startSignIn(ctx, deps, '/account/wallet', signInAgain(true));
    const qrDataUrl = await qrCodeDataUrl(offer.offerUri);
    const base = pageContext(ctx, deps);
    htmlPage(ctx, (nonce) => walletPage({ ...base, path: '/account/wallet', nonce, chrome: { section: 'wallet', name: s.account.name, csrf: s.csrf, notice: noticeOf(ctx) } }, { gate: 'ready', maskedPhone: '', offer: { ...offer, qrDataUrl } }));
  });

  // A credential in one of the citizen's wallets stops being good: revoked in its status list, for
  // every verifier. A lasting change like removing a sign-in method, so after the same fresh sign-in;
  // as for removing a phone, a phone's approval may do it (revoking hands nothing to a relayer, and
  // a citizen whose only second factor is the app has no other loa:2 sign-in).
  post('/account/wallet/revoke', z.object({ credential: id }), async (ctx, s, form) => {
    if (!deps.walletCredentials) return notFound(ctx);
    if (await removalNeedsSignIn(ctx, s, true, '/account/wallet?notice=signed_in_to_revoke')) return;
    const by = { sub: s.account.sub, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined };
    if (!(await deps.walletCredentials.revoke(s.account.id, form.credential!, by))) return notFound(ctx);
    seeOther(ctx, '/account/wallet?notice=wallet_credential_revoked');
  });

  // One certificate to the app's wallet: the offer names it, so the app gets this one. Shown on this
  // answer only; what the wallet gate asks for comes first, and then back to the list.
  post('/account/certificates/offer', z.object({ certificate: id }), async (ctx, s, form) => {
    const offers = deps.certificates?.walletOffer?.bind(deps.certificates);
    if (!offers) return notFound(ctx);
    if (await offerNeedsMore(ctx, s, '/account/certificates')) return;
    const offer = await offers({ sub: s.account.sub, accountId: s.account.id, sessionUid: s.session.sessionUid, certificateId: form.certificate!, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if (offer === 'not_found') return notFound(ctx);
    if (offer === 'sign_in') return startSignIn(ctx, deps, '/account/certificates', signInAgain(true));
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
