import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import { auditStats, type AuditLog } from '../audit/index.js';
import { clientStore, liveClients, type ClientSecrets } from '../clients/index.js';
import type { SigningKeys } from '../keys/index.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { assignmentStore } from './assignments.js';
import { auditService } from './audit-service.js';
import { adminBootstrap } from './bootstrap.js';
import { clientService } from './client-service.js';
import { dashboardService } from './dashboard-service.js';
import { departmentService } from './department-service.js';
import { departmentStore } from './departments.js';
import { createGuard } from './guard.js';
import { keyService } from './key-service.js';
import { credentialService } from './credential-service.js';
import type { CredentialRevocation } from '../credentials/index.js';
import type { CertificateIssuance, CertificateStore } from '../credentials/index.js';
import { certificateService } from './certificate-service.js';
import { operatorService } from './operator-service.js';
import { accountStatusService, type AccountStatusDeps } from './account-status-service.js';

export interface AdminServiceDeps {
  db: Database;
  audit: AuditLog;
  accounts: Accounts;
  Adapter: AdapterConstructor;
  provider: () => Provider;
  clientSecrets: ClientSecrets;
  signingKeys: SigningKeys;
  secretGrace: { defaultSeconds: number; maxSeconds: number };
  /** Counts live sessions for the dashboard; without it the dashboard shows none. */
  accountIndex?: AccountIndex | undefined;
  credentialRevocation: CredentialRevocation;
  /** Department certificates (their types, pushes, revocation) and the issuer their `vct`s are under. */
  certificates: { store: CertificateStore; issuance: CertificateIssuance };
  issuer: string;
  /** `signOut.disableAccount`, through which operators disable citizen accounts. */
  disableAccount?: AccountStatusDeps['disableAccount'];
}

/** Everything an operator can do, each call checked against the operator's roles and departments. */
export function createAdminServices(d: AdminServiceDeps) {
  const guard = createGuard(d.audit);
  const departments = departmentStore(d.db);
  const assignments = assignmentStore(d.db);
  const clients = clientStore(d.db);
  return {
    guard,
    stores: { departments, assignments, clients },
    departments: departmentService({ departments, guard, db: d.db }),
    operators: operatorService({ accounts: d.accounts, assignments, departments, guard, db: d.db }),
    clients: clientService({
      store: clients,
      departments,
      guard,
      live: liveClients({ Adapter: d.Adapter, provider: d.provider, recorded: clients }),
      secrets: d.clientSecrets,
      secretGrace: d.secretGrace,
    }),
    accounts: accountStatusService({ db: d.db, accounts: d.accounts, guard, accountIndex: d.accountIndex, disableAccount: d.disableAccount }),
    keys: keyService({ signingKeys: d.signingKeys, guard }),
    credentials: credentialService({ revocation: d.credentialRevocation, guard }),
    certificates: certificateService({ db: d.db, audit: d.audit, accounts: d.accounts, departments, guard, issuer: d.issuer, certificates: d.certificates }),
    audit: auditService({ audit: d.audit, departments, clients, guard }),
    dashboard: dashboardService({ stats: auditStats(d.db), departments, clients, accountIndex: d.accountIndex, provider: d.provider }),
    /** For the CLI only: no operator behind it. */
    bootstrap: adminBootstrap({ db: d.db, departments, assignments, accounts: d.accounts, audit: d.audit }),
  };
}
export type AdminServices = ReturnType<typeof createAdminServices>;
