import type { Authentication } from '../accounts/index.js';
import type { SessionAuthentications } from '../oidc/session-authentications.js';
import type { FederatedAuthentication } from './federated-sign-in.js';

/**
 * A session that an upstream sign-in created stays that upstream's when the same citizen signs in
 * again in it (a step-up, `prompt=login` with a password): the upstream's back-channel logout must
 * still end it. Logging out is the safe direction to err in.
 */
export function keepUpstreamOrigin(inner: SessionAuthentications): SessionAuthentications {
  return {
    ...inner,
    async save(sessionUid: string, auth: Authentication): Promise<void> {
      if (!('upstream' in auth)) {
        const before = (await inner.find(sessionUid)) as Partial<FederatedAuthentication> | undefined;
        if (before?.upstream && before.accountId === auth.accountId) {
          const carried: FederatedAuthentication = { ...auth, upstream: before.upstream };
          return inner.save(sessionUid, carried);
        }
      }
      return inner.save(sessionUid, auth);
    },
  };
}
