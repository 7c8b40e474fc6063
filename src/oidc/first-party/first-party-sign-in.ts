import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import * as oidc from 'openid-client';
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
 * A first-party app signs in as an ordinary relying party of Yihao, through openid-client:
 * authorization code with PKCE (S256), state and nonce kept server-side; the code is redeemed at the
 * issuer's token endpoint with the app's client secret, and openid-client checks the response's
 * `iss`, the state, the nonce and the ID token (its claims, and its signature against the issuer's
 * published keys). What the app does with the tokens afterwards is its own business.
 */
export function firstPartySignIn<T extends BaseTokens, L extends string>({ issuer, client, Adapter, provider, transactionModel, scope, tokenResponse, resource, authorizationParams = {}, timeoutMs = 10_000 }: {
  issuer: string;
  client: FirstPartyClient;
  Adapter: AdapterConstructor;
  /** The live provider: a new one (after a signing-key reload) means new keys to fetch. */
  provider: () => Provider;
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
  const withResource: Record<string, string> = resource ? { resource } : {};
  // openid-client caches the issuer's JWKS for up to a minute and refetches only after that, so
  // right after a key rotation it would refuse ID tokens signed with the new key. This instance
  // rebuilds its provider when the keys change: a fresh view of the issuer (and its keys) with it.
  let built: { for: Provider; config: oidc.Configuration } | undefined;
  const configuration = (): oidc.Configuration => {
    const current = provider();
    if (built?.for !== current) built = { for: current, config: ownIssuer(issuer, client, timeoutMs) };
    return built.config;
  };

  return {
    /** Starts a sign-in: returns the transaction id (for a cookie) and where to send the browser. */
    async begin({ returnTo, locale, params = {} }: { returnTo: string; locale: L; params?: Record<string, string> }): Promise<{ transactionId: string; authorizationUrl: string }> {
      const tx: LoginTransaction<L> = { state: randomToken(), nonce: randomToken(), verifier: randomToken(), returnTo, locale };
      const transactionId = randomToken();
      await transactions.upsert(transactionId, { ...tx } as AdapterPayload, TRANSACTION_SECONDS);
      const url = oidc.buildAuthorizationUrl(configuration(), {
        response_type: 'code',
        scope,
        redirect_uri: client.redirectUri,
        ...withResource,
        ...authorizationParams,
        state: tx.state,
        nonce: tx.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(tx.verifier),
        code_challenge_method: 'S256',
        ui_locales: locale,
        ...params,
      });
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

      let granted;
      try {
        granted = await oidc.authorizationCodeGrant(configuration(), callbackUrl(client.redirectUri, query), { pkceCodeVerifier: stored.verifier, expectedState: stored.state, expectedNonce: stored.nonce, idTokenExpected: true }, withResource);
      } catch (e) {
        return fail(idTokenProblem(e) ? 'invalid_id_token' : 'token_exchange_failed');
      }
      const tokens = tokenResponse.safeParse({ ...granted });
      if (!tokens.success) return fail('token_exchange_failed');
      const claims = granted.claims();
      if (!claims || typeof claims.sub !== 'string') return fail('invalid_id_token');
      return { ok: true, tokens: tokens.data, claims: claims as JWTPayload & { sub: string }, returnTo: stored.returnTo, locale: stored.locale };
    },
  };
}

/**
 * openid-client's view of Yihao, for one of its own apps. The metadata is stated rather than
 * discovered: the app and the provider are one deployment, on oidc-provider's default routes, so
 * there is nothing to learn and no start-up request that could fail. The requests go to the issuer
 * as any relying party's would (not through the outbound guard, which is for other parties' URLs).
 * The ID token's signature is checked against the published keys too (openid-client otherwise
 * trusts TLS for it), as before.
 */
function ownIssuer(issuer: string, client: FirstPartyClient, timeoutMs: number): oidc.Configuration {
  const config = new oidc.Configuration(
    {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      authorization_response_iss_parameter_supported: true,
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      code_challenge_methods_supported: ['S256'],
    },
    client.clientId,
    { redirect_uris: [client.redirectUri] },
    oidc.ClientSecretBasic(client.secret),
  );
  config.timeout = Math.max(1, Math.ceil(timeoutMs / 1000));
  if (new URL(issuer).protocol === 'http:') oidc.allowInsecureRequests(config);
  oidc.enableNonRepudiationChecks(config);
  return config;
}

/** The callback as openid-client reads it: the redirect URI with the query's single-valued parameters. */
function callbackUrl(redirectUri: string, query: Record<string, unknown>): URL {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(query)) if (typeof v === 'string') url.searchParams.set(k, v);
  return url;
}

/** The codes openid-client gives a token endpoint that answered, but not with a token response. */
const UNUSABLE_ANSWER = new Set(['OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_PARSE_ERROR']);

/**
 * Whether openid-client refused what came back (the ID token, its signature or claims, the
 * response's iss) rather than failed to get it (an error answer, no answer, a timeout).
 */
function idTokenProblem(e: unknown): boolean {
  return e instanceof oidc.ClientError && !UNUSABLE_ANSWER.has(e.code ?? '');
}
