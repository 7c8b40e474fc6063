import type { Database } from '../storage/database.js';

/**
 * The `sid` a grant's ID tokens named, read from its live refresh tokens, which repeat it (they are
 * always in SQL: src/storage/oidc-adapter.ts). Once the browser session is gone (expired, or ended
 * in that browser while an app kept its refresh token), this is the only place it is still found,
 * and every app that gets logout tokens registered `backchannel_logout_session_required`
 * (src/clients/client-settings.ts): a logout token without it is one the app may refuse.
 * Not on a hot path: sign-out only.
 */
export function grantSessionIds(db: Database): (grantId: string) => Promise<string | undefined> {
  return async (grantId) => {
    const row = (await db('oidc_models')
      .select('payload')
      .where({ model: 'RefreshToken', grant_id: grantId })
      .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()))
      .orderBy('expires_at', 'desc')
      .first()) as { payload: string } | undefined;
    if (!row) return undefined;
    const { sid } = JSON.parse(row.payload) as { sid?: unknown };
    return typeof sid === 'string' && sid ? sid : undefined;
  };
}
