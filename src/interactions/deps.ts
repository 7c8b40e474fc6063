import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { CsrfTokens } from './csrf.js';
import type { AuditLog } from '../audit/index.js';

export interface InteractionDeps {
  provider: () => Provider;
  accounts: Accounts;
  audit: AuditLog;
  csrf: CsrfTokens;
  formFieldMaxLength: number;
  bodyMaxBytes: number;
}
