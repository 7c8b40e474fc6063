import { z } from 'zod';
import { baseTokenResponse, firstPartySignIn, randomToken, type FirstPartySignInDeps } from '../../oidc/first-party/index.js';
import type { AdapterPayload } from '../../storage/oidc-adapter.js';
import { adminResource } from '../admin-resource.js';
import { OPERATOR_ACR } from '../operator-auth.js';
import { CONSOLE_SCOPE } from './console-client.js';
import type { Locale } from './i18n.js';

/** A console visit: who, and the admin API token it acts with (kept server-side only). */
export interface ConsoleSession {
  id: string;
  sub: string;
  name: string;
  accessToken: string;
  /** The Yihao session the sign-in rides on, so that signing out of the console ends it too. */
  sessionUid: string | undefined;
}

const tokenResponse = baseTokenResponse.extend({ expires_in: z.number().int().positive() });

/**
 * The console signs operators in as a relying party of Yihao (see oidc/first-party), asking for the
 * admin resource at loa:2. The access token stays on the server, in the console session, which
 * lasts no longer than the token.
 */
export function consoleSignIn({ issuer, client, Adapter, provider, timeoutMs = 10_000 }: FirstPartySignInDeps) {
  const rp = firstPartySignIn<z.infer<typeof tokenResponse>, Locale>({
    issuer,
    client,
    Adapter,
    provider,
    transactionModel: 'AdminConsoleLogin',
    scope: CONSOLE_SCOPE,
    tokenResponse,
    resource: adminResource(issuer),
    authorizationParams: { acr_values: OPERATOR_ACR },
    timeoutMs,
  });
  const sessions = new Adapter('AdminConsoleSession');

  return {
    begin(returnTo: string, locale: Locale): Promise<{ transactionId: string; authorizationUrl: string }> {
      return rp.begin({ returnTo, locale });
    },

    /** Finishes a sign-in from the callback's query; the transaction is single-use. */
    async complete(transactionId: string | undefined, query: Record<string, unknown>): Promise<{ ok: true; session: ConsoleSession; returnTo: string } | { ok: false; reason: string }> {
      const outcome = await rp.complete(transactionId, query);
      if (!outcome.ok) return { ok: false, reason: outcome.reason };
      const { tokens, claims } = outcome;
      const sessionUid = (await provider().AccessToken.find(tokens.access_token))?.sessionUid as string | undefined;
      const session: ConsoleSession = { id: randomToken(), sub: claims.sub, name: typeof claims.name === 'string' ? claims.name : claims.sub, accessToken: tokens.access_token, sessionUid };
      const { id, ...payload } = session;
      await sessions.upsert(id, payload as AdapterPayload, tokens.expires_in);
      return { ok: true, session, returnTo: outcome.returnTo };
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
