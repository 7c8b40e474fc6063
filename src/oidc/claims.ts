import type { Account as OidcAccount, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Account, Accounts } from '../accounts/index.js';
import { releaseCitizenId } from '../identity/index.js';
import type { SessionAuthentications } from './session-authentications.js';
import { verifiedClaimsAllowed } from './client-metadata.js';
import { citizenIdReleaseFrom } from './citizen-id-consent.js';
import { claimsInVerifiedClaims, verifiedClaims } from './verified-claims.js';
import { currentFacts, factsOf, issuedFacts, type TokenFacts } from './token-facts.js';
import { signedOutSince } from './signed-out-since.js';

/**
 * `acr`, `amr`, `auth_time` and `channel` sit under `openid`, which every ID token carries, so they
 * are always present, asked for or not.
 */
export const claimsConfig = {
  openid: ['sub', 'acr', 'amr', 'auth_time', 'channel'],
  profile: ['name', 'birthdate', 'gender'],
  phone: ['phone_number', 'phone_number_verified'],
  // What the client's citizen_id_release policy allows: nothing, masked, a pseudonym, or the number.
  citizen_id: ['citizen_id'],
  // OpenID Connect for Identity Assurance: how the binding to the ID number was proven.
  identity_assurance: ['verified_claims'],
};

const scopeByClaim = new Map(Object.entries(claimsConfig).flatMap(([scope, claims]) => claims.map((claim) => [claim, scope] as const)));

/**
 * Claims asked for by name (the `claims` request parameter) split by what the client may receive:
 * only claims under a scope its registration lists (`openid`'s always). Without this the parameter
 * is a side door: an app registered for `openid` alone could name the phone number or the ID number.
 * `scopes` are the scopes of the allowed claims, for the consent page to list (not `openid`).
 */
export function claimsForClient(client: { scope?: string | undefined }, claims: Iterable<string>): { allowed: string[]; refused: string[]; scopes: string[] } {
  const registered = new Set(['openid', ...String(client.scope ?? '').split(' ')]);
  const allowed: string[] = [];
  const refused: string[] = [];
  const scopes = new Set<string>();
  for (const claim of claims) {
    const scope = scopeByClaim.get(claim);
    if (scope === undefined || !registered.has(scope)) refused.push(claim);
    else {
      allowed.push(claim);
      if (scope !== 'openid') scopes.add(scope);
    }
  }
  return { allowed, refused, scopes: [...scopes] };
}

interface TokenLike {
  sessionUid?: string;
  grantId?: string;
}

/** The session a token (or the current request) belongs to. */
function sessionUidOf(ctx: KoaContextWithOIDC, token: unknown): string | undefined {
  return (token as TokenLike | undefined)?.sessionUid ?? (ctx.oidc?.session?.uid as string | undefined);
}

/**
 * When the login behind this request was made (epoch seconds): the token's own `authTime` (codes,
 * refresh tokens, device and CIBA requests), the facts an access token carries, else the session's.
 */
function loginTimeOf(ctx: KoaContextWithOIDC, token: unknown): number | undefined {
  const authTime = (token as { authTime?: unknown } | undefined)?.authTime;
  if (typeof authTime === 'number') return authTime;
  const facts = issuedFacts(token);
  if (facts) return facts.auth_time;
  const session = ctx.oidc?.session as { authTime?: () => unknown } | undefined;
  const at = token === undefined ? session?.authTime?.() : undefined;
  return typeof at === 'number' ? at : undefined;
}

/**
 * Session accountId is the public `sub`, so no internal id ever reaches a token. oidc-provider
 * asks several times per request; one read per request is enough.
 */
export function findAccount(
  accounts: Accounts,
  authentications: SessionAuthentications,
  keyed: (purpose: string, value: string) => string,
  /** Reads ahead with the account what the request will ask next (remembered-consent.ts). */
  prefetch?: (ctx: KoaContextWithOIDC, sub: string) => Promise<void>,
): FindAccount {
  const perRequest = new WeakMap<object, Map<string, Promise<Account | undefined>>>();
  const load = (ctx: KoaContextWithOIDC, sub: string) => {
    let memo = perRequest.get(ctx);
    if (!memo) perRequest.set(ctx, (memo = new Map()));
    let found = memo.get(sub);
    if (!found) memo.set(sub, (found = prefetch ? prefetch(ctx, sub).then(() => accounts.findBySub(sub)) : accounts.findBySub(sub)));
    return found;
  };
  /** What the token (or the request's login) was issued with; a token issued before tokens carried them falls back to the session's record. */
  const tokenFactsOf = async (ctx: KoaContextWithOIDC, token: unknown): Promise<TokenFacts | undefined> => {
    const known = issuedFacts(token) ?? currentFacts((token as TokenLike | undefined)?.grantId, (token as { accountId?: string } | undefined)?.accountId ?? ctx.oidc?.session?.accountId);
    if (known) return known;
    const uid = sessionUidOf(ctx, token);
    const auth = uid ? await authentications.find(uid) : undefined;
    return auth && factsOf(auth);
  };
  return async (ctx, sub, token): Promise<OidcAccount | undefined> => {
    const account = await load(ctx, sub);
    if (!account || account.status === 'disabled') return undefined;
    if (signedOutSince(account, loginTimeOf(ctx, token))) return undefined;
    return {
      accountId: account.sub,
      async claims(use) {
        const facts = await tokenFactsOf(ctx, token);
        const client = ctx.oidc?.client;
        // The client's policy, bounded by the one the citizen allowed: none from a grant allowed before it (citizen-id-consent.ts).
        const policy = client ? citizenIdReleaseFrom(client, ctx.oidc.grant) : 'none';
        // The number itself is opened only for a client whose policy releases something of it.
        const citizenId = policy === 'none' ? undefined : account.citizenId();
        const released = client && citizenId && releaseCitizenId(policy, citizenId, () => keyed(`citizen_pseudonym:${client.clientId}`, citizenId));
        const { birthdate, gender } = account.profile();
        const profile = { name: account.name, birthdate };
        const verified = verifiedClaimsAllowed(client) ? verifiedClaims(account, claimsInVerifiedClaims(profile.name, profile.birthdate)) : undefined;
        return {
          sub: account.sub,
          ...profile,
          gender,
          ...(account.phone ? { phone_number: account.phone, phone_number_verified: false } : {}),
          ...(facts ? { channel: facts.channel } : {}),
          // An ID token gets these from the code or refresh token; userinfo states what its access token was issued with.
          ...(facts && use === 'userinfo' ? { acr: facts.acr, amr: facts.amr, auth_time: facts.auth_time } : {}),
          ...(released ? { citizen_id: released } : {}),
          ...(verified ? { verified_claims: verified } : {}),
        };
      },
    };
  };
}
