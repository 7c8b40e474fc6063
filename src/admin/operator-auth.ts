import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import { accessTokenVerifier, AccessTokenRefused } from '../oidc/access-token-verifier.js';
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
export function operatorAuth({ issuer, provider, accounts, assignments, guard }: {
  issuer: string;
  provider: () => Provider;
  accounts: Accounts;
  assignments: AssignmentStore;
  guard: Guard;
}) {
  const resource = adminResource(issuer);
  const unauthorized = () => new AdminError('unauthorized', 'a valid admin access token is required');
  const verify = accessTokenVerifier({ provider, accounts });

  return {
    async fromAccessToken(token: string, origin: RequestOrigin): Promise<Operator> {
      if (!/^[A-Za-z0-9_-]{16,256}$/.test(token)) throw unauthorized();
      let account;
      try {
        // The level is the token's own sign-in's: a later step-up of its session does not raise it.
        ({ account } = await verify(token, { client: ADMIN_CONSOLE_CLIENT_ID, audience: resource, scope: ADMIN_SCOPE, minAcr: OPERATOR_ACR }));
      } catch (e) {
        if (!(e instanceof AccessTokenRefused)) throw e;
        if (e.reason !== 'insufficient_acr' || !e.sub) throw unauthorized();
        return guard.deny({ sub: e.sub, ...origin }, 'admin.sign_in', 'insufficient_acr', { accountId: e.sub });
      }
      const who = { sub: account.sub, ...origin };
      const held = await assignments.forAccount(account.id);
      if (held.length === 0) await guard.deny(who, 'admin.sign_in', 'not_operator', { accountId: account.sub });
      return { accountId: account.id, sub: account.sub, name: account.name, assignments: held, ...origin };
    },
  };
}
export type OperatorAuth = ReturnType<typeof operatorAuth>;
