import { createHash, randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import type { AdapterConstructor, AdapterPayload } from '../storage/oidc-adapter.js';
import { PORTAL_SCOPE, type PortalClient } from './portal-client.js';
import type { Locale } from './i18n.js';

const TRANSACTION_SECONDS = 600;
const random = () => randomBytes(32).toString('base64url');

/** What the portal remembers between sending the browser to /auth and its return. */
interface LoginTransaction {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  locale: Locale;
}

/** A finished sign-in: who, and which Yihao session of this browser it rides on. */
export interface PortalSignIn {
  sub: string;
  sessionUid: string;
  /** Epoch seconds. */
  authTime: number;
  acr: string | undefined;
  amr: string[];
  returnTo: string;
  locale: Locale;
}

export type SignInOutcome = { ok: true; signIn: PortalSignIn } | { ok: false; reason: string; locale: Locale | undefined };

const tokenResponse = z.object({ access_token: z.string().min(1), id_token: z.string().min(1), token_type: z.string() });

/**
 * The portal signs citizens in as an ordinary relying party of Yihao: authorization code with
 * PKCE (S256), state and nonce; the code is redeemed at the issuer's token endpoint with the
 * portal's client secret and the ID token is verified against the issuer's published keys.
 */
export function portalRelyingParty({ issuer, client, Adapter, provider, timeoutMs = 10_000 }: {
  issuer: string;
  client: PortalClient;
  Adapter: AdapterConstructor;
  provider: () => Provider;
  timeoutMs?: number;
}) {
  const transactions = new Adapter('PortalLogin');
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { timeoutDuration: timeoutMs });

  async function redeem(code: string, verifier: string): Promise<z.infer<typeof tokenResponse> | undefined> {
    const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`).toString('base64');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    const parsed = tokenResponse.safeParse(await res.json());
    return parsed.success ? parsed.data : undefined;
  }

  return {
    /** Starts a sign-in: returns the transaction id (for a cookie) and where to send the browser. */
    async begin({ returnTo, locale, reauthenticate = false, acr }: { returnTo: string; locale: Locale; reauthenticate?: boolean; acr?: string }): Promise<{ transactionId: string; authorizationUrl: string }> {
      const tx: LoginTransaction = { state: random(), nonce: random(), verifier: random(), returnTo, locale };
      const transactionId = random();
      await transactions.upsert(transactionId, { ...tx } as AdapterPayload, TRANSACTION_SECONDS);
      const url = new URL(`${issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: client.clientId,
        response_type: 'code',
        scope: PORTAL_SCOPE,
        redirect_uri: client.redirectUri,
        state: tx.state,
        nonce: tx.nonce,
        code_challenge: createHash('sha256').update(tx.verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ui_locales: locale,
        // A sensitive change needs a sign-in made just now, not the session's old one.
        ...(reauthenticate ? { prompt: 'login' } : {}),
        ...(acr ? { acr_values: acr } : {}),
      }).toString();
      return { transactionId, authorizationUrl: url.href };
    },

    /** Finishes a sign-in from the callback's query. The transaction is single-use. */
    async complete(transactionId: string | undefined, query: Record<string, unknown>): Promise<SignInOutcome> {
      const stored = transactionId ? ((await transactions.find(transactionId)) as (AdapterPayload & LoginTransaction) | undefined) : undefined;
      if (!stored || stored.consumed) return { ok: false, reason: 'no_transaction', locale: undefined };
      const fail = (reason: string): SignInOutcome => ({ ok: false, reason, locale: stored.locale });
      try {
        await transactions.consume(transactionId!);
      } catch {
        return fail('no_transaction');
      }
      await transactions.destroy(transactionId!);
      if (typeof query.state !== 'string' || query.state !== stored.state) return fail('state_mismatch');
      if (typeof query.error === 'string') return fail(query.error.slice(0, 64));
      if (typeof query.code !== 'string' || !query.code) return fail('no_code');

      const tokens = await redeem(query.code, stored.verifier).catch(() => undefined);
      if (!tokens) return fail('token_exchange_failed');
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: client.clientId, algorithms: ['ES256', 'RS256'] }));
      } catch {
        return fail('invalid_id_token');
      }
      if (claims.nonce !== stored.nonce || typeof claims.sub !== 'string') return fail('invalid_id_token');

      // The access token is opaque and ours: it names the Yihao session the sign-in belongs to.
      // The portal calls no API with it, so it is destroyed at once.
      const accessToken = await provider().AccessToken.find(tokens.access_token);
      const sessionUid = accessToken?.sessionUid as string | undefined;
      if (!accessToken || accessToken.clientId !== client.clientId || accessToken.accountId !== claims.sub || !sessionUid) return fail('no_session');
      await accessToken.destroy();

      return {
        ok: true,
        signIn: {
          sub: claims.sub,
          sessionUid,
          authTime: typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(Date.now() / 1000),
          acr: typeof claims.acr === 'string' ? claims.acr : undefined,
          amr: Array.isArray(claims.amr) ? claims.amr.filter((a): a is string => typeof a === 'string') : [],
          returnTo: stored.returnTo,
          locale: stored.locale,
        },
      };
    },
  };
}
export type PortalRelyingParty = ReturnType<typeof portalRelyingParty>;
