import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { readForm } from '../http/form-body.js';
import { completeLogin, fail, loadInteraction, refuseUnreachableLevel, rememberAddress, renderLogin, type InteractionDeps, type LoadedInteraction, type Locale } from '../interactions/index.js';
import { requestedAcr } from '../oidc/acr-policy.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { asksAfresh, type FederatedSignIn, type SignInOutcome } from './federated-sign-in.js';
import { federationMessages, refusalText } from './messages.js';
import { UpstreamUnavailableError } from './upstream-clients.js';
import type { UpstreamStore } from './upstream-store.js';
import type { Upstream } from './upstream.js';
import type { UpstreamLogout } from './upstream-logout.js';
import { backchannelLogoutPath, CALLBACK_PATH } from './paths.js';

/** The cookie that ties the upstream's redirect back to the browser that was sent there. */
const BINDING_COOKIE = 'yihao_fed';

export interface FederationRouteDeps extends InteractionDeps {
  upstreams: UpstreamStore;
  signIn: FederatedSignIn;
  logout: UpstreamLogout;
  Adapter: AdapterConstructor;
  /** Cookies are `secure` when the issuer is https. */
  secureCookies: boolean;
}

const label = (upstream: Pick<Upstream, 'displayName' | 'displayNameEn'>, it: LoadedInteraction) => (it.locale === 'en' ? upstream.displayNameEn : upstream.displayName);
const ttlOf = (it: LoadedInteraction) => it.details.exp - Math.floor(Date.now() / 1000);
const nameParam = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/);

/**
 * - `POST /interaction/:uid/federation/:name`: the "Sign in with <name>" button; off to the upstream.
 * - `GET /federation/callback`: the upstream's redirect back (one fixed URL for every upstream).
 * - `GET /interaction/:uid/federation-result`: finishes the login prompt, or shows why not.
 * - `POST /federation/:name/backchannel-logout`: the upstream's back-channel logout.
 */
