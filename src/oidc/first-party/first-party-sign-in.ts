import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { AdapterConstructor, AdapterPayload } from '../../storage/oidc-adapter.js';
import type { FirstPartyClient } from './first-party-client.js';

const TRANSACTION_SECONDS = 600;
export const randomToken = () => randomBytes(32).toString('base64url');

/** What a first-party app remembers between sending the browser to /auth and its return. */
interface LoginTransaction<L extends string> {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  locale: L;
}

/** The token response fields every first-party sign-in needs; an app extends it with what it uses. */
export const baseTokenResponse = z.object({ access_token: z.string().min(1), id_token: z.string().min(1) });
type BaseTokens = z.infer<typeof baseTokenResponse>;

export type FirstPartyOutcome<T, L extends string> =
  | { ok: true; tokens: T; claims: JWTPayload & { sub: string }; returnTo: string; locale: L }
  | { ok: false; reason: string; locale: L | undefined };

/** What an app's sign-in (the portal's, the console's) is built from. */
export interface FirstPartySignInDeps {
  issuer: string;
  client: FirstPartyClient;
  Adapter: AdapterConstructor;
  provider: () => Provider;
  timeoutMs?: number;
}

/**
 * A first-party app signs in as an ordinary relying party of Yihao: authorization code with PKCE
 * (S256), state and nonce kept server-side; the code is redeemed at the issuer's token endpoint
 * with the app's client secret and the ID token is verified against the issuer's published keys.
 * What the app does with the tokens afterwards is its own business.
 */
export function firstPartySignIn<T extends BaseTokens, L extends string>({ issuer, client, Adapter, transactionModel, scope, tokenResponse, resource, authorizationParams = {}, timeoutMs = 10_000 }: {
  issuer: string;
  client: FirstPartyClient;
  Adapter: AdapterConstructor;
  /** Adapter model holding the login transactions; existing deployments depend on the name. */
  transactionModel: string;
  scope: string;
  tokenResponse: z.ZodType<T>;
  /** Resource indicator sent with the authorization and token requests. */
  resource?: string;
  /** Fixed parameters sent with every authorization request, after the redirect URI. */
  authorizationParams?: Record<string, string>;
  timeoutMs?: number;
}) {
  const transactions = new Adapter(transactionModel);
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { timeoutDuration: timeoutMs });
  const withResource: Record<string, string> = resource ? { resource } : {};

  async function redeem(code: string, verifier: string): Promise<T | undefined> {
    const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`).toString('base64');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, ...withResource }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    const parsed = tokenResponse.safeParse(await res.json());
    return parsed.success ? parsed.data : undefined;
  }

  return {
    /** Starts a sign-in: returns the transaction id (for a cookie) and where to send the browser. */
    async begin({ returnTo, locale, params = {} }: { returnTo: string; locale: L; params?: Record<string, string> }): Promise<{ transactionId: string; authorizationUrl: string }> {
      const tx: LoginTransaction<L> = { state: randomToken(), nonce: randomToken(), verifier: randomToken(), returnTo, locale };
      const transactionId = randomToken();
      await transactions.upsert(transactionId, { ...tx } as AdapterPayload, TRANSACTION_SECONDS);
      const url = new URL(`${issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: client.clientId,
        response_type: 'code',
        scope,
        redirect_uri: client.redirectUri,
        ...withResource,
        ...authorizationParams,
        state: tx.state,
        nonce: tx.nonce,
        code_challenge: createHash('sha256').update(tx.verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ui_locales: locale,
        ...params,
      }).toString();
      return { transactionId, authorizationUrl: url.href };
    },

    /** Finishes a sign-in from the callback's query, up to a verified ID token. The transaction is single-use. */
    async complete(transactionId: string | undefined, query: Record<string, unknown>): Promise<FirstPartyOutcome<T, L>> {
      const stored = transactionId ? ((await transactions.find(transactionId)) as (AdapterPayload & LoginTransaction<L>) | undefined) : undefined;
      if (!stored || stored.consumed) return { ok: false, reason: 'no_transaction', locale: undefined };
      const fail = (reason: string): FirstPartyOutcome<T, L> => ({ ok: false, reason, locale: stored.locale });
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
      return { ok: true, tokens, claims: claims as JWTPayload & { sub: string }, returnTo: stored.returnTo, locale: stored.locale };
    },
  };
}
