/**
 * A real second OpenID Provider for federation tests: a plain `oidc-provider` on 127.0.0.1, the way
 * a province's unified authentication platform would look to Yihao. Its citizens are a table the
 * test fills (claims, acr and amr per login name). Its login page is one form with a "login"
 * field, so scripted walks and Chromium can both sign in. Never a mock: discovery, PKCE, signed ID
 * tokens, userinfo, JWKS and back-channel logout are oidc-provider's own.
 */
import Router from '@koa/router';
import Koa from 'koa';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { Server } from 'node:http';
import { freePort } from './harness.js';
import { readForm } from '../../src/http/form-body.js';
import type { Harness } from './harness.js';
import { formAction, formField, go, page, submit, type ScriptedBrowser, type Step } from './scripted-browser.js';

export interface UpstreamCitizen {
  claims: Record<string, unknown>;
  acr?: string;
  amr?: string[];
  /** Epoch seconds the upstream states as the login's time, whatever it is asked (a stale single sign-on). */
  authTime?: number;
}

export interface UpstreamOp {
  issuer: string;
  provider: Provider;
  clientId: string;
  clientSecret: string;
  /** Login name -> what the upstream asserts about that person. */
  citizens: Map<string, UpstreamCitizen>;
  /** Every back-channel logout token this provider sent (to Yihao). */
  logoutTokens: string[];
  /** The parameters of every authorization request that reached this provider's login page (pushed ones too). */
  authorizationRequests: Record<string, unknown>[];
  /** Its HTTP server: test/support/lying-upstream.ts makes its answers lie. */
  server: Server;
  /** Signs a JWT with this provider's own published key, for tests that craft logout tokens. */
  sign(payload: Record<string, unknown>, typ?: string): Promise<string>;
  /** The upstream session id (sid) for Yihao's client, from the session cookie a browser holds. */
  sidFor(cookieHeader: string): Promise<string | undefined>;
  close(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startUpstreamOp(opts: {
  /** Yihao's issuer: the client registered here calls back to Yihao. */
  yihaoIssuer: string;
  /** The name Yihao knows this upstream by (its back-channel logout URL has it). */
  name: string;
  /** A second client (for tests that must get tokens for another audience). */
  otherClient?: boolean;
  /** Yihao authenticates with private_key_jwt, with this public key (from `yihao idp add --private-key-jwt`). */
  clientJwk?: Record<string, unknown>;
  /** false: no RP-initiated logout, so discovery has no end_session_endpoint. */
  endSession?: boolean;
  /** 'minimal': scope claims (the citizen ID among them) in userinfo only, not in the ID token. */
  idTokenClaims?: 'minimal';
  /**
   * When its ID tokens say when the citizen logged in (auth_time): 'always' (the default, as a
   * province's platform would); 'when_asked' (only for a request with max_age or prompt=login, the
   * least OpenID Connect allows); 'never' (whatever it is asked).
   */
  authTime?: 'always' | 'when_asked' | 'never';
}): Promise<UpstreamOp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const citizens = new Map<string, UpstreamCitizen>();
  const logoutTokens: string[] = [];
  const authorizationRequests: Record<string, unknown>[] = [];
  const clientId = `yihao-${opts.name}`;
  const clientSecret = `secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const configuration: Configuration = {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: `up-${port}`, alg: 'RS256', use: 'sig' } as JWK] },
    ttl: { Interaction: 600, Grant: 3600, Session: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    clients: [
      {
        client_id: clientId,
        ...(opts.clientJwk
          ? { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [opts.clientJwk as JWK] }, token_endpoint_auth_signing_alg: 'ES256' }
          : { client_secret: clientSecret }),
        redirect_uris: [`${opts.yihaoIssuer}/federation/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        backchannel_logout_uri: `${opts.yihaoIssuer}/federation/${opts.name}/backchannel-logout`,
        backchannel_logout_session_required: true,
        // Where Yihao has the browser come back after signing the citizen out here.
        post_logout_redirect_uris: [`${opts.yihaoIssuer}/federation/signed-out`],
        id_token_signed_response_alg: 'RS256',
        require_auth_time: (opts.authTime ?? 'always') === 'always',
      },
      ...(opts.otherClient
        ? [{ client_id: 'another-app', client_secret: 'another-secret', redirect_uris: ['http://127.0.0.1:9/cb'], grant_types: ['authorization_code'] }]
        : []),
    ],
    // Cookie names of its own: in tests both providers live on 127.0.0.1, and browsers share
    // cookies across ports of one host.
    cookies: { keys: ['upstream-test-cookie-key-0123456789abcdef'], names: { session: '_up_session', interaction: '_up_interaction', resume: '_up_resume' } },
    claims: { openid: ['sub', 'acr', 'amr', 'sid'], profile: ['name'], phone: ['phone_number', 'phone_number_verified', 'mobile', 'mobile_verified'], citizen_id: ['citizen_id', 'id_number'] },
    scopes: ['openid', 'profile', 'phone', 'citizen_id'],
    // Scope claims go into the ID token as well as userinfo (unless idTokenClaims is 'minimal').
    conformIdTokenClaims: opts.idTokenClaims === 'minimal',
    acrValues: ['urn:upstream:password', 'urn:upstream:strong', 'urn:yihao:loa:1', 'urn:yihao:loa:2', 'urn:yihao:loa:3'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      rpInitiatedLogout: { enabled: opts.endSession !== false },
    },
    async findAccount(_ctx, sub) {
      const citizen = citizens.get(sub);
      if (!citizen) return undefined;
      return { accountId: sub, claims: async () => ({ sub, ...citizen.claims }) };
    },
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      if (!oidc.session?.accountId || !oidc.client) return undefined;
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope([...(oidc.requestParamOIDCScopes as Set<string>)].join(' '));
      await grant.save();
      return grant;
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Back-channel logout goes to Yihao on 127.0.0.1: this test provider skips its own SSRF guard.
    fetch: (url, options) => {
      const { dispatcher: _d, ...rest } = options as RequestInit & { dispatcher?: unknown };
      const token = new URLSearchParams(String(rest.body ?? '')).get('logout_token');
      if (token) logoutTokens.push(token);
      return globalThis.fetch(url, rest);
    },
  };
  const provider = new Provider(issuer, configuration);
  if (opts.authTime === 'never') {
    // oidc-provider states auth_time whenever it is asked for (max_age, prompt=login): this
    // upstream takes it out of the ID token and signs it again with the same key.
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (ctx.path !== '/token' || typeof body?.id_token !== 'string') return;
      const { auth_time: _dropped, ...claims } = decodeJwt(body.id_token);
      body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: `up-${port}` }).sign(privateKey);
    });
  }

  const router = new Router();
  router.get('/interaction/:uid', async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    authorizationRequests.push({ ...details.params });
    ctx.type = 'html';
    ctx.body = `<!doctype html><html lang="en"><head><title>Province sign-in</title></head><body>
<h1>Province unified sign-in</h1>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<label for="login">Login name</label><input id="login" name="login" autocomplete="off">
<button type="submit">Continue</button></form></body></html>`;
  });
  router.post('/interaction/:uid/login', async (ctx) => {
    const form = await readForm(ctx, 10_000);
    const citizen = citizens.get(form.login ?? '');
    if (!citizen) {
      ctx.status = 401;
      ctx.body = 'unknown login';
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: form.login!, ...(citizen.acr ? { acr: citizen.acr } : {}), ...(citizen.amr ? { amr: citizen.amr } : {}), ...(citizen.authTime ? { ts: citizen.authTime } : {}) } }, { mergeWithLastSubmission: false });
  });

  const app = new Koa();
  app.use(router.routes());
  const handler = provider.callback();
  app.use(async (ctx) => {
    ctx.respond = false;
    await handler(ctx.req, ctx.res);
  });
  let server: Server | undefined;
  await new Promise<void>((resolve) => {
    server = app.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    issuer,
    provider,
    clientId,
    clientSecret,
    server: server!,
    citizens,
    logoutTokens,
    authorizationRequests,
    sign: (payload, typ = 'logout+jwt') => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: `up-${port}`, typ }).sign(privateKey),
    async sidFor(cookieHeader) {
      const id = /(?:^|; )_up_session=([^;]+)/.exec(cookieHeader)?.[1];
      const session = id ? await provider.Session.find(id) : undefined;
      return (session?.authorizations as Record<string, { sid?: string }> | undefined)?.[clientId]?.sid;
    },
    async close() {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    },
  };
}

