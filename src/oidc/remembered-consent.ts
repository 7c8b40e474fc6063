import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import { isPostgres, type Database } from '../storage/database.js';
import { statements } from '../storage/statements.js';
import { once, requestMemo } from '../storage/request-memo.js';
import { accountKey } from '../storage/oidc-adapter.js';
import { accountColumns } from '../accounts/account-store.js';
import { metadataOf } from './client-metadata.js';
import { claimsForClient } from './claims.js';

/** What a citizen allowed an app in a grant that is still live: its OIDC scopes and claims, and its resource scopes. */
export interface AllowedBefore {
  scope: string;
  claims: string[];
  resources: Record<string, string>;
}

/** What a citizen allowed a client before (the newest live grant of theirs for it), found by account `sub` and client id. */
export interface AllowedBeforeLookup {
  find(accountId: string, clientId: string): Promise<AllowedBefore | undefined>;
  /**
   * Reads the account by `sub` together with what it allowed `clientId` before, in one statement,
   * and leaves both in the request's memo: the account for `accounts.findBySub`, the rest for
   * `find`. An authorization request reads the account anyway, just before it looks for the grant.
   */
  prefetch(accountId: string, clientId: string): Promise<void>;
}

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
export function allowedBefore(db: Database): AllowedBeforeLookup {
  const sql = statements(db);
  // By the index row's client id (account_index_account_client): one probe, however many grants
  // the citizen holds. Only if that finds nothing, a row without one (indexed before migration 060,
  // or by an instance on the older code during a rolling upgrade) is matched by its record's client
  // id, as before; those are gone within 30 days. `parse` checks the grant itself says the same.
  const clientIdOf = isPostgres(db) ? `(g.payload::json ->> 'clientId')` : `json_extract(g.payload, '$.clientId')`;
  // A channel login's grant (kiosk, counter, device key: grant-tokens.ts) was made without a consent
  // page; its channel session, stored under the grant's id, tells it apart. It allows nothing here.
  const newest = (account: string, which: string) =>
    `(select g.payload from account_index i join oidc_models g on g.model = 'Grant' and g.id = i.id ` +
    `where i.account_id = ${account} and i.model = 'Grant' and ${which} ` +
    `and not exists (select 1 from oidc_models c where c.model = 'ChannelSession' and c.id = g.id) ` +
    `and (i.expires_at is null or i.expires_at > ?) and (g.expires_at is null or g.expires_at > ?) order by i.expires_at desc limit 1)`;
  const newestGrant = (account: string) => `coalesce(${newest(account, 'i.client_id = ?')}, ${newest(account, `i.client_id is null and ${clientIdOf} = ?`)})`;
  const alone = `select (${newestGrant('?')}) as allowed_before`;
  const withAccount = `select ${accountColumns('a')}, (${newestGrant('a.sub')}) as allowed_before from accounts a where a.sub = ?`;
  const key = (accountId: string, clientId: string) => `allowed-before:${accountId}:${clientId}`;

  return {
    find: (accountId, clientId) =>
      once(key(accountId, clientId), async () => {
        const now = Date.now();
        const row = await sql.first<{ allowed_before: unknown }>(alone, [accountId, clientId, now, now, accountId, clientId, now, now]);
        return parse(row?.allowed_before, accountId, clientId);
      }),
    async prefetch(accountId, clientId) {
      const memo = requestMemo();
      if (!memo || memo.values.has(accountKey(accountId))) return;
      const now = Date.now();
      const found = sql.first<Record<string, unknown>>(withAccount, [clientId, now, now, clientId, now, now, accountId]);
      // Both keys wait on the one statement; a failure is not remembered (as `once` does).
      const account = found.then((row) => {
        if (!row) return undefined;
        const rest = { ...row };
        delete rest.allowed_before;
        return rest;
      });
      const allowed = found.then((row) => parse(row?.allowed_before, accountId, clientId));
      // Whoever reads them after a failure reads the store again (below); these must not go unhandled.
      account.catch(() => undefined);
      allowed.catch(() => undefined);
      memo.values.set(accountKey(accountId), account);
      memo.values.set(key(accountId, clientId), allowed);
      found.catch(() => {
        memo.values.delete(accountKey(accountId));
        memo.values.delete(key(accountId, clientId));
      });
      await found.catch(() => undefined);
    },
  };
}

function parse(stored: unknown, accountId: string, clientId: string): AllowedBefore | undefined {
  if (stored === null || stored === undefined) return undefined;
  const payload = (typeof stored === 'string' ? JSON.parse(stored) : stored) as {
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
}

/**
 * For findAccount: on an authorization request about to look for a grant it has not got (a new
 * session at this client, no consent just given, no `prompt=consent`), the account is read with
 * what it allowed the client before (`prefetch`). Elsewhere it does nothing.
 */
export function prefetchAllowedBefore(lookup: AllowedBeforeLookup) {
  return async (ctx: KoaContextWithOIDC, accountId: string): Promise<void> => {
    const { oidc } = ctx;
    if (!oidc || (oidc.route !== 'authorization' && oidc.route !== 'resume')) return;
    const client = oidc.client;
    const session = oidc.session;
    if (!client || metadataOf(client).first_party === true || session?.accountId !== accountId || session.grantIdFor(client.clientId)) return;
    if ((oidc.result as { consent?: unknown } | undefined)?.consent || (oidc.prompts as Set<string>).has('consent')) return;
    await lookup.prefetch(accountId, client.clientId);
  };
}

/**
 * Never carried over: what an app sees of the citizen ID depends on its release policy (none,
 * masked, pseudonym, full), which operators may change after the citizen allowed it, and the consent
 * page says what the policy reveals now. A citizen who allowed a masked number has not allowed the
 * full one, so this is asked each time the app asks for it. Within a session, and for the tokens
 * already issued, citizen-id-consent.ts holds a grant to the policy it was allowed under.
 */
const ASKED_EVERY_TIME: ReadonlySet<string> = new Set(['citizen_id']);

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
  const scopes = [...(oidc.requestParamOIDCScopes as Set<string>)].filter((s) => allowedScopes.has(s) && !ASKED_EVERY_TIME.has(s));
  if (scopes.length) grant.addOIDCScope(scopes.join(' '));
  const allowedClaims = new Set(before.claims);
  // Under the client's scopes as registered now (claims.ts): a registration narrowed since is obeyed.
  const named = claimsForClient(client, (oidc.requestParamClaims as Set<string> | undefined) ?? []);
  const claims = named.allowed.filter((c) => allowedClaims.has(c) && !ASKED_EVERY_TIME.has(c));
  if (claims.length) grant.addOIDCClaims(claims);
  // Refused as they were the first time, or the consent page would come back empty for them.
  if (named.refused.length) grant.rejectOIDCClaims(named.refused);
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
  return scopes.length || claims.length || named.refused.length || resources ? grant : undefined;
}
