import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { AdapterConstructor, AdapterPayload } from '../../storage/oidc-adapter.js';
import { adminResource } from '../admin-resource.js';
import { OPERATOR_ACR } from '../operator-auth.js';
import type { ConsoleClient } from './console-client.js';
import type { Locale } from './i18n.js';

const TRANSACTION_SECONDS = 600;
const random = () => randomBytes(32).toString('base64url');

interface LoginTransaction {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  locale: Locale;
}

/** A console visit: who, and the admin API token it acts with (kept server-side only). */
export interface ConsoleSession {
  id: string;
  sub: string;
  name: string;
  accessToken: string;
  /** The Yihao session the sign-in rides on, so that signing out of the console ends it too. */
  sessionUid: string | undefined;
}

const tokenResponse = z.object({ access_token: z.string().min(1), id_token: z.string().min(1), expires_in: z.number().int().positive() });

/**
 * The console signs operators in as a relying party of Yihao: authorization code with PKCE, state
 * and nonce, asking for the admin resource at loa:2. The access token stays on the server, in the
 * console session, which lasts no longer than the token.
 */
export function consoleSignIn({ issuer, client, Adapter, provider, timeoutMs = 10_000 }: {
  issuer: string;
  client: ConsoleClient;
  Adapter: AdapterConstructor;
  provider: () => Provider;
  timeoutMs?: number;
}) {
  const transactions = new Adapter('AdminConsoleLogin');
  const sessions = new Adapter('AdminConsoleSession');
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`), { timeoutDuration: timeoutMs });
  const resource = adminResource(issuer);

  async function redeem(code: string, verifier: string) {
    const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.secret)}`).toString('base64');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, resource }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    const parsed = tokenResponse.safeParse(await res.json());
    return parsed.success ? parsed.data : undefined;
  }

  return {
    async begin(returnTo: string, locale: Locale): Promise<{ transactionId: string; authorizationUrl: string }> {
      const tx: LoginTransaction = { state: random(), nonce: random(), verifier: random(), returnTo, locale };
      const transactionId = random();
      await transactions.upsert(transactionId, { ...tx } as AdapterPayload, TRANSACTION_SECONDS);
      const url = new URL(`${issuer}/auth`);
      url.search = new URLSearchParams({
        client_id: client.clientId,
        response_type: 'code',
        scope: 'openid profile admin',
        redirect_uri: client.redirectUri,
        resource,
        acr_values: OPERATOR_ACR,
        state: tx.state,
        nonce: tx.nonce,
        code_challenge: createHash('sha256').update(tx.verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ui_locales: locale,
      }).toString();
      return { transactionId, authorizationUrl: url.href };
    },

    /** Finishes a sign-in from the callback's query; the transaction is single-use. */
    async complete(transactionId: string | undefined, query: Record<string, unknown>): Promise<{ ok: true; session: ConsoleSession; returnTo: string } | { ok: false; reason: string }> {
      const stored = transactionId ? ((await transactions.find(transactionId)) as (AdapterPayload & LoginTransaction) | undefined) : undefined;
      if (!stored) return { ok: false, reason: 'no_transaction' };
      await transactions.destroy(transactionId!);
      if (typeof query.state !== 'string' || query.state !== stored.state) return { ok: false, reason: 'state_mismatch' };
      if (typeof query.error === 'string') return { ok: false, reason: query.error.slice(0, 64) };
      if (typeof query.code !== 'string' || !query.code) return { ok: false, reason: 'no_code' };
      const tokens = await redeem(query.code, stored.verifier).catch(() => undefined);
      if (!tokens) return { ok: false, reason: 'token_exchange_failed' };
      let claims;
      try {
        ({ payload: claims } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: client.clientId, algorithms: ['ES256', 'RS256'] }));
      } catch {
        return { ok: false, reason: 'invalid_id_token' };
      }
      if (claims.nonce !== stored.nonce || typeof claims.sub !== 'string') return { ok: false, reason: 'invalid_id_token' };
      const sessionUid = (await provider().AccessToken.find(tokens.access_token))?.sessionUid as string | undefined;
      const session: ConsoleSession = { id: random(), sub: claims.sub, name: typeof claims.name === 'string' ? claims.name : claims.sub, accessToken: tokens.access_token, sessionUid };
      const { id, ...payload } = session;
      await sessions.upsert(id, payload as AdapterPayload, tokens.expires_in);
      return { ok: true, session, returnTo: stored.returnTo };
    },

    async find(id: string): Promise<ConsoleSession | undefined> {
      const payload = (await sessions.find(id)) as Omit<ConsoleSession, 'id'> | undefined;
      return payload && typeof payload.accessToken === 'string' ? { ...payload, id } : undefined;
    },

    async end(id: string): Promise<void> {
      await sessions.destroy(id);
    },
  };
}
export type ConsoleSignIn = ReturnType<typeof consoleSignIn>;