/** Yihao's login page -> "Sign in with <upstream>" -> the upstream's login form -> back to Yihao. */
export async function federatedWalk(browser: ScriptedBrowser, h: Harness, up: UpstreamOp, name: string, login: string, start: URL): Promise<{ step: Step; callback?: URL }> {
  const origin = new URL(h.issuer).origin;
  const loginPage = page(await go(browser, start, origin));
  const res = await browser.request(new URL(formAction(loginPage.html, `/federation/${name}`)!, loginPage.url), { form: { csrf: formField(loginPage.html, 'csrf')! } });
  if (res.status !== 303) return { step: { kind: 'page', status: res.status, url: loginPage.url, html: await res.text() } };
  const upOrigin = new URL(up.issuer).origin;
  const atUpstream = await browser.follow(new URL(res.headers.get('location')!), {}, upOrigin);
  const form = await atUpstream.res.text();
  const back = await browser.follow(new URL(formAction(form, '/login')!, atUpstream.url), { form: { login } }, upOrigin);
  if (back.url.origin !== origin) throw new Error(`the upstream did not send the browser back to Yihao: ${back.res.status} ${back.url.href}`);
  let step = await go(browser, back.url, origin);
  if (step.kind === 'page' && formAction(step.html, '/confirm')) step = await submit(browser, step, '/confirm', {}, origin);
  return { step, callback: back.url };
}


