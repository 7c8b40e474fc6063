import { firstPartyClient, type FirstPartyClient, type FirstPartyClientDeps } from '../../oidc/first-party/index.js';
import { ADMIN_CONSOLE_CLIENT_ID, ADMIN_SCOPE } from '../admin-resource.js';
import { OPERATOR_ACR } from '../operator-auth.js';

export const CONSOLE_SCOPE = `openid profile ${ADMIN_SCOPE}`;

export type ConsoleClient = FirstPartyClient;

/**
 * The admin console is a first-party confidential client of Yihao (see oidc/first-party), the only
 * one that may obtain tokens for the admin API.
 */
export function consoleClient(deps: FirstPartyClientDeps): ConsoleClient {
  return firstPartyClient(
    {
      clientId: ADMIN_CONSOLE_CLIENT_ID,
      clientName: '一号管理控制台',
      secretLabel: 'admin_console_client_secret',
      redirectPath: '/admin/callback',
      metadata: {
        // No `scope` restriction: oidc-provider allows only its OIDC scopes there, not a resource's ('admin').
        // Operators always sign in with two factors, whatever a request asks.
        default_acr_values: [OPERATOR_ACR],
        min_acr: OPERATOR_ACR,
      },
    },
    deps,
  );
}
