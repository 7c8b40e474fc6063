import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { CsrfTokens } from '../http/csrf.js';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';

export interface InteractionDeps {
  provider: () => Provider;
  accounts: Accounts;
  audit: AuditLog;
  /** Where an audit append made after the answer reports its failure. */
  logger: Pick<Logger, 'error'>;
  csrf: CsrfTokens;
  formFieldMaxLength: number;
  bodyMaxBytes: number;
  /** Other ways to sign in that the login page links to (upstream identity providers), if any. */
  loginOptions?: (params: Record<string, unknown>) => Promise<LoginOption[]>;
}

/** A "Sign in with <label>" button on the login page: posts to `/interaction/<uid>/<path>`. */
export interface LoginOption {
  path: string;
  label: { 'zh-CN': string; en: string };
}
