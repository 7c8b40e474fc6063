import { z } from 'zod';
import { baseTokenResponse, firstPartySignIn, type FirstPartySignInDeps } from '../oidc/first-party/index.js';
import { issuedFacts, keysOfLogin, type KeyLinkModel } from '../oidc/token-facts.js';
import type { Authentication } from '../accounts/index.js';
import { PORTAL_SCOPE } from './portal-client.js';
import type { Locale } from './i18n.js';

/** A finished sign-in: who, and which Yihao session of this browser it rides on. */
export interface PortalSignIn {
  sub: string;
  sessionUid: string;
  /** Epoch seconds. */
  authTime: number;
  acr: string | undefined;
  amr: string[];
  /** The login was a phone's approval (a QR hand-off): its device key vouched, nothing typed in this browser. */
  approvedOnPhone: boolean;
  /** The keys (a device key, a passkey, an authenticator app) that made or approved the login. */
  keys: { model: KeyLinkModel; id: string }[];
  returnTo: string;
  locale: Locale;
}

export type SignInOutcome = { ok: true; signIn: PortalSignIn } | { ok: false; reason: string; locale: Locale | undefined };

const tokenResponse = baseTokenResponse.extend({ token_type: z.string() });

/**
 * The portal signs citizens in as an ordinary relying party of Yihao (see oidc/first-party), then
 * learns from the access token which Yihao session the sign-in rides on.
 */
export function portalRelyingParty({
  issuer,
  client,
  Adapter,
  provider,
  loginOfSession,
  timeoutMs = 10_000,
}: FirstPartySignInDeps & {
  /** The current login of a Yihao session (its record): the keys a key bound in the portal session is filed under. */
  loginOfSession: (sessionUid: string) => Promise<Authentication | undefined>;
}) {
  const rp = firstPartySignIn<z.infer<typeof tokenResponse>, Locale>({ issuer, client, Adapter, provider, transactionModel: 'PortalLogin', scope: PORTAL_SCOPE, tokenResponse, timeoutMs });

  return {
    /** Starts a sign-in: returns the transaction id (for a cookie) and where to send the browser. */
    begin({ returnTo, locale, reauthenticate = false, acr }: { returnTo: string; locale: Locale; reauthenticate?: boolean; acr?: string }): Promise<{ transactionId: string; authorizationUrl: string }> {
      return rp.begin({
        returnTo,
        locale,
        params: {
          // A sensitive change needs a sign-in made just now, not the session's old one.
          ...(reauthenticate ? { prompt: 'login' } : {}),
          ...(acr ? { acr_values: acr } : {}),
        },
      });
    },

    /** Finishes a sign-in from the callback's query. The transaction is single-use. */
    async complete(transactionId: string | undefined, query: Record<string, unknown>): Promise<SignInOutcome> {
      const outcome = await rp.complete(transactionId, query);
      if (!outcome.ok) return outcome;
      const { tokens, claims, returnTo, locale } = outcome;

      // The access token is opaque and ours: it names the Yihao session the sign-in belongs to.
      // The portal calls no API with it, so it is destroyed at once.
      const accessToken = await provider().AccessToken.find(tokens.access_token);
      const sessionUid = accessToken?.sessionUid as string | undefined;
      if (!accessToken || accessToken.clientId !== client.clientId || accessToken.accountId !== claims.sub || !sessionUid) return { ok: false, reason: 'no_session', locale };
      await accessToken.destroy();
      const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(Date.now() / 1000);
      const acr = typeof claims.acr === 'string' ? claims.acr : undefined;
      // The session's login must still be the one that issued this code: another sign-in in the same
      // browser between the code and this callback (a held callback) replaced it, and with it the keys
      // a removal would look for. Then this sign-in vouches for no level.
      const login = await loginOfSession(sessionUid);
      const same = login !== undefined && login.at === authTime && login.acr === acr;

      return {
        ok: true,
        signIn: {
          sub: claims.sub,
          sessionUid,
          authTime,
          acr: same ? acr : undefined,
          amr: Array.isArray(claims.amr) ? claims.amr.filter((a): a is string => typeof a === 'string') : [],
          approvedOnPhone: issuedFacts(accessToken)?.device_key === 'approval',
          keys: same ? keysOfLogin(login) : [],
          returnTo,
          locale,
        },
      };
    },
  };
}
export type PortalRelyingParty = ReturnType<typeof portalRelyingParty>;
