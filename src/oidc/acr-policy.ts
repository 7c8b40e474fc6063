import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_VALUES, type Acr, type Channel } from '../accounts/index.js';
import { allowedChannelsOf, CHANNELS, minAcrOf } from './client-metadata.js';
import type { SessionAuthentications } from './session-authentications.js';

/** 1, 2, 3 for urn:yihao:loa:1..3; 0 for anything else (unknown or missing). */
export const acrRank = (acr: unknown): number => ACR_VALUES.indexOf(acr as Acr) + 1;

function valuesFromClaims(claims: unknown): unknown[] {
  if (typeof claims !== 'string') return [];
  try {
    const acr = (JSON.parse(claims) as { id_token?: { acr?: { value?: unknown; values?: unknown } } } | null)?.id_token?.acr;
    if (Array.isArray(acr?.values)) return acr.values;
    return acr?.value === undefined ? [] : [acr.value];
  } catch {
    return [];
  }
}

/**
 * The level an authorization request asks for: the lowest of the levels it names that we know, since
 * any of them will do. `acr_values` (which already holds the client's `default_acr_values` when the
 * request named none) wins over the claims parameter's `id_token.acr`, as in oidc-provider.
 * Works on oidc-provider's parsed params and on an Interaction's stored copy of them.
 */
export function requestedAcr(params: { acr_values?: unknown; claims?: unknown }): Acr | undefined {
  const values = typeof params.acr_values === 'string' && params.acr_values ? params.acr_values.split(' ') : valuesFromClaims(params.claims);
  const known = values.map(acrRank).filter((rank) => rank > 0);
  return known.length ? ACR_VALUES[Math.min(...known) - 1] : undefined;
}

/**
 * The level a sign-in must reach for this request: the higher of what the request asks for and the
 * client's registered minimum (`min_acr`). A request cannot talk a client below its own minimum.
 */
export function requiredAcr(params: { acr_values?: unknown; claims?: unknown }, minAcr: Acr | undefined): Acr | undefined {
  const rank = Math.max(acrRank(requestedAcr(params)), acrRank(minAcr));
  return rank > 0 ? ACR_VALUES[rank - 1] : undefined;
}

/** The login prompt's reason when a signed-in session is below the required level. */
export const ACR_BELOW_REQUESTED = 'acr_below_requested';

/** The login prompt's reason when a signed-in session came through a channel the client does not accept. */
export const CHANNEL_NOT_ALLOWED = 'channel_not_allowed';

/**
 * The login prompt's reason when the session names an account that does not honour it any more: the
 * account was disabled or signed out everywhere after this login (claims.ts findAccount), and the
 * session outlived that (a request in flight saved it back).
 */
export const SESSION_NOT_HONOURED = 'session_not_honoured';

/** A session saved before channels were recorded was a web sign-in. */
const channelOf = (auth: { channel?: Channel } | undefined): Channel => auth?.channel ?? 'web';

/**
 * oidc-provider's policy plus three login checks, so the client never gets less than it requires:
 * - a session whose account no longer honours it (signed out everywhere since, or disabled) signs in again;
 * - a session whose `acr` is below the required level (request or client minimum) is sent to the
 *   login interaction, which steps it up;
 * - a session from a channel the client does not accept (`allowed_channels`) is sent to sign in
 *   again through one it does accept.
 * (oidc-provider itself only acts on *essential* acr claims, and wants an exact match there; those
 * checks stay.) With `prompt=none` the client gets `login_required`.
 */
export function stepUpPolicy(authentications?: SessionAuthentications): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(
    new interactionPolicy.Check(SESSION_NOT_HONOURED, 'the session is no longer valid for this account', 'login_required', (ctx: KoaContextWithOIDC) =>
      Boolean(ctx.oidc.session?.accountId && !ctx.oidc.account),
    ),
  );
  login.checks.add(
    // The error is named here: a check added after the prompt was built gets no default (`interaction_required`).
    new interactionPolicy.Check(ACR_BELOW_REQUESTED, 'the requested authentication level is above the current one', 'login_required', (ctx: KoaContextWithOIDC) => {
      const { session, params, client } = ctx.oidc;
      const wanted = requiredAcr(params as { acr_values?: unknown; claims?: unknown }, minAcrOf(client));
      if (!wanted || !session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return acrRank(session.acr) < acrRank(wanted);
    }),
  );
  if (authentications) {
    login.checks.add(
      new interactionPolicy.Check(CHANNEL_NOT_ALLOWED, 'the session was authenticated through a channel this client does not accept', 'login_required', async (ctx: KoaContextWithOIDC) => {
        const { session, client } = ctx.oidc;
        if (!session?.accountId || !client) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const allowed = allowedChannelsOf(client);
        // Most clients accept every channel: no read for them.
        if (CHANNELS.every((c) => allowed.includes(c))) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        // A login finished in this very request is not saved beside the session yet.
        const fresh = (ctx.oidc.result as { login?: { authentication?: { channel?: Channel } } } | undefined)?.login?.authentication;
        const channel = channelOf(fresh ?? (await authentications.find(session.uid as string)));
        return !allowed.includes(channel);
      }),
    );
  }
  return policy;
}