/**
 * Whether the browser still has a session at the upstream: a prompt=none authorization for Yihao's
 * client there gets a code, or login_required once the citizen is signed out.
 */
export async function upstreamSession(browser: ScriptedBrowser, h: Harness, up: UpstreamOp): Promise<'alive' | 'login_required'> {
  const url = new URL(`${up.issuer}/auth`);
  url.search = new URLSearchParams({
    client_id: up.clientId,
    redirect_uri: `${h.issuer}/federation/callback`,
    response_type: 'code',
    scope: 'openid',
    prompt: 'none',
    state: 'probe',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  }).toString();
  const { url: back } = await browser.follow(url, {}, new URL(up.issuer).origin);
  if (back.searchParams.get('code')) return 'alive';
  if (back.searchParams.get('error') === 'login_required') return 'login_required';
  throw new Error(`unexpected answer from the upstream: ${back.href}`);
}

/** At the upstream's end_session_endpoint (where Yihao sent the browser): confirm, and follow on into Yihao. */
export async function confirmUpstreamSignOut(browser: ScriptedBrowser, h: Harness, endSessionUrl: URL): Promise<{ res: Response; url: URL }> {
  const confirmPage = await browser.request(endSessionUrl);
  const html = await confirmPage.text();
  const xsrf = formField(html, 'xsrf');
  const action = formAction(html, '/session/end/confirm');
  if (!xsrf || !action) throw new Error(`no sign-out form at the upstream (${confirmPage.status}): ${html.slice(0, 300)}`);
  return browser.follow(new URL(action, endSessionUrl), { form: { xsrf, logout: 'yes' } }, new URL(h.issuer).origin);
}
