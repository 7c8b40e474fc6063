import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import { isPostgres, type Database } from '../storage/database.js';
import { statements } from '../storage/statements.js';

/** What a citizen allowed an app in a grant that is still live: its OIDC scopes and claims, and its resource scopes. */
export interface AllowedBefore {
  scope: string;
  claims: string[];
  resources: Record<string, string>;
}

/** The newest live grant of an account for a client, read in one statement. */
export type FindAllowedBefore = (accountId: string, clientId: string) => Promise<AllowedBefore | undefined>;

/**
 * Consent is asked once per app, not once per browser session. A grant (what the citizen allowed
 * an app, saved when they pressed Allow) lives in SQL, indexed by account, until it expires or
 * the citizen revokes the app in the portal ("apps holding your consent"), which deletes every
 * grant of that app. While one is live, a sign-in to the same app from a new session (another
 * browser, the session cookie gone) gets a new grant for that session holding what it asks for
 * and the citizen allowed before; anything new is still asked, with only the new items listed.
 *
 * A new grant rather than the old one: each session's grant is revoked when that session signs
 * out, and sharing one would sign the citizen out of the app everywhere.
 */
export function allowedBefore(db: Database): FindAllowedBefore {
  const sql = statements(db);
  const clientIdOf = isPostgres(db) ? `(g.payload::json ->> 'clientId')` : `json_extract(g.payload, '$.clientId')`;
  const text =
    `select g.payload as payload from account_index i join oidc_models g on g.model = 'Grant' and g.id = i.id ` +
    `where i.account_id = ? and i.model = 'Grant' and (i.expires_at is null or i.expires_at > ?) ` +
    `and (g.expires_at is null or g.expires_at > ?) and ${clientIdOf} = ? ` +
    `order by g.expires_at desc limit 1`;
  return async (accountId, clientId) => {
    const now = Date.now();
    const row = await sql.first<{ payload: string | Record<string, unknown> }>(text, [accountId, now, now, clientId]);
    if (!row) return undefined;
    const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as {
      accountId?: unknown;
      clientId?: unknown;
      openid?: { scope?: unknown; claims?: unknown };
      resources?: Record<string, unknown>;
    };
    // The index row names the account; the grant itself must say the same.
    if (payload.accountId !== accountId || payload.clientId !== clientId) return undefined;
    const resources: Record<string, string> = {};
    for (const [indicator, scope] of Object.entries(payload.resources ?? {})) if (typeof scope === 'string') resources[indicator] = scope;
    return {
      scope: typeof payload.openid?.scope === 'string' ? payload.openid.scope : '',
      claims: Array.isArray(payload.openid?.claims) ? payload.openid.claims.filter((c): c is string => typeof c === 'string') : [],
      resources,
    };
  };
}

const words = (s: unknown): string[] => String(s ?? '').split(' ').filter(Boolean);

/**
 * A grant for this session from what the citizen allowed this client before, limited to what this
 * request asks for; undefined when nothing of it was allowed before. Not saved.
 */
export function grantFromAllowed(ctx: KoaContextWithOIDC, before: AllowedBefore, accountId: string): Grant | undefined {
  const { oidc } = ctx;
  const client = oidc.client!;
  const grant = new oidc.provider.Grant({ clientId: client.clientId, accountId });
  const allowedScopes = new Set(words(before.scope));
  const scopes = [...(oidc.requestParamOIDCScopes as Set<string>)].filter((s) => allowedScopes.has(s));
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const allowedClaims = new Set(before.claims);
  const claims = [...((oidc.requestParamClaims as Set<string> | undefined) ?? [])].filter((c) => allowedClaims.has(c));
  if (claims.length) grant.addOIDCClaims(claims);
  let resources = 0;
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    const allowed = new Set(words(before.resources[indicator]));
    const offered = new Set(words((server as { scope?: string }).scope));
    const wanted = words(oidc.params?.scope).filter((s) => offered.has(s) && allowed.has(s));
    if (wanted.length) {
      grant.addResourceScope(indicator, wanted.join(' '));
      resources++;
    }
  }
  return scopes.length || claims.length || resources ? grant : undefined;
}
