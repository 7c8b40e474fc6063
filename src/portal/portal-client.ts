import { firstPartyClient, type FirstPartyClient, type FirstPartyClientDeps } from '../oidc/first-party/index.js';

export const PORTAL_CLIENT_ID = 'yihao-portal';
export const PORTAL_SCOPE = 'openid profile phone';

export type PortalClient = FirstPartyClient;

/** The portal is a first-party confidential client of Yihao itself (see oidc/first-party). */
export function portalClient(deps: FirstPartyClientDeps): PortalClient {
  return firstPartyClient(
    {
      clientId: PORTAL_CLIENT_ID,
      clientName: '一号个人中心',
      secretLabel: 'portal_client_secret',
      redirectPath: '/account/callback',
      metadata: { scope: PORTAL_SCOPE },
    },
    deps,
  );
}
