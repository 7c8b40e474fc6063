import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { CsrfTokens } from './csrf.js';

export interface InteractionDeps {
  provider: () => Provider;
  accounts: Accounts;
  csrf: CsrfTokens;
  formFieldMaxLength: number;
  bodyMaxBytes: number;
}
