import type Router from '@koa/router';
import type { Context } from 'koa';
import { htmlPage } from '../../http/html-page.js';
import type { InteractionDeps } from '../../interactions/index.js';
import { completeLogin, fail, loadInteraction, type LoadedInteraction } from '../../interactions/interaction-context.js';
import { refuseUnreachableLevel } from '../../interactions/second-factor.js';
import { allowedChannelsOf } from '../../oidc/client-metadata.js';
import { qrCodeDataUrl } from '../../mfa/totp.js';
import type { QrHandoffs } from './qr-handoffs.js';
import { handoffText, qrConfirmPage, qrEndPage, qrLinkPage, qrPage } from './views.js';
import { maskName } from '../../accounts/index.js';
import { pickLocale } from '../../http/locale.js';

export interface HandoffRoutesDeps extends InteractionDeps {
  handoffs: QrHandoffs;
  /** The issuer, path included: the QR code is a claimed https link the app opens (`<issuer>/m/qr/<code>`). */
  base: string;
}

const COOKIE = 'yihao.qr';

/**
 * The web side of the QR hand-off, inside the login interaction:
 * - `GET /interaction/:uid/qr`: the QR code and binding code (a new hand-off, or the live one);
 * - `GET /interaction/:uid/qr/status`: `{ status }` for the page's polling script;
 * - `POST /interaction/:uid/qr/complete`: once the phone approved, asks whose account the browser
 *   is about to sign into (the script posts it by itself; without JavaScript the citizen presses
 *   "Continue");
 * - `POST /interaction/:uid/qr/confirm`: the citizen's "Continue as …": completes the login.
 */
export function handoffRoutes(router: Router, deps: HandoffRoutesDeps): void {
  const minutes = Math.max(1, Math.round(deps.handoffs.ttlSeconds / 60));
  const secretOf = (ctx: Context) => ctx.cookies.get(COOKIE, { signed: true }) ?? undefined;

  async function load(ctx: Context, form: boolean): Promise<LoadedInteraction | undefined> {
    const it = await loadInteraction(ctx, deps, { form, prompt: 'login' });
    if (!it) return undefined;
    if (await refuseUnreachableLevel(ctx, deps, it)) return undefined;
    const client = await deps.provider().Client.find(String(it.details.params.client_id));
    if (!allowedChannelsOf(client).includes('mobile')) {
      fail(ctx, 400, it.locale, handoffText(it.locale).notAccepted(it.clientName), 'channel_not_allowed');
      return undefined;
    }
    return it;
  }

  const end = (ctx: Context, it: LoadedInteraction, status: number, message: string, canRestart: boolean) => {
    ctx.status = status;
    htmlPage(ctx, (nonce) => qrEndPage({ locale: it.locale, nonce, uid: it.uid, message, canRestart }));
  };

  async function show(ctx: Context, it: LoadedInteraction, handoff: { ref: string; bindingCode: string }, error?: string) {
    const qrDataUrl = await qrCodeDataUrl(`${deps.base}/m/qr/${handoff.ref}`);
    htmlPage(ctx, (nonce) => qrPage({ locale: it.locale, nonce, uid: it.uid, csrf: it.csrf, clientName: it.clientName, qrDataUrl, bindingCode: handoff.bindingCode, minutes, error }), { script: true });
  }

  // The QR code's link, opened by something other than the app: it says how to use it, nothing more.
  router.get('/m/qr/:code', (ctx) => {
    htmlPage(ctx, (nonce) => qrLinkPage({ locale: pickLocale(ctx.query.ui_locales), nonce }));
  });

  router.get('/interaction/:uid/qr', async (ctx) => {
    const it = await load(ctx, false);
    if (!it) return;
    const current = await deps.handoffs.state(it.uid, secretOf(ctx));
    // A reload keeps the live code; anything else (none, used up, another browser's) starts afresh.
    if (current.state === 'pending' && ctx.query.new === undefined) return show(ctx, it, current.handoff);
    const { handoff, secret } = await deps.handoffs.start(it.uid, { clientId: String(it.details.params.client_id), clientName: it.clientName });
    ctx.cookies.set(COOKIE, secret, { signed: true, httpOnly: true, sameSite: 'lax', path: `/interaction/${it.uid}`, maxAge: deps.handoffs.ttlSeconds * 1000 + 60_000 });
    await show(ctx, it, handoff);
  });

  router.get('/interaction/:uid/qr/status', async (ctx) => {
    const it = await load(ctx, false);
    if (!it) return;
    const current = await deps.handoffs.state(it.uid, secretOf(ctx));
    ctx.set('cache-control', 'no-store');
    if (current.state === 'other_browser' || current.state === 'none') ctx.status = 403;
    ctx.body = { status: current.state };
  });

  /**
   * The browser's next step once the phone decided. `confirmed`: its user answered the question
   * whose account this is (`qrConfirmPage`); until then an approval only asks it.
   */
  async function proceed(ctx: Context, confirmed: boolean) {
    const it = await load(ctx, true);
    if (!it) return;
    const t = handoffText(it.locale);
    const current = await deps.handoffs.state(it.uid, secretOf(ctx));
    switch (current.state) {
      case 'none':
        return end(ctx, it, 400, t.expired, true);
      case 'other_browser':
        return end(ctx, it, 403, t.otherBrowser, false);
      case 'expired':
        return end(ctx, it, 400, t.expired, true);
      case 'denied':
        await deps.handoffs.finish(it.uid);
        return end(ctx, it, 403, t.denied, true);
      case 'pending':
        ctx.status = 409;
        return show(ctx, it, current.handoff, t.notYet);
      case 'approved': {
        const authentication = current.approval?.decision?.authentication;
        if (!authentication) return end(ctx, it, 400, t.expired, true);
        if (!confirmed) {
          const account = await deps.accounts.findBySub(authentication.accountId);
          if (!account) return end(ctx, it, 400, t.expired, true);
          const maskedName = maskName(account.name);
          const idTail = account.citizenId().slice(-4);
          ctx.set('cache-control', 'no-store');
          const approval = current.handoff.approvalId;
          return htmlPage(ctx, (nonce) => qrConfirmPage({ locale: it.locale, nonce, uid: it.uid, csrf: it.csrf, approval, clientName: it.clientName, maskedName, idTail }));
        }
        // The answer is to the question this browser was shown, about this very approval: not to a
        // code approved since (a reload started a new one, and a stranger approved it first), and
        // not a post that skipped the question, which the QR page alone cannot make.
        if (it.form.approval !== current.handoff.approvalId) {
          ctx.status = 409;
          return show(ctx, it, current.handoff, t.notYet);
        }
        // Single use: of two completions racing, one wins; the other sees the hand-off gone.
        if (!(await deps.handoffs.finish(it.uid))) return end(ctx, it, 400, t.expired, true);
        ctx.cookies.set(COOKIE, null, { path: `/interaction/${it.uid}` });
        const returnTo = await completeLogin(ctx, deps, it, authentication, { method: 'qr_handoff', approvalId: current.handoff.approvalId });
        ctx.status = 303;
        return ctx.redirect(returnTo);
      }
    }
  }

  router.post('/interaction/:uid/qr/complete', (ctx) => proceed(ctx, false));
  router.post('/interaction/:uid/qr/confirm', (ctx) => proceed(ctx, true));
}