export function federationRouter(deps: FederationRouteDeps): Router {
  const router = new Router();
  // What the callback decided, kept for the interaction's own page: the `_interaction` cookie is
  // scoped to /interaction/<uid>, so only there can the login prompt be finished.
  const outcomes = new deps.Adapter('FederationOutcome');

  router.post('/interaction/:uid/federation/:name', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    if (await refuseUnreachableLevel(ctx, deps, it)) return;
    const name = nameParam.safeParse(ctx.params.name);
    const upstream = name.success ? await deps.upstreams.find(name.data) : undefined;
    if (upstream?.status !== 'active' || !upstream.channels.includes('web') || !it.loginOptions.some((o) => o.path === `federation/${upstream.name}`)) {
      ctx.status = 400;
      return renderLogin(ctx, it, { error: refusalText(it.locale, 'upstream_disabled', upstream ? label(upstream, it) : String(ctx.params.name).slice(0, 32)) });
    }
    return toUpstream(ctx, it, upstream, String(it.details.params.prompt ?? '').split(' ').includes('login'));
  });

  /** Sends the browser to the upstream for this interaction (`freshLogin`: with `prompt=login`). */
  async function toUpstream(ctx: Context, it: LoadedInteraction, upstream: Upstream, freshLogin: boolean): Promise<void> {
    let started: Awaited<ReturnType<FederatedSignIn['start']>>;
    try {
      const { params } = it.details;
      started = await deps.signIn.start(upstream, {
        uid: it.uid,
        clientId: String(params.client_id),
        ttlSeconds: ttlOf(it),
        wantedAcr: requestedAcr(params),
        freshLogin,
        maxAge: /^\d{1,9}$/.test(String(params.max_age ?? '')) ? Number(params.max_age) : undefined,
        uiLocales: params.ui_locales,
      });
    } catch (e) {
      if (!(e instanceof UpstreamUnavailableError)) throw e;
      await deps.audit.append({
        action: 'federation.unavailable',
        actorType: 'system',
        clientId: String(it.details.params.client_id),
        channel: 'web',
        details: { upstream: upstream.name, reason: e.reason },
        ip: ctx.ip,
        requestId: ctx.state.requestId as string,
      });
      ctx.status = 503;
      ctx.set('retry-after', '60');
      return renderLogin(ctx, it, { error: federationMessages(it.locale).unavailable(label(upstream, it)) });
    }
    ctx.cookies.set(BINDING_COOKIE, started.browserValue, {
      path: CALLBACK_PATH,
      httpOnly: true,
      sameSite: 'lax',
      signed: true,
      secure: deps.secureCookies,
      maxAge: Math.max(1, ttlOf(it)) * 1000,
      overwrite: true,
    });
    ctx.status = 303;
    ctx.redirect(started.url.href);
  }

  router.get(CALLBACK_PATH, async (ctx) => {
    const query = ctx.URL.searchParams;
    // The upstream echoes only the standard parameters; anything odd is refused before any lookup.
    if ([...query.keys()].some((k) => !['code', 'state', 'iss', 'error', 'error_description', 'error_uri', 'session_state'].includes(k)) || (query.get('state')?.length ?? 0) > 128) {
      return fail(ctx, 400, 'zh-CN', federationMessages('zh-CN').expired, 'invalid_request');
    }
    const current = new URL(`${deps.provider().issuer}${CALLBACK_PATH}?${query.toString()}`);
    const result = await deps.signIn.callback(current, ctx.cookies.get(BINDING_COOKIE, { signed: true }), { ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    ctx.cookies.set(BINDING_COOKIE, null, { path: CALLBACK_PATH });
    if ('refused' in result) {
      // No interaction to take the language from: the browser's first preference, zh-CN by default.
      const locale: Locale = /^en\b/i.test(ctx.get('accept-language')) ? 'en' : 'zh-CN';
      return fail(ctx, 400, locale, federationMessages(locale).expired, result.refused);
    }
    await outcomes.upsert(result.interactionUid, { ...result.outcome } as never, 600);
    ctx.status = 303;
    ctx.redirect(`/interaction/${result.interactionUid}/federation-result`);
  });

  router.get('/interaction/:uid/federation-result', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: false, prompt: 'login' });
    if (!it) return;
    const outcome = (await outcomes.find(it.uid)) as SignInOutcome | undefined;
    await outcomes.destroy(it.uid);
    if (!outcome) {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${it.uid}`);
    }
    if (!outcome.ok) {
      const upstream = await deps.upstreams.find(outcome.upstream);
      // Its single sign-on predates the account's sign-out everywhere, or its time is unknown where it
      // matters: back to it, to sign in afresh.
      if (asksAfresh(outcome.reason) && upstream?.status === 'active') return toUpstream(ctx, it, upstream, true);
      ctx.status = outcome.reason === 'upstream_unavailable' || outcome.reason === 'registry_unavailable' ? 503 : 403;
      return renderLogin(ctx, it, { error: refusalText(it.locale, outcome.reason, upstream ? label(upstream, it) : outcome.upstream) });
    }
    await rememberAddress(ctx, deps, outcome.authentication.accountId);
    const returnTo = await completeLogin(ctx, deps, it, outcome.authentication, { method: 'fed', upstream: outcome.upstream, linked: outcome.how });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.post(backchannelLogoutPath(':name'), async (ctx: Context) => {
    ctx.set('cache-control', 'no-store');
    const name = nameParam.safeParse(ctx.params.name);
    let token: string | undefined;
    try {
      token = (await readForm(ctx, deps.bodyMaxBytes)).logout_token;
    } catch {
      token = undefined;
    }
    if (!name.success || !token) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'a logout_token form parameter is required' };
      return;
    }
    const result = await deps.logout.receive(name.data, token, { ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if (!result.ok) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: result.problem };
      return;
    }
    ctx.status = 200;
    ctx.body = '';
  });

  return router;
}
