import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import type { ClientSecrets } from '../clients/index.js';
import type { Config } from '../config/index.js';
import type { SigningKeys } from '../keys/index.js';
import type { CredentialRevocation } from '../credentials/index.js';
import type { CertificateIssuance, CertificateStore } from '../credentials/index.js';
import { departmentSystemAuth } from './department-system-auth.js';
import { proofReplay } from '../http/request-proofs.js';
import type { SessionAuthentications } from '../oidc/index.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { adminApiRouter } from './api/api-router.js';
import { assignmentStore } from './assignments.js';
import { consoleClient } from './console/console-client.js';
import { consoleRoutes } from './console/console.routes.js';
import { consoleSignIn } from './console/console-sign-in.js';
import { csrfTokens } from '../http/csrf.js';
import { operatorAuth } from './operator-auth.js';
import { createAdminServices } from './services.js';

export { ADMIN_CONSOLE_CLIENT_ID, ADMIN_API_PATH, ADMIN_SCOPE, adminResource } from './admin-resource.js';
export { createAdminServices, type AdminServices } from './services.js';
export { departmentStore, LEVELS, placementProblem, type Department, type Level } from './departments.js';
export { assignmentStore };

export { counterStaffAt } from './counter-staff-scope.js';
export { isDepartmentSystemIn } from './department-system-auth.js';
export { ROLES, type Role, type Operator } from './roles.js';
export { consoleClient } from './console/console-client.js';
export { apiRoutes } from './api/route-table.js';
export { openApiDocument } from './api/openapi.js';

export interface AdminOptions {
  config: Config;
  db: Database;
  audit: AuditLog;
  accounts: Accounts;
  Adapter: AdapterConstructor;
  provider: () => Provider;
  clientSecrets: ClientSecrets;
  signingKeys: SigningKeys;
  /** Revoking issued verifiable credentials. */
  credentialRevocation: CredentialRevocation;
  /** Department certificates: types, pushes by department systems, revocation. */
  certificates: { store: CertificateStore; issuance: CertificateIssuance };
  authentications: SessionAuthentications;
  logger: Logger;
  /** Signing out of the console ends the Yihao session it rode on. */
  signOut?: Pick<SignOut, 'endSession' | 'disableAccount'> | undefined;
  /** For the dashboard's count of live sessions. */
  accountIndex?: AccountIndex | undefined;
}

/** Operators' side of Yihao: the admin API at /admin/api/v1, and the console at /admin that signs operators in and uses it. */
export function createAdmin(o: AdminOptions): { routers: Router[]; ensureClient(): Promise<void>; services: ReturnType<typeof createAdminServices> } {
  const services = createAdminServices({
    db: o.db,
    audit: o.audit,
    accounts: o.accounts,
    Adapter: o.Adapter,
    provider: o.provider,
    clientSecrets: o.clientSecrets,
    signingKeys: o.signingKeys,
    credentialRevocation: o.credentialRevocation,
    certificates: o.certificates,
    issuer: o.config.issuer,
    secretGrace: { defaultSeconds: o.config.admin.secretGraceSeconds, maxSeconds: o.config.admin.maxSecretGraceSeconds },
    accountIndex: o.accountIndex,
    disableAccount: o.signOut && ((id, by, record) => o.signOut!.disableAccount(id, by, record)),
  });
  const auth = operatorAuth({
    issuer: o.config.issuer,
    provider: o.provider,
    accounts: o.accounts,
    assignments: services.stores.assignments,
    guard: services.guard,
  });
  const client = consoleClient({ issuer: o.config.issuer, clientSecrets: o.clientSecrets, Adapter: o.Adapter, provider: o.provider });
  const api = adminApiRouter({ issuer: o.config.issuer, services, auth, bodyMaxBytes: o.config.limits.bodyMaxBytes, logger: o.logger, audit: o.audit, systemAuth: departmentSystemAuth({ issuer: o.config.issuer, provider: o.provider, clients: services.stores.clients, replay: proofReplay(o.Adapter) }) });
  const ui = new Router();
  consoleRoutes(ui, {
    services,
    auth,
    signIn: consoleSignIn({ issuer: o.config.issuer, client, Adapter: o.Adapter, provider: o.provider }),
    // Its own key, so that a console token never passes for an interaction's or the portal's.
    csrf: csrfTokens(o.config.secrets.cookieKeys, 'console'),
    bodyMaxBytes: o.config.limits.bodyMaxBytes,
    logger: o.logger,
    endYihaoSession: o.signOut && ((uid, sub) => o.signOut!.endSession(uid, sub)),
  });
  return { routers: [api, ui], ensureClient: () => client.ensure(), services };
}
export type Admin = ReturnType<typeof createAdmin>;
