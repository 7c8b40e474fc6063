import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import type { SessionAuthentications } from '../oidc/index.js';
import { AdminError } from './admin-error.js';
import { ADMIN_CONSOLE_CLIENT_ID, ADMIN_SCOPE, adminResource } from './admin-resource.js';
import type { AssignmentStore } from './assignments.js';
import type { Guard } from './guard.js';
import type { Operator } from './roles.js';

/** The level an operator's sign-in must have reached. */
export const OPERATOR_ACR = 'urn:yihao:loa:2';

export interface RequestOrigin {
  ip?: string | undefined;
  requestId?: string | undefined;
}

/**
 * Turns an admin access token into an operator: a live token that the admin console obtained for
 * the admin resource, from a Yihao session at loa:2 or above, of an active account holding roles.
 */
export function operatorAuth({ issuer, provider, accounts, assignments, authentications, guard }: {
  issuer: string;
  provider: () => Provider;
  accounts: Accounts;
  assignments: AssignmentStore;
  authentications: SessionAuthentications;
  guard: Guard;
}) {
  const resource = adminResource(issuer);
  const unauthorized = () => new AdminError('unauthorized', 'a valid admin access token is required');

  return {
    async fromAccessToken(token: string, origin: RequestOrigin): Promise<Operator> {
      if (!/^[A-Za-z0-9_-]{16,256}$/.test(token)) throw unauthorized();
      const at = await provider().AccessToken.find(token);
      if (!at || at.clientId !== ADMIN_CONSOLE_CLIENT_ID || !at.accountId) throw unauthorized();
      const audience = [at.aud].flat();
      if (!audience.includes(resource) || !String(at.scope ?? '').split(' ').includes(ADMIN_SCOPE)) throw unauthorized();
      const account = await accounts.findBySub(at.accountId);
      if (!account || account.status !== 'active') throw unauthorized();
      const who = { sub: account.sub, ...origin };
      const auth = at.sessionUid ? await authentications.find(at.sessionUid) : undefined;
      if (!auth || acrRank(auth.acr) < acrRank(OPERATOR_ACR)) await guard.deny(who, 'admin.sign_in', 'insufficient_acr', { accountId: account.sub });
      const held = await assignments.forAccount(account.id);
      if (held.length === 0) await guard.deny(who, 'admin.sign_in', 'not_operator', { accountId: account.sub });
      return { accountId: account.id, sub: account.sub, name: account.name, assignments: held, ...origin };
    },
  };
}
export type OperatorAuth = ReturnType<typeof operatorAuth>;
