import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { Accounts } from '../accounts/index.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { ProviderHolder } from './provider-holder.js';
import { subjectFor, type Keyed, type PairwiseClient } from './pairwise.js';

/** oidc-provider's Client sends back-channel logout itself; its type declarations omit the method. */
interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

interface SessionAuthorization {
  sid?: string;
  grantId?: string;
}

export interface SignOutResult {
  sessions: number;
  grants: number;
  /** Clients that acknowledged a back-channel logout. */
  notified: string[];
}

/**
 * Ends every session of an account on every channel, revokes every grant with its tokens, and
 * tells each client that took part in a session through back-channel logout.
 */
export function createSignOut({ holder, accountIndex, accounts, keyed, audit, logger }: { holder: ProviderHolder; accountIndex: AccountIndex; accounts: Accounts; keyed: Keyed; audit: AuditLog; logger: Logger }) {
  async function revokeGrant(grantId: string): Promise<void> {
    const p = holder.current;
    await Promise.all([
      p.AccessToken.revokeByGrantId(grantId),
      p.RefreshToken.revokeByGrantId(grantId),
      p.AuthorizationCode.revokeByGrantId(grantId),
      p.DeviceCode.revokeByGrantId(grantId),
      p.BackchannelAuthenticationRequest.revokeByGrantId(grantId),
      p.Grant.adapter.destroy(grantId),
    ]);
    await accountIndex.remove('Grant', grantId);
  }

  async function everywhere(accountSub: string): Promise<SignOutResult> {
    const p = holder.current;
    const entries = await accountIndex.list(accountSub);
    const grants = new Set(entries.filter((e) => e.model === 'Grant').map((e) => e.id));
    const notified = new Set<string>();
    let sessions = 0;
    for (const { id: uid } of entries.filter((e) => e.model === 'Session')) {
      const session = await p.Session.findByUid(uid);
      if (session && session.accountId === accountSub) {
        const authorizations = (session.authorizations ?? {}) as Record<string, SessionAuthorization>;
        for (const [clientId, authorization] of Object.entries(authorizations)) {
          if (authorization.grantId) grants.add(authorization.grantId);
          const client = (await p.Client.find(clientId)) as unknown as (PairwiseClient & BackchannelClient) | undefined;
          if (!client?.backchannelLogoutUri) continue;
          await client.backchannelLogout(subjectFor(keyed, client, accountSub), authorization.sid ?? '').then(
            () => notified.add(clientId),
            (err: Error) => logger.warn({ event: 'backchannel.error', clientId, error: err.message }, 'back-channel logout failed'),
          );
        }
        await session.destroy();
        sessions++;
      }
      await accountIndex.remove('Session', uid);
    }
    for (const grantId of grants) await revokeGrant(grantId);
    return { sessions, grants: grants.size, notified: [...notified] };
  }

  return {
    everywhere,

    /** Disables an account and ends everything it holds. Its tokens fail from here on. */
    async disableAccount(accountId: string, by: { actorType: 'operator' | 'system'; actorId?: string }): Promise<SignOutResult> {
      const account = await accounts.findById(accountId);
      if (!account) throw new Error('no such account');
      await accounts.setStatus(accountId, 'disabled');
      const result = await everywhere(account.sub);
      await audit.append({ action: 'account.disabled', ...by, accountId: account.sub, details: { ...result } });
      return result;
    },
  };
}
export type SignOut = ReturnType<typeof createSignOut>;
