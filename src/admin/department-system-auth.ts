import type Provider from 'oidc-provider';
import { verifyDpopProof, type ProofReplay } from '../http/request-proofs.js';
import { clientStore, kindOf, type ClientRecord, type ClientStore } from '../clients/index.js';
import type { Database } from '../storage/database.js';
import { AccessTokenRefused, clientCredentialsVerifier } from '../oidc/access-token-verifier.js';
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

/** What the machine path reads of the request: its token (with the scheme) and, for a DPoP-bound token, the proof. */
export interface SystemRequest {
  authorization: string;
  dpop: string | undefined;
  method: string;
  /** The request's path (no query): a DPoP proof's `htu` is the issuer's URL of it. */
  path: string;
}

/**
 * Whether a client is a department system: an active client of a department in the console's
 * registry (`client_registrations`), of the `service` kind. The token endpoint asks it before it
 * hands out a `certificates:push` token (admin-resource.ts), and the admin API again on each call.
 */
export function departmentSystems(clients: Pick<ClientStore, 'find'>) {
  return async (clientId: string): Promise<ClientRecord | undefined> => {
    const registered = await clients.find(clientId);
    return registered?.status === 'active' && registered.settings && kindOf(registered.settings) === 'service' ? registered : undefined;
  };
}

/** The same check for the token endpoint, which knows the database only. */
export function isDepartmentSystemIn(db: Database): (clientId: string) => Promise<boolean> {
  const systemOf = departmentSystems(clientStore(db));
  return async (clientId) => (await systemOf(clientId)) !== undefined;
}

/**
 * The admin API's machine path: a client_credentials access token that a department system
 * obtained for the admin resource with the `certificates:push` scope, checked by the one
 * access-token verifier. The token is looked up (opaque), so a suspended client or a revoked token
 * stops at once. A DPoP-bound token (RFC 9449) is taken only as `Authorization: DPoP` with a proof
 * of its key for this very request (method, URL, `ath`, a `jti` never seen before); a Bearer token
 * only as Bearer.
 */
export function departmentSystemAuth({ issuer, provider, clients, replay }: { issuer: string; provider: () => Provider; clients: Pick<ClientStore, 'find'>; replay: ProofReplay }) {
  const resource = adminResource(issuer);
  const verify = clientCredentialsVerifier({ provider });
  const systemOf = departmentSystems(clients);
  const unauthorized = (dpop = false) =>
    new AdminError('unauthorized', dpop ? 'the access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof of its key for this request' : 'a valid access token is required: a client_credentials token for the admin API with the certificates:push scope');
  return {
    async fromRequest(req: SystemRequest, origin: RequestOrigin): Promise<DepartmentSystem> {
      const m = /^(Bearer|DPoP) ([A-Za-z0-9_-]{16,256})$/i.exec(req.authorization);
      if (!m) throw unauthorized();
      const scheme = m[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
      const accessToken = m[2]!;
      let token;
      try {
        ({ token } = await verify(accessToken, {
          audience: resource,
          scope: CERTIFICATES_PUSH_SCOPE,
          dpop: {
            required: false,
            prove: async (jkt) =>
              scheme === 'DPoP' &&
              verifyDpopProof(req.dpop, { method: req.method, url: `${issuer}${req.path}`, accessToken, body: Buffer.alloc(0) }, jkt, replay).then(
                () => true,
                () => false,
              ),
          },
        }));
      } catch (e) {
        if (!(e instanceof AccessTokenRefused)) throw e;
        if (e.reason === 'insufficient_scope') throw new AdminError('forbidden', 'the access token lacks the certificates:push scope');
        throw unauthorized(e.reason === 'dpop_proof');
      }
      // An unbound token under the DPoP scheme says the caller thinks it holds a key: refuse the confusion.
      if (scheme === 'DPoP' && !(token as unknown as { jkt?: string }).jkt) throw unauthorized();
      const registered = await systemOf(token.clientId!);
      if (!registered) throw new AdminError('forbidden', 'this client is not an active department system (a service client of a department)');
      return { clientId: registered.clientId, departmentId: registered.departmentId, ...origin };
    },
  };
}
export type DepartmentSystemAuth = ReturnType<typeof departmentSystemAuth>;
