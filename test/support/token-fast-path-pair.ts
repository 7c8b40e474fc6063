/**
 * Two instances on one store for the token fast path's tests (src/oidc/token-fast-path.ts): `fast`,
 * and `reference` without the fast paths (oidc-provider's pipeline only), asked the same things.
 * Each instance's grants of one type (refresh_token unless told) are watched through oidc-provider's
 * events: who answered (the pipeline parses the body into its context, the fast path does not), and
 * why a grant was refused.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import * as oidc from 'openid-client';
import type Provider from 'oidc-provider';
import { startHarness, type Backend, type Harness } from './harness.js';
import { authorizationUrl, relyingParty } from './relying-party.js';
import { ScriptedBrowser, scriptedSignIn } from './scripted-browser.js';

export const FORM = 'application/x-www-form-urlencoded';
/** Headers that differ between any two answers (or instances) whatever answered them. */
const VARYING = new Set(['date', 'x-request-id', 'keep-alive', 'connection', 'content-length']);

export type TokenRequest = { headers: Record<string, string>; body: string };
/** Who answered a grant, and why oidc-provider refused it (its error_detail). */
export type Seen = { by: 'fast path' | 'oidc-provider'; outcome: 'success' | 'error'; detail?: string | undefined };
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The watched grants this request ran on the instance asked. */
  seen: Seen[];
}

export const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
export const refreshOf = (token: string, extra = '') => `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}${extra}`;

/** The web app both instances serve, signing citizens in with a client secret. */
export interface PairApp {
  client_id: string;
  client_secret: string;
  rp: oidc.Configuration;
}

export function tokenFastPathPair(backend: Backend, enabled: boolean, grantType = 'refresh_token') {
  let fast: Harness | undefined;
  let reference: Harness | undefined;
  let app: PairApp | undefined;
  const seen = new Map<Harness, Seen[]>();
  const watch = (h: Harness) => {
    seen.set(h, []);
    const provider = h.yihao.holder.current as Provider;
    const by = (ctx: unknown) => ((ctx as { oidc: { body?: unknown } }).oidc.body === undefined ? 'fast path' : 'oidc-provider');
    const watched = (ctx: unknown) => {
      const type = (ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type;
      return type === grantType || (Array.isArray(type) && type.includes(grantType));
    };
    provider.on('grant.success', (ctx) => {
      if (watched(ctx)) seen.get(h)!.push({ by: by(ctx), outcome: 'success' });
    });
    provider.on('grant.error', (ctx, err) => {
      if (watched(ctx)) seen.get(h)!.push({ by: by(ctx), outcome: 'error', detail: (err as { error_detail?: string }).error_detail });
    });
  };

  beforeAll(async () => {
    if (!enabled) return;
    fast = await startHarness({ backend });
    reference = await startHarness({ share: fast, fastPaths: false });
    watch(fast);
    watch(reference);
    const made = await fast.client({ grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid profile phone' });
    app = { client_id: made.client_id, client_secret: made.client_secret!, rp: await relyingParty(fast, made) };
  });
  afterAll(async () => {
    await reference?.stop();
    await fast?.close();
  });

  return {
    get fast(): Harness {
      return fast!;
    },
    get reference(): Harness {
      return reference!;
    },
    get app(): PairApp {
      return app!;
    },
    /** A /token request from the app, its secret in the Authorization header. */
    asApp: (body: string, headers: Record<string, string> = {}): TokenRequest => ({
      headers: { authorization: basic(app!.client_id, app!.client_secret), 'content-type': FORM, ...headers },
      body,
    }),
    /** What `h`'s introspection says of an access token, asked by the app. */
    async introspect(h: Harness, token: string): Promise<Record<string, unknown>> {
      const res = await fetch(new URL('/token/introspection', h.url), {
        method: 'POST',
        headers: { authorization: basic(app!.client_id, app!.client_secret), 'content-type': FORM },
        body: `token=${encodeURIComponent(token)}`,
      });
      return (await res.json()) as Record<string, unknown>;
    },
    /**
     * One request on each instance (each with a code or token of its own): the same status and
     * recorded reason, and a refusal byte for byte; a success alike in its members (and, with
     * `headers`, its headers).
     */
    async sameOnBoth(onFastRequest: TokenRequest, onReferenceRequest: TokenRequest, what: string, { headers = false } = {}): Promise<{ onFast: Answer; onReference: Answer }> {
      const onFast = await this.ask(fast!, onFastRequest);
      const onReference = await this.ask(reference!, onReferenceRequest);
      expect(onFast.status, `${what}: fast ${onFast.body} vs reference ${onReference.body}`).toBe(onReference.status);
      expect(onFast.seen.map((s) => [s.outcome, s.detail]), what).toEqual(onReference.seen.map((s) => [s.outcome, s.detail]));
      if (onFast.status !== 200) {
        expect({ ...onFast, seen: [] }, what).toEqual({ ...onReference, seen: [] });
      } else {
        const f = JSON.parse(onFast.body) as Record<string, unknown>;
        const r = JSON.parse(onReference.body) as Record<string, unknown>;
        expect([f.scope, f.token_type, Object.keys(f).sort()], what).toEqual([r.scope, r.token_type, Object.keys(r).sort()]);
        if (headers) expect(onFast.headers, what).toEqual(onReference.headers);
      }
      return { onFast, onReference };
    },
    /** Every watched grant seen on `h` so far. */
    seen: (h: Harness): Seen[] => seen.get(h)!,

    async ask(h: Harness, init: TokenRequest): Promise<Answer> {
      const before = seen.get(h)!.length;
      const res = await fetch(new URL('/token', h.url), { method: 'POST', headers: init.headers, body: init.body });
      const headers = Object.fromEntries([...res.headers].filter(([name]) => !VARYING.has(name)));
      const body = await res.text();
      // Provider events fire before the answer is written: they are all in by now.
      return { status: res.status, headers, body, seen: seen.get(h)!.slice(before) };
    },

    /** A new citizen's sign-in to the app up to its redirect back: the code, not yet redeemed, and what redeems it. */
    async authorize(rp: oidc.Configuration, scope = 'openid profile phone'): Promise<{ callback: URL; code: string; verifier: string; state: string }> {
      const citizen = await fast!.citizen();
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = await authorizationUrl(rp, verifier, { scope, state });
      const callback = await scriptedSignIn(new ScriptedBrowser(), url, { identifier: citizen.citizenId, password: citizen.password });
      return { callback, code: callback.searchParams.get('code')!, verifier, state };
    },

    /** A new citizen's sign-in to the app: a fresh grant, and its first refresh token. */
    async signIn(rp: oidc.Configuration, scope = 'openid profile phone'): Promise<string> {
      const { callback, verifier, state } = await this.authorize(rp, scope);
      const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
      return tokens.refresh_token!;
    },
  };
}
