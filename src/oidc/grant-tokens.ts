import { randomBytes } from 'node:crypto';
import { errors, type Adapter, type FindAccount, type KoaContextWithOIDC, type TokenEndpointGrantContext } from 'oidc-provider';
import type { Authentication, Channel } from '../accounts/index.js';
import { allowedChannelsOf, minAcrOf } from './client-metadata.js';
import { acrRank } from './acr-policy.js';
import { grantPlumbing } from './internals.js';
import type { SessionAuthentications } from './session-authentications.js';
import { noteLogin, type Actor } from './token-facts.js';

export type { Actor } from './token-facts.js';

/** What the logout-everywhere path needs to tell a client about a login that has no browser session. */
export interface ChannelSession {
  sessionUid: string;
  /** The `sid` in the ID token, and in a back-channel logout token. */
  sid: string;
  clientId: string;
  accountId: string;
  channel: Channel;
}

type AdapterClass = new (name: string) => Adapter;

/**
 * Logins through an extension grant (kiosk card, counter assistance, device key) have no browser
 * session: the grant is the session. Each gets a record, keyed by its grant id, so that logging out
 * everywhere can notify the client with the `sid` its ID token carried.
 */
export function channelSessions(Adapter: AdapterClass, ttlSeconds: number) {
  const adapter = new Adapter('ChannelSession');
  return {
    async save(grantId: string, session: ChannelSession): Promise<void> {
      await adapter.upsert(grantId, { ...session } as never, ttlSeconds);
    },
    async find(grantId: string): Promise<ChannelSession | undefined> {
      return (await adapter.find(grantId)) as ChannelSession | undefined;
    },
    async destroy(grantId: string): Promise<void> {
      await adapter.destroy(grantId);
    },
  };
}
export type ChannelSessions = ReturnType<typeof channelSessions>;

export interface GrantTokenDeps {
  findAccount: FindAccount;
  authentications: SessionAuthentications;
  sessions: ChannelSessions;
}

/** How one extension grant's login differs from another's; everything else is the same for all. */
export interface GrantLogin {
  authentication: Authentication;
  /** The token's `gty` (kiosk idle rules and refreshes read it). */
  gty: string;
  /** A refresh token where the provider's refresh-token policy gives one (the client's registration); never without this. */
  refresh: boolean;
  /** RFC 8693 `act`: who acted for the subject. On the access token (so introspection), refreshes, and the ID token. */
  act?: Actor | undefined;
  /** RFC 8693 `issued_token_type` in the token response. */
  issuedTokenType?: string;
  /**
   * Tokens for one resource server (RFC 8707) instead of the client's OIDC scopes: the access
   * token has its audience and exactly `scope`, and there is no ID token. The credential issuer's
   * pre-authorized code grant (credentials/pre-authorized-grant.ts) issues so.
   */
  resource?: { audience: string; scope: string; accessTokenTTL: number } | undefined;
}

/** The scopes asked for (default `openid`), each one the client registered for; otherwise `invalid_scope`. */
export function grantedScopes(ctx: TokenEndpointGrantContext | KoaContextWithOIDC): string[] {
  const scope = ctx.oidc.params?.scope;
  const asked = typeof scope === 'string' && scope ? scope.split(' ') : ['openid'];
  const registered = new Set(String(ctx.oidc.client?.scope ?? '').split(' '));
  const refused = asked.filter((s) => !registered.has(s) && s !== 'openid');
  if (refused.length) throw new errors.InvalidScope('requested scope is not allowed for this client', refused.join(' '));
  return [...new Set(asked)];
}

/**
 * The request's DPoP proof ({ thumbprint }), validated, or undefined without one; without one from a
 * client whose tokens must be DPoP-bound (`dpop_bound_access_tokens`), `invalid_grant`, as
 * oidc-provider's built-in grants answer. An extension grant calls it before it spends or records
 * anything, so that a refusal changes nothing; issueGrantTokens calls it again (oidc-provider
 * validates a request's proof once) and binds the tokens to the proof's key.
 */
export async function dpopProof(ctx: TokenEndpointGrantContext | KoaContextWithOIDC): Promise<{ thumbprint: string } | undefined> {
  const plumbing = grantPlumbing(ctx.oidc.provider);
  const dPoP = await plumbing.validateDpop(ctx);
  plumbing.checkDpopRequired(ctx, dPoP);
  return dPoP;
}

/** A client that does not accept this channel gets no tokens from it. */
export function assertChannelAllowed(ctx: TokenEndpointGrantContext | KoaContextWithOIDC, channel: Channel): void {
  if (!allowedChannelsOf(ctx.oidc.client!).includes(channel)) {
    throw new errors.UnauthorizedClient(`this client does not accept sign-ins through the ${channel} channel`);
  }
}

