import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Accounts } from '../accounts/index.js';
import type { StrongCredentials } from '../mfa/index.js';
import type { Passkeys } from '../passkeys/index.js';
import type { OtpService } from '../sms/index.js';
import type { CsrfTokens } from '../http/csrf.js';
import type { PortalRelyingParty } from './relying-party.js';
import type { PortalSessions } from './portal-sessions.js';
import type { KeyLinkModel } from '../oidc/token-facts.js';
import type { SelfService } from './self-service.js';
import type { CertificateSummary, WalletCredentialSummary } from '../credentials/index.js';

/** Proofing evidence about the citizen waiting for their confirmation (docs/channels/assurance.md). */
export interface PortalProofing {
  pending(accountId: string): Promise<{ id: string; method: string; channel: string; createdAt: number }[]>;
  confirm(evidenceId: string, by: { type: 'citizen'; accountId: string; sub: string }, where?: { ip?: string | undefined; requestId?: string | undefined }): Promise<{ ok: boolean }>;
}

export interface PortalDeps {
  provider: () => Provider;
  accounts: Accounts;
  self: SelfService;
  passkeys: Passkeys;
  /** Which loa:2 credentials an account holds (TOTP, passkey, the app's device key). */
  strongCredentials(accountId: string): Promise<StrongCredentials>;
  /** SMS codes that prove the account's mobile number before its first second factor is bound. */
  otp: OtpService;
  rp: PortalRelyingParty;
  sessions: PortalSessions;
  /** Whether a key is still there (storage/key-held.ts): a portal session signed in with a removed one ends. */
  keyHeld: (key: { model: KeyLinkModel; id: string }) => Promise<boolean>;
  /** Keyed for the portal only; a token is bound to one portal session. */
  csrf: CsrfTokens;
  bodyMaxBytes: number;
  formFieldMaxLength: number;
  /** Times on the pages are shown in this zone. */
  timeZone: string;
  historyLimit: number;
  /** Adding or removing a credential, or offering one to a wallet, needs a sign-in at most this old (lasting-credential-gate.ts). */
  freshSignInSeconds: number;
  /** `passwordReset.holdSeconds`: after a reset by SMS, nothing lasting is added for this long (accounts/recovery-hold.ts). */
  recoveryHoldSeconds: number;
  logger: Logger;
  /**
   * After this browser's Yihao session ended: where to send the browser instead of `returnTo`
   * (federation: through the upstream's sign-out, where the session came from one set to be).
   */
  afterSignOut?: ((ctx: Context, sessionUid: string, returnTo: string) => Promise<string>) | undefined;
  proofing?: PortalProofing | undefined;
  /** Offers of the citizen's identity credential to the app's wallet (docs/credentials.md). */
  walletOffers?: PortalWalletOffers | undefined;
  /** The citizen's department certificates (docs/credentials.md). */
  certificates?: PortalCertificates | undefined;
  /** The credentials issued to the citizen's wallets: listed on the wallet page, and revoked there. */
  walletCredentials?: PortalWalletCredentials | undefined;
}

/** The credentials in the citizen's wallets (src/credentials/citizen-credentials.ts). */
export interface PortalWalletCredentials {
  list(accountId: string): Promise<WalletCredentialSummary[]>;
  /** Revokes one of the account's own credentials; false if there is none such left to revoke. */
  revoke(accountId: string, id: string, by: { sub: string; ip?: string | undefined; requestId?: string | undefined }): Promise<boolean>;
}

/** Makes a credential offer of the identity credential from the citizen's own Yihao session, if that session's level is enough. */
export interface PortalWalletOffers {
  offerIdentity(who: { sub: string; sessionUid: string; ip?: string | undefined; requestId?: string | undefined }): Promise<{ offerUri: string; txCode: string; expiresAt: number } | undefined>;
}

/** The certificates page's data, and the hook for adding one to the wallet. */
export interface PortalCertificates {
  list(accountId: string): Promise<CertificateSummary[]>;
  /**
   * A credential offer of one certificate from the citizen's own Yihao session: `sign_in` when that
   * session is below the level the certificate needs, `not_found` when the certificate is not the
   * citizen's or not valid. Without it the page shows no "add to the app" button.
   */
  walletOffer?(who: { sub: string; accountId: string; sessionUid: string; certificateId: string; ip?: string | undefined; requestId?: string | undefined }): Promise<{ offerUri: string; txCode: string; expiresAt: number } | 'sign_in' | 'not_found'>;
}
