import { randomBytes } from 'node:crypto';
import { errors, type AccessToken, type FindAccount, type KoaContextWithOIDC, type TokenEndpointGrantContext } from 'oidc-provider';
import type { Adapter } from 'oidc-provider';
import type { Authentication } from '../../accounts/index.js';
import { allowedChannelsOf } from '../../oidc/client-metadata.js';
import type { SessionAuthentications } from '../../oidc/session-authentications.js';
import { invalidGrant } from './oauth-errors.js';
import { noteLogin } from '../../oidc/token-facts.js';
import { grantPlumbing } from '../../oidc/internals.js';

/** What the logout-everywhere path needs to tell a client about a session-less channel login. */
export interface ChannelSession {
  sessionUid: string;
  /** The `sid` in the ID token, and in a back-channel logout token. */
  sid: string;
  clientId: string;
  accountId: string;
  channel: Authentication['channel'];
}

type AdapterClass = new (name: string) => Adapter;

/**
 * Kiosk and counter logins have no browser session: the grant is the session. Each gets a record,
 * keyed by its grant id, so that logging out everywhere can notify the client with the right `sid`.
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

/** RFC 8693 `act`: who acted for the subject. Kept beside the access token it belongs to (see `actOf`). */
export interface Actor {
  sub: string;
}
const actors = new WeakMap<object, Actor>();

/** The `act` claim for an access token being saved (oidc-provider's `extraTokenClaims`). */
export const actOf = (token: object): { act: Actor } | undefined => {
  const act = actors.get(token);
  return act ? { act } : undefined;
};

export interface ChannelTokenDeps {
  findAccount: FindAccount;
  authentications: SessionAuthentications;
  sessions: ChannelSessions;
}

export interface ChannelLogin {
  authentication: Authentication;
  gty: string;
  /** A refresh token too (the kiosk keeps its session alive by refreshing; idle ends it). */
  refresh: boolean;
  act?: Actor;
  /** Extra members of the token response (RFC 8693 `issued_token_type`). */
  response?: Record<string, string>;
  /** The request's validated DPoP proof: the access token is bound to its key. */
  dPoP?: { thumbprint: string } | undefined;
}

/** The scopes asked for (default `openid`), each one the client registered for; otherwise `invalid_scope`. */
export function grantedScopes(ctx: TokenEndpointGrantContext): string[] {
  const asked = typeof ctx.oidc.params.scope === 'string' && ctx.oidc.params.scope ? ctx.oidc.params.scope.split(' ') : ['openid'];
  const registered = new Set(String(ctx.oidc.client.scope ?? '').split(' '));
  const refused = asked.filter((s) => !registered.has(s) && s !== 'openid');
  if (refused.length) throw new errors.InvalidScope('requested scope is not allowed for this client', refused.join(' '));
  return [...new Set(asked)];
}

/** A client that does not accept this channel gets no tokens from it. */
export function assertChannelAllowed(ctx: TokenEndpointGrantContext, channel: Authentication['channel']): void {
  if (!allowedChannelsOf(ctx.oidc.client).includes(channel)) {
    throw new errors.UnauthorizedClient(`this client does not accept sign-ins through the ${channel} channel`);
  }
}

/**
 * Issues the citizen's tokens for a login that happened without a browser (kiosk card read, counter
 * assistance): a Grant, an access token, optionally a refresh token, and an ID token carrying acr,
 * amr, auth_time, channel, sid (and act). The Authentication is stored under a fresh session uid
 * that every token carries, as for web sessions, so `channel` reaches userinfo and refreshed tokens.
 */
export async function issueChannelTokens(ctx: TokenEndpointGrantContext, deps: ChannelTokenDeps, login: ChannelLogin): Promise<ChannelSession & { grantId: string }> {
  const { provider, client } = ctx.oidc;
  const { authentication: auth, gty } = login;
  const scopes = grantedScopes(ctx);
  const scope = scopes.join(' ');
  const sessionUid = `${auth.channel}_${randomBytes(18).toString('base64url')}`;
  const sid = randomBytes(18).toString('base64url');
  await deps.authentications.save(sessionUid, auth);
  noteLogin(auth);

  const grant = new provider.Grant({ accountId: auth.accountId, clientId: client.clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);
  const session: ChannelSession = { sessionUid, sid, clientId: client.clientId, accountId: auth.accountId, channel: auth.channel };
  await deps.sessions.save(grantId, session);

  const at: AccessToken = new provider.AccessToken({ accountId: auth.accountId, client, grantId, gty, scope, sessionUid, sid });
  if (login.act) actors.set(at, login.act);
  await grantPlumbing(provider).bindDpop(ctx, login.dPoP, at);
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken: string | undefined;
  if (login.refresh && client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: auth.accountId,
      acr: auth.acr,
      amr: auth.amr,
      authTime: auth.at,
      client,
      grantId,
      gty,
      rotations: 0,
      scope,
      sessionUid,
      sid,
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken: string | undefined;
  if (scopes.includes('openid')) {
    const account = await deps.findAccount(ctx as KoaContextWithOIDC, auth.accountId, at);
    if (!account) throw invalidGrant('the account cannot sign in');
    ctx.oidc.entity('Account', account);
    const token = new provider.IdToken({ ...(await account.claims('id_token', scope, {}, [])), acr: auth.acr, amr: auth.amr, auth_time: auth.at }, { ctx: ctx as KoaContextWithOIDC });
    (token as unknown as { scope: string }).scope = scope;
    token.set('sid', sid);
    if (login.act) token.set('act', login.act);
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = {
    access_token: accessToken,
    token_type: at.tokenType,
    expires_in: at.expiration,
    scope,
    ...(idToken ? { id_token: idToken } : {}),
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...login.response,
  };
  return { ...session, grantId };
}