/**
 * A client that registered a minimum level (`min_acr`) gets no tokens from a login below it: the
 * authorization endpoint steps such a session up, but a login made at the token endpoint (a device
 * key, a wallet presentation) cannot be, so it is refused, as a channel the client does not accept is.
 */
export function assertAcrReached(ctx: TokenEndpointGrantContext | KoaContextWithOIDC, acr: string): void {
  const minimum = minAcrOf(ctx.oidc.client!);
  if (minimum && acrRank(acr) < acrRank(minimum)) {
    throw new errors.UnauthorizedClient(`this client accepts sign-ins at ${minimum} or above; this one reached ${acr}`);
  }
}

/**
 * The one way an extension grant issues tokens. A login that happened at the token endpoint (a card
 * read, a counter's assistance, a device-key assertion) becomes a Grant, an access token, a refresh
 * token where the options and the client allow, and an ID token with acr, amr, auth_time, channel,
 * sid (and act). The Authentication is stored under a fresh session uid that every token carries,
 * and the login's facts travel on the tokens themselves (token-facts.ts), so introspection, userinfo
 * and refreshes report what this login was. A DPoP proof sent with the request binds the access token
 * (and a public client's refresh token) to its key; a client whose tokens must be DPoP-bound gets
 * nothing without one, and a client whose `min_acr` the login did not reach gets nothing at all.
 * Nothing is written before the proof and the scopes check out. These
 * grants do not take `resource` (oidc-provider passes a grant only the parameters it registered):
 * their tokens are for userinfo and Yihao's own APIs, unless the grant names one (`login.resource`).
 */
export async function issueGrantTokens(ctx: TokenEndpointGrantContext | KoaContextWithOIDC, deps: GrantTokenDeps, login: GrantLogin): Promise<ChannelSession & { grantId: string }> {
  const { provider } = ctx.oidc;
  const client = ctx.oidc.client!;
  const plumbing = grantPlumbing(provider);
  const { authentication: auth, gty, act } = login;
  const dPoP = await dpopProof(ctx);
  assertChannelAllowed(ctx, auth.channel);
  assertAcrReached(ctx, auth.acr);
  const scopes = login.resource ? login.resource.scope.split(' ') : grantedScopes(ctx);
  const scope = scopes.join(' ');
  const sessionUid = `${auth.channel}_${randomBytes(18).toString('base64url')}`;
  const sid = randomBytes(18).toString('base64url');
  await deps.authentications.save(sessionUid, auth);
  noteLogin(auth, act);

  const grant = new provider.Grant({ accountId: auth.accountId, clientId: client.clientId });
  if (login.resource) grant.addResourceScope(login.resource.audience, scope);
  else grant.addOIDCScope(scope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);
  const session: ChannelSession = { sessionUid, sid, clientId: client.clientId, accountId: auth.accountId, channel: auth.channel };
  await deps.sessions.save(grantId, session);

  const at = new provider.AccessToken({ accountId: auth.accountId, client, grantId, gty, scope, sessionUid, sid });
  if (login.resource) {
    const { audience, accessTokenTTL } = login.resource;
    at.resourceServer = new provider.ResourceServer(audience, { scope, audience, accessTokenFormat: 'opaque', accessTokenTTL });
  }
  await plumbing.bindDpop(ctx, dPoP, at);
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  const source = { accountId: auth.accountId, acr: auth.acr, amr: auth.amr, authTime: auth.at, grantId, gty, scope, sessionUid, sid };
  let refreshToken: string | undefined;
  if (login.refresh && (await plumbing.shouldIssueRefreshToken(ctx, source))) {
    const rt = new provider.RefreshToken({ ...source, client, rotations: 0 });
    await plumbing.bindRefreshToken(ctx, at, rt);
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken: string | undefined;
  if (scopes.includes('openid') && !login.resource) {
    const account = await deps.findAccount(ctx as KoaContextWithOIDC, auth.accountId, at);
    if (!account) throw new errors.CustomOIDCProviderError('invalid_grant', 'the account cannot sign in');
    ctx.oidc.entity('Account', account);
    const token = new provider.IdToken({ ...(await account.claims('id_token', scope, {}, [])), acr: auth.acr, amr: auth.amr, auth_time: auth.at }, { ctx: ctx as KoaContextWithOIDC });
    (token as unknown as { scope: string }).scope = scope;
    token.set('sid', sid);
    if (act) token.set('act', act);
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = plumbing.tokenResponse({
    accessToken,
    expiresIn: at.expiration,
    idToken,
    issuedTokenType: login.issuedTokenType,
    refreshToken,
    scope,
    tokenType: at.tokenType,
  });
  return { ...session, grantId };
}
