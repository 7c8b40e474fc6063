import type Provider from 'oidc-provider';
import type { AccessToken, Client, ClientCredentials } from 'oidc-provider';
import type { Account, Accounts, Acr } from '../accounts/index.js';
import { acrRank } from './acr-policy.js';
import { signedOutSince } from './signed-out-since.js';
import { issuedFacts, type TokenFacts } from './token-facts.js';

/** Why an access token was not accepted; each caller words it in its own protocol (RFC 6750, RFC 6749, the admin API). */
export type AccessTokenRefusal =
  | 'unknown'
  | 'wrong_client'
  | 'wrong_audience'
  | 'insufficient_scope'
  | 'not_dpop_bound'
  | 'dpop_proof'
  | 'session_ended'
  | 'insufficient_acr'
  | 'account_inactive'
  | 'not_kiosk_session';

export class AccessTokenRefused extends Error {
  constructor(
    readonly reason: AccessTokenRefusal,
    message: string,
    /** The token's subject, once the token is known to be live (for the caller's audit record). */
    readonly sub?: string,
  ) {
    super(message);
    this.name = 'AccessTokenRefused';
  }
}

/**
 * What a resource (a Yihao API, the token-exchange grant) asks of an access token beyond being live
 * (known, unexpired, its grant unrevoked and still the same account's) and its account active.
 */
export interface AccessTokenRules {
  /** Issued to this client id, or to a client this predicate accepts. */
  client?: string | ((client: Client) => boolean);
  /** The resource indicator the token was issued for (RFC 8707). */
  audience?: string;
  scope?: string;
  /** The token's own login (not the session's latest) reached at least this level. */
  minAcr?: Acr;
  /**
   * Proof of possession (RFC 9449). `required`: only DPoP-bound tokens. Either way a bound token is
   * accepted only if `prove(jkt)` resolves true (a caller-specific check: a proof for this API call,
   * or the token endpoint's proof); it may also throw its own protocol error.
   */
  dpop?: { required: boolean; prove(jkt: string): Promise<boolean> };
  /** The browser session the token was issued from still exists (not signed out). */
  liveSession?: boolean;
  /** The token belongs to a kiosk session (see channels/kiosk/idle.ts). */
  kioskSession?: (token: AccessToken, client: Client) => boolean;
}

export interface VerifiedAccessToken {
  token: AccessToken;
  client: Client;
  account: Account;
  /** The acr, amr, auth_time and channel the token was issued with. */
  facts: TokenFacts | undefined;
}

const TOKEN_SHAPE = /^[A-Za-z0-9._~+/-]{16,2048}=*$/;

const dead = () => new AccessTokenRefused('unknown', 'the access token is unknown, expired or revoked');

/** The rules that hold whatever the token's subject (a citizen, or a client in its own name). */
type TokenRules = Pick<AccessTokenRules, 'client' | 'audience' | 'scope' | 'dpop'>;

/** Checks a live token against the rules about its client, audience and scope. */
function checkAudience(token: { aud?: unknown; scope?: unknown }, client: Client, rules: TokenRules): void {
  if (typeof rules.client === 'string' ? client.clientId !== rules.client : rules.client && !rules.client(client)) {
    throw new AccessTokenRefused('wrong_client', 'the access token was issued to another client');
  }
  if (rules.audience && ![token.aud].flat().includes(rules.audience)) throw new AccessTokenRefused('wrong_audience', 'the access token is not for this resource');
  if (rules.scope && !String(token.scope ?? '').split(' ').includes(rules.scope)) throw new AccessTokenRefused('insufficient_scope', `the access token lacks the ${rules.scope} scope`);
}

/** Proof of possession (RFC 9449): a DPoP-bound token only with the caller's proof of its key. */
async function checkProof(token: object, rules: TokenRules): Promise<void> {
  const jkt = (token as unknown as { jkt?: string }).jkt;
  if (rules.dpop?.required && !jkt) throw new AccessTokenRefused('not_dpop_bound', 'the access token is not DPoP-bound');
  if (jkt && !(rules.dpop && (await rules.dpop.prove(jkt)))) throw new AccessTokenRefused('dpop_proof', 'the access token is DPoP-bound: send a DPoP proof of its key');
}

/**
 * The one access-token verifier: every Yihao resource that accepts an access token (mobile APIs,
 * the admin API, the kiosk session API, token exchange's actor token) asks it, with its rules as
 * options. The level is the token's own (a later step-up of its session does not raise it).
 */
export function accessTokenVerifier(deps: { provider: () => Provider; accounts: Pick<Accounts, 'findBySub'> }) {
  async function verifyAccessToken(value: string, rules: AccessTokenRules = {}): Promise<VerifiedAccessToken> {
    if (!TOKEN_SHAPE.test(value)) throw dead();
    const provider = deps.provider();
    const token = await provider.AccessToken.find(value);
    if (!token || token.isExpired || !token.accountId || !token.clientId) throw dead();
    const [grant, client] = await Promise.all([token.grantId ? provider.Grant.find(token.grantId) : undefined, provider.Client.find(token.clientId)]);
    // As at userinfo and introspection: a token whose grant was revoked (signed out everywhere) is dead too.
    if (!grant || grant.isExpired || grant.accountId !== token.accountId || grant.clientId !== token.clientId || !client) throw dead();

    checkAudience(token, client, rules);
    if (rules.kioskSession && !rules.kioskSession(token, client)) throw new AccessTokenRefused('not_kiosk_session', 'the access token is not a live kiosk session token');
    await checkProof(token, rules);

    if (rules.liveSession) {
      const uid = (token as unknown as { sessionUid?: string }).sessionUid;
      const session = uid ? await provider.Session.findByUid(uid) : undefined;
      if (!session || session.accountId !== token.accountId) throw new AccessTokenRefused('session_ended', 'the access token is not from a live session');
    }
    const account = await deps.accounts.findBySub(token.accountId);
    if (account?.status !== 'active') throw new AccessTokenRefused('account_inactive', 'the account behind the access token is not active');
    const facts = issuedFacts(token);
    // Issued from a login the account has since been signed out of (by a request still in flight then).
    if (signedOutSince(account, facts?.auth_time)) throw dead();
    if (rules.minAcr && acrRank(facts?.acr) < acrRank(rules.minAcr)) {
      throw new AccessTokenRefused('insufficient_acr', `the access token's sign-in is below ${rules.minAcr}`, account.sub);
    }
    return { token, client, account, facts };
  }

  return verifyAccessToken;
}
export type VerifyAccessToken = ReturnType<typeof accessTokenVerifier>;

/**
 * The same verifier for a token that a client obtained in its own name (client_credentials, a
 * department system's): live (known, unexpired), of a client the provider still has (an active
 * one), with the same rules about client, audience, scope and DPoP. Such a token names no account.
 */
export function clientCredentialsVerifier(deps: { provider: () => Provider }) {
  return async function verifyClientCredentials(value: string, rules: TokenRules = {}): Promise<{ token: ClientCredentials; client: Client }> {
    if (!TOKEN_SHAPE.test(value)) throw dead();
    const provider = deps.provider();
    const token = await provider.ClientCredentials.find(value);
    if (!token || token.isExpired || !token.clientId) throw dead();
    const client = await provider.Client.find(token.clientId);
    if (!client) throw dead();
    checkAudience(token, client, rules);
    await checkProof(token, rules);
    return { token, client };
  };
}
