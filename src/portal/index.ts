import { FRESH_SIGN_IN_SECONDS } from '../accounts/fresh-sign-in.js';
import { createHmac } from 'node:crypto';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Accounts } from '../accounts/index.js';
import type { Passkeys } from '../passkeys/index.js';
import type { SecondFactors } from '../mfa/index.js';
import type { OtpService } from '../sms/index.js';
import type { AuditLog } from '../audit/index.js';
import type { ClientSecrets } from '../clients/index.js';
import type { Config } from '../config/index.js';
import { csrfTokens } from '../http/csrf.js';
import { SERVICE_TIME_ZONE } from '../http/zoned-time.js';
import type { SessionAuthentications } from '../oidc/index.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { actionRoutes } from './actions.routes.js';
import { credentialStore } from './credential-store.js';
import type { PortalDeps } from './deps.js';
import { pageRoutes } from './pages.routes.js';
import { portalClient } from './portal-client.js';
import { portalSessions } from './portal-sessions.js';
import { portalRelyingParty } from './relying-party.js';
import { selfService, type PortalDevices } from './self-service.js';
import { signInRoutes } from './sign-in.routes.js';
import { keyHeld } from '../storage/key-held.js';

export { PORTAL_CLIENT_ID } from './portal-client.js';

export interface PortalOptions {
  config: Config;
  provider: () => Provider;
  Adapter: AdapterConstructor;
  db: Database;
  accounts: Accounts;
  passkeys: Passkeys;
  secondFactors: SecondFactors;
  otp: OtpService;
  /** The mobile channel's device keys, listed and revocable among the sign-in methods. */
  devices?: PortalDevices;
  audit: AuditLog;
  accountIndex: AccountIndex;
  authentications: SessionAuthentications;
  signOut: SignOut;
  clientSecrets: ClientSecrets;
  logger: Logger;
  /** How long a portal sign-in lasts before the portal asks Yihao again (silently while the Yihao session lives). */
  sessionSeconds?: number;
  timeZone?: string;
  historyLimit?: number;
  /** Federation's detour through an upstream's sign-out, after the portal ended the Yihao session. */
  afterSignOut?: PortalDeps['afterSignOut'];
  /** Removing a credential needs a sign-in at most this old; older ones sign in again first. */
  freshSignInSeconds?: number;
  /** In-person proofing the citizen may confirm on the profile page. */
  proofing?: PortalDeps['proofing'];
  /** Credential offers of the identity credential (the wallet page). */
  walletOffers?: PortalDeps['walletOffers'];
  /** Department certificates, listed on their own page. */
  certificates?: PortalDeps['certificates'];
  /** The credentials issued to the citizen's wallets (the wallet page lists and revokes them). */
  walletCredentials?: PortalDeps['walletCredentials'];
}

/** The citizen portal at /account: a first-party relying party of Yihao with its self-service pages. */
export function createPortal(o: PortalOptions) {
  const client = portalClient({ issuer: o.config.issuer, clientSecrets: o.clientSecrets, Adapter: o.Adapter, provider: o.provider });
  // Its own CSRF key, so a portal token can never pass for an interaction's and the reverse.
  const csrfKeys = o.config.secrets.cookieKeys.map((key) => createHmac('sha256', key).update('yihao-portal-csrf').digest('base64url'));
  const deps: PortalDeps = {
    provider: o.provider,
    accounts: o.accounts,
    self: selfService({ provider: o.provider, accountIndex: o.accountIndex, keyHeld: keyHeld(o.db), authentications: o.authentications, signOut: o.signOut, audit: o.audit, credentials: credentialStore(o.db), passkeys: o.passkeys, devices: o.devices }),
    passkeys: o.passkeys,
    strongCredentials: (accountId) => o.secondFactors.strongCredentials(accountId),
    otp: o.otp,
    rp: portalRelyingParty({ issuer: o.config.issuer, client, Adapter: o.Adapter, provider: o.provider, loginOfSession: (uid) => o.authentications.find(uid) }),
    sessions: portalSessions(o.Adapter, o.sessionSeconds ?? 1800),
    keyHeld: keyHeld(o.db),
    csrf: csrfTokens(csrfKeys, 'portal'),
    bodyMaxBytes: o.config.limits.bodyMaxBytes,
    formFieldMaxLength: o.config.limits.formFieldMaxLength,
    timeZone: o.timeZone ?? SERVICE_TIME_ZONE,
    historyLimit: o.historyLimit ?? 50,
    freshSignInSeconds: o.freshSignInSeconds ?? FRESH_SIGN_IN_SECONDS,
    recoveryHoldSeconds: o.config.passwordReset.holdSeconds,
    logger: o.logger,
    afterSignOut: o.afterSignOut,
    proofing: o.proofing,
    walletOffers: o.walletOffers,
    certificates: o.certificates,
    walletCredentials: o.walletCredentials,
  };
  const router = new Router();
  signInRoutes(router, deps);
  pageRoutes(router, deps);
  actionRoutes(router, deps);
  return {
    router,
    /** Creates or updates the portal's client registration; call once the provider exists. */
    ensureClient: () => client.ensure(),
  };
}
export type Portal = ReturnType<typeof createPortal>;
