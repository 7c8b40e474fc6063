import type Provider from 'oidc-provider';
import type { ClientStore } from '../clients/index.js';
import { AdminError } from './admin-error.js';
import { adminResource, CERTIFICATES_PUSH_SCOPE } from './admin-resource.js';
import type { RequestOrigin } from './operator-auth.js';

/** A department's own system calling the admin API: a service client registered in that department. */
export interface DepartmentSystem {
  clientId: string;
  departmentId: string;
  ip?: string | undefined;
  requestId?: string | undefined;
}

/**
 * The admin API's machine path: a client_credentials access token that a service client obtained
 * for the admin resource with the `certificates:push` scope. The client must be an active client
 * of a department in the console's registry (`client_registrations`): its department is the one
 * it may push for, and nothing else. The token is looked up (opaque), so a suspended client or a
 * revoked token stops at once. A DPoP-bound token is refused: this path takes Bearer tokens only.
 */
export function departmentSystemAuth({ issuer, provider, clients }: { issuer: string; provider: () => Provider; clients: Pick<ClientStore, 'find'> }) {
  const resource = adminResource(issuer);
  const unauthorized = () => new AdminError('unauthorized', 'a valid access token is required: a client_credentials token for the admin API with the certificates:push scope');
  return {
    async fromAccessToken(value: string, origin: RequestOrigin): Promise<DepartmentSystem> {
      if (!/^[A-Za-z0-9_-]{16,256}$/.test(value)) throw unauthorized();
      const token = await provider().ClientCredentials.find(value);
      if (!token || token.isExpired || !token.clientId || (token as unknown as { jkt?: string }).jkt) throw unauthorized();
      if (![token.aud].flat().includes(resource)) throw unauthorized();
      if (!String(token.scope ?? '').split(' ').includes(CERTIFICATES_PUSH_SCOPE)) throw new AdminError('forbidden', 'the access token lacks the certificates:push scope');
      const registered = await clients.find(token.clientId);
      if (!registered || registered.status !== 'active') throw new AdminError('forbidden', 'this client is not an active client of a department');
      return { clientId: registered.clientId, departmentId: registered.departmentId, ...origin };
    },
  };
}
export type DepartmentSystemAuth = ReturnType<typeof departmentSystemAuth>;
