import { uniqueViolation } from '../accounts/account-store.js';
import { deleteInBatches } from '../storage/batched-delete.js';
import type { Database } from '../storage/database.js';

/** The tables whose rows expire, with the primary key that picks each batch of a sweep. */
const SWEPT: [table: string, key: string[]][] = [
  ['federation_pending_logins', ['state']],
  ['federation_pending_sign_outs', ['state']],
  ['federation_sessions', ['upstream_name', 'upstream_sid', 'account_id']],
  ['federation_logout_jtis', ['upstream_name', 'jti']],
];

/** A sign-in sent to an upstream: everything needed to check what comes back, kept server-side. */
export interface PendingLogin {
  upstream: string;
  interactionUid: string;
  clientId: string;
  nonce: string;
  codeVerifier: string;
  /** SHA-256 of the random value in the browser's cookie: the callback must come from the same browser. */
  browserBinding: string;
  /** The upstream was asked to authenticate afresh (`prompt=login`). */
  freshLogin?: boolean;
  /** The app's `max_age`, sent on to the upstream: its ID token must then say when, and be within it. */
  maxAge?: number;
}

/** A browser sent to an upstream's end_session_endpoint, and where Yihao continues when it is back. */
export interface PendingSignOut {
  upstream: string;
  /** A URL Yihao itself chose (the app's registered post_logout_redirect_uri, or its own page). */
  returnTo: string;
  /** SHA-256 of the random value in the browser's cookie: the return must come from the same browser. */
  browserBinding: string;
}

/**
 * The short-lived federation records, in SQL so that consuming one is a single DELETE whose row
 * count decides, on every backend and across instances, which request got it.
 */
export function createFlowStore(db: Database) {
  return {
    async savePending(state: string, pending: PendingLogin, ttlSeconds: number): Promise<void> {
      await db('federation_pending_logins').insert({ state, payload: JSON.stringify(pending), expires_at: Date.now() + ttlSeconds * 1000 });
    },

    /** The pending sign-in for `state`, exactly once; a replayed or expired state gets nothing. */
    async consumePending(state: string): Promise<PendingLogin | undefined> {
      const row = await db('federation_pending_logins').where({ state }).andWhere('expires_at', '>', Date.now()).first<{ payload: string } | undefined>();
      if (!row) return undefined;
      const taken = await db('federation_pending_logins').where({ state }).delete();
      return taken === 1 ? (JSON.parse(row.payload) as PendingLogin) : undefined;
    },

    async savePendingSignOut(state: string, pending: PendingSignOut, ttlSeconds: number): Promise<void> {
      await db('federation_pending_sign_outs').insert({ state, payload: JSON.stringify(pending), expires_at: Date.now() + ttlSeconds * 1000 });
    },

    /** The pending sign-out for `state`, exactly once. */
    async consumePendingSignOut(state: string): Promise<PendingSignOut | undefined> {
      const row = await db('federation_pending_sign_outs').where({ state }).andWhere('expires_at', '>', Date.now()).first<{ payload: string } | undefined>();
      if (!row) return undefined;
      const taken = await db('federation_pending_sign_outs').where({ state }).delete();
      return taken === 1 ? (JSON.parse(row.payload) as PendingSignOut) : undefined;
    },

    async recordSession(upstream: string, sid: string, accountId: string, ttlSeconds: number): Promise<void> {
      await db('federation_sessions')
        .insert({ upstream_name: upstream, upstream_sid: sid, account_id: accountId, expires_at: Date.now() + ttlSeconds * 1000 })
        .onConflict(['upstream_name', 'upstream_sid', 'account_id'])
        .merge(['expires_at']);
    },

    /** Accounts (internal ids) that an upstream session signed in. */
    async accountsOfSession(upstream: string, sid: string): Promise<string[]> {
      const rows = await db('federation_sessions').select('account_id').where({ upstream_name: upstream, upstream_sid: sid }).andWhere('expires_at', '>', Date.now());
      return rows.map((r: { account_id: string }) => r.account_id);
    },

    /** Records a logout token's jti; false if it was seen before (a replay). */
    async firstUseOfJti(upstream: string, jti: string, ttlSeconds: number): Promise<boolean> {
      try {
        await db('federation_logout_jtis').insert({ upstream_name: upstream, jti, expires_at: Date.now() + ttlSeconds * 1000 });
        return true;
      } catch (e) {
        if (uniqueViolation(e) !== undefined) return false;
        throw e;
      }
    },

    /** Gives a logout token's jti back: the logout it came with failed, and the upstream's retry must be heard. */
    async releaseJti(upstream: string, jti: string): Promise<void> {
      await db('federation_logout_jtis').where({ upstream_name: upstream, jti }).delete();
    },

    /** For the sweeper: deletes expired rows, returns how many. */
    async sweep(now: number, batchSize?: number): Promise<number> {
      let total = 0;
      for (const [table, key] of SWEPT) total += await deleteInBatches(db, { table, key, where: (q) => q.where('expires_at', '<', now), batchSize });
      return total;
    },
  };
}
export type FlowStore = ReturnType<typeof createFlowStore>;
