import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import { isFirstParty } from '../oidc/grants.js';
import { CIBA_GRANT } from '../clients/client-kinds.js';
import { DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT } from '../channels/kiosk/grant-type.js';
import { TOKEN_EXCHANGE_GRANT } from '../channels/counter/grant-type.js';
import { IDENTITY_SCOPE } from './identity-credential.js';

/** The grants of a machine citizens use and leave: a kiosk's (client-kinds.ts `kindOf`) and a counter's. */
const SHARED_MACHINE_GRANTS = [DEVICE_CODE_GRANT, ID_CARD_GRANT, PRESENTATION_GRANT, CIBA_GRANT, TOKEN_EXCHANGE_GRANT];

type ResourceFeature = {
  getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): ResourceServer | Promise<ResourceServer>;
};

/**
 * Adds the credential issuer to the resource servers: a wallet asks for `resource` = the credential
 * issuer identifier (OID4VCI §5.1.2), which is Yihao's own issuer. Only first-party apps (the
 * government app's wallet) may: an identity credential is the citizen's ID in a third party's
 * hands otherwise. Its tokens are opaque, so the credential endpoint looks them up (a signed-out
 * session's token is dead at once), and carry the credential's scope.
 */
export function withCredentialResource<F extends ResourceFeature>(feature: F, issuer: string, accessTokenTTL: number, moreScopes?: () => Promise<string[]>): F {
  return {
    ...feature,
    async getResourceServerInfo(ctx: KoaContextWithOIDC, asked: string, client: { clientId: string }) {
      if (asked !== issuer) return feature.getResourceServerInfo(ctx, asked, client);
      if (!isFirstParty(client as unknown as Parameters<typeof isFirstParty>[0])) throw new errors.InvalidTarget('only the government app (a first-party client) may obtain credentials');
      // Nor a kiosk or a counter, first-party as they may be: a citizen who signs in there leaves, and
      // a credential in the machine's wallet would sign in as them afterwards (a review: a kiosk's
      // phone sign-in asking for the issuer got the identity credential, and used it later).
      if (SHARED_MACHINE_GRANTS.some((g) => (client as unknown as { grantTypeAllowed(g: string): boolean }).grantTypeAllowed(g))) {
        throw new errors.InvalidTarget('a kiosk or a counter system obtains no credentials: they go to the citizen’s own wallet');
      }
      // Department certificates: one scope per certificate type (docs/credentials.md).
      const scope = [IDENTITY_SCOPE, ...((await moreScopes?.()) ?? [])].join(' ');
      return { scope, audience: issuer, accessTokenFormat: 'opaque', accessTokenTTL };
    },
  };
}
