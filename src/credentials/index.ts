import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { proofReplay } from '../http/request-proofs.js';
import type { Config } from '../config/index.js';
import type { PurposeKeys, Sealer } from '../identity/index.js';
import { accessTokenVerifier } from '../oidc/access-token-verifier.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { keyHeld } from '../storage/key-held.js';
import { credentialRequests } from './credential-request.js';
import { credentialStore } from './credential-store.js';
import { credentialRoutes } from './credentials.routes.js';
import { createIssuerKeys } from './issuer-keys.js';
import { credentialIssuerMetadata, issuerMetadataResult } from './issuer-metadata.js';
import { issuerSigner } from './issuer-signer.js';
import { credentialNonces } from './nonces.js';
import { exportBundle } from './offline-bundle.js';
import { credentialRevocation } from './revocation.js';
import { citizenCredentials } from './citizen-credentials.js';
import { statusLists } from './status-lists.js';
import type { Authentication } from '../accounts/index.js';
import { credentialOfferRoutes } from './credential-offer.routes.js';
import { counterOfferRoutes } from './counter-offer.routes.js';
import { credentialOffers } from './credential-offers.js';
import { identityOffers } from './identity-offers.js';
import { preAuthorizedGrant } from './pre-authorized-grant.js';
import { certificateConfigurations } from './certificate-credential.js';
import { approvedType, certificateStore } from './certificate-store.js';
import { certificateIssuance } from './certificates.js';
import { certificateTypeRoutes } from './certificate-type.routes.js';
import { accountDisabledCredentials } from './account-disabled.js';
import type { AccountIndex, KeyLinkModel } from '../storage/account-index.js';
import type { DisabledBy } from '../oidc/sign-out.js';
import { keysOfLogin } from '../oidc/token-facts.js';
import type { IdentityProofing } from '../channels/kiosk/identity-proofing.js';
import type { CredentialOffers } from './credential-offers.js';
import { certificateOffers, issuable } from './certificate-offers.js';
import { offerBindings } from './offer-bindings.js';
import { scopeOf as certificateScopeOf, typeIdOfConfiguration } from './certificate-types.js';
import type { Database as OfferDatabase } from '../storage/database.js';
import { createVerifier } from './verifier.js';
import { clientStore } from '../clients/index.js';
import type { OtpService } from '../sms/index.js';

export { IDENTITY_CONFIGURATION_ID, IDENTITY_SCOPE, IDENTITY_VCT } from './identity-credential.js';
export { credentialView, type IssuedCredential } from './credential-store.js';
export type { CredentialRevocation, Revoker } from './revocation.js';
export type { Certificate, CertificateStatus, CertificateStore, CertificateType, CertificateTypeVersion, ClaimValues } from './certificate-store.js';
export { approvedType } from './certificate-store.js';
export type { CertificateIssuance } from './certificates.js';
export { certificateScopes } from './certificate-credential.js';
export type { CertificateOffers, CertificateOfferRefusal } from './certificate-offers.js';
export type { CreatedOffer } from './credential-offers.js';
export { citizenCertificates, type CertificateSummary, type CitizenCertificates } from './citizen-certificates.js';
export type { CitizenCredentials, WalletCredentialSummary } from './citizen-credentials.js';
export * from './certificate-types.js';

/** A c_nonce is good for this long: time for a wallet to ask the citizen to unlock its keys. */
const NONCE_SECONDS = 300;

/**
 * Yihao as a credential issuer (docs/credentials.md): the citizen's identity credential as an
 * SD-JWT VC through OID4VCI's authorization-code flow, with revocation through Token Status Lists.
 */
export function createCredentials(deps: {
  config: Config;
  db: Database;
  sealer: Sealer;
  purposeKeys: PurposeKeys;
  Adapter: AdapterConstructor;
  accounts: Accounts;
  audit: AuditLog;
  provider: () => Provider;
  /** The pending credential offers (createCredentialOffers), which die with a disabled account. */
  offers: Pick<CredentialOffers, 'dropFor' | 'dropMadeWith'>;
  /** Whether an account holds counter-staff over a counter client (admin/counter-staff-scope.ts): who may start a presentation request. */
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  /** Where a credential is linked to the key that made or approved its login, and found when the key is removed. */
  accountIndex: Pick<AccountIndex, 'keysOfGrant' | 'linkCredential' | 'credentialsOfKey' | 'unlinkCredential'>;
  /** The logins' records (oidc/session-authentications.ts): which key made or approved a token's login. */
  authentications: { find(sessionUid: string): Promise<Authentication | undefined> };
}) {
  const { config } = deps;
  const issuer = config.issuer;
  // A retired issuer key stays published while a credential it signed can still be valid: a
  // rotation must not strand wallets' credentials before their own expiry.
  const keys = createIssuerKeys(deps.db, deps.sealer, { retiredKeepSeconds: Math.max(config.keys.retiredKeepSeconds, config.credentials.validitySeconds), publishSeconds: config.keys.publishSeconds });
  const signer = issuerSigner(keys, config.keys.refreshSeconds);
  const keyActive = keyHeld(deps.db);

  /**
   * The keys a token's login was made or approved with: the login record under the token's session
   * uid (a redeemed offer's names the portal login that made the offer, as issueGrantTokens saved
   * it; an app's device-key login names its key), and the keys the grant's codes and refresh tokens
   * were linked to (storage/account-index.ts: an authorization-code sign-in with a passkey).
   */
  async function loginKeys(token: unknown, accountSub: string): Promise<{ model: KeyLinkModel; id: string }[]> {
    const { sessionUid, grantId } = token as { sessionUid?: unknown; grantId?: unknown };
    const [login, ofGrant] = await Promise.all([
      typeof sessionUid === 'string' ? deps.authentications.find(sessionUid) : undefined,
      typeof grantId === 'string' ? deps.accountIndex.keysOfGrant(accountSub, grantId) : [],
    ]);
    const found = new Map(ofGrant.map((k) => [`${k.model}:${k.id}`, k]));
    if (login?.accountId === accountSub) for (const k of keysOfLogin(login)) found.set(`${k.model}:${k.id}`, k);
    return [...found.values()];
  }
  const store = credentialStore(deps.db, { statusListSize: config.credentials.statusListSize });
  const lists = statusLists({ store, signer, issuer, ttlSeconds: config.credentials.statusListTtlSeconds });
  const nonces = credentialNonces({ keyed: deps.purposeKeys.keyed('credential_nonce', 2), Adapter: deps.Adapter, lifetimeSeconds: NONCE_SECONDS });
  const certificates = certificateStore(deps.db, deps.sealer);
  const issuance = certificateIssuance({ db: deps.db, certificates, store, statusLists: lists, signer, audit: deps.audit, issuer, bindings: offerBindings(deps.Adapter) });
  // The identity credential's configuration, and one per certificate type in force (read each time:
  // types are few). A type awaiting its second national approval is announced nowhere.
  const typesInForce = async () => (await certificates.types()).filter(approvedType);
  const metadata = async () => {
    const base = credentialIssuerMetadata(issuer);
    const [types, versions] = await Promise.all([typesInForce(), certificates.allTypeVersions()]);
    return { ...base, credential_configurations_supported: { ...base.credential_configurations_supported, ...certificateConfigurations(types, versions) } };
  };
  const requests = credentialRequests({
    issuer,
    metadata: async () => issuerMetadataResult(issuer, await metadata()),
    verifyAccessToken: accessTokenVerifier({ provider: deps.provider, accounts: deps.accounts }),
    replay: proofReplay(deps.Adapter),
    nonces,
    store,
    statusLists: lists,
    signer,
    audit: deps.audit,
    validitySeconds: config.credentials.validitySeconds,
    certificates: issuance,
    recoveryHoldSeconds: config.passwordReset.holdSeconds,
    loginLinks: async (token, accountSub) => {
      const keys = await loginKeys(token, accountSub);
      const linked: string[] = [];
      return {
        async add(credentialId, expiresAt) {
          linked.push(credentialId);
          for (const key of keys) await deps.accountIndex.linkCredential(accountSub, key, credentialId, expiresAt);
        },
        async settle() {
          if (linked.length === 0) return true;
          const active = await Promise.all(keys.map(keyActive));
          const gone = keys.find((_, i) => !active[i]);
          if (!gone) return true;
          await revocation.revokeWithKey(accountSub, linked, gone.model);
          return false;
        },
      };
    },
  });
  const revocation = credentialRevocation({ db: deps.db, store, accounts: deps.accounts, audit: deps.audit, accountIndex: deps.accountIndex });
  const walletsOfAccount = accountDisabledCredentials({ offers: deps.offers, store, audit: deps.audit });
  const verifier = createVerifier({
    ...deps,
    issuer,
    issuerSigner: signer,
    statusLists: lists,
    store,
    certificates,
    lifetimeSeconds: config.credentials.presentationSeconds,
    keys: { retiredKeepSeconds: config.keys.retiredKeepSeconds, refreshSeconds: config.keys.refreshSeconds, publishSeconds: config.keys.publishSeconds },
    bodyMaxBytes: config.limits.bodyMaxBytes,
  });
  return {
    /** Creates the first issuer and verifier keys if there are none (as the token signing keys are). */
    ensureKeys: async () => {
      await keys.ensure();
      await verifier.ensureKeys();
    },
    /** The OID4VP verifier for counters and kiosks: presentation requests, their results, sign-in by presentation. */
    verifier,
    keys,
    signer,
    store,
    revocation,
    /** For oidc/sign-out.ts's disableAccount: revokes the account's credentials and drops its offers (account-disabled.ts). */
    accountDisabled: walletsOfAccount,
    /**
     * A lost phone (channels/mobile/revoke-device-keys.ts): every wallet credential of the account and
     * its pending offers, as a disabled account's. The phone's wallet is among them, and which one
     * it is cannot be told: the citizen asks for their credentials again on the new phone.
     */
    lostPhone: async (account: { id: string; sub: string }, by: DisabledBy): Promise<void> => {
      await deps.db.transaction(await walletsOfAccount(account, by, 'lost_phone'));
    },
    /**
     * For oidc/sign-out.ts's endKeyLogins, once a device key or passkey is removed: drops the pending
     * offers made from logins it made or approved, then revokes the credentials issued on them; how
     * many credentials it revoked.
     */
    keyRemoved: async (accountSub: string, key: { model: KeyLinkModel; id: string }): Promise<number> => {
      await deps.offers.dropMadeWith(accountSub, key);
      return revocation.revokeForKey(accountSub, key);
    },
    /** The credentials in a citizen's own wallets, for the portal's wallet page: listed, and revoked by the citizen. */
    citizen: citizenCredentials({ store, certificates, revocation }),
    /** Department certificates: their types and pushed certificates, and revoking them with their wallet copies. */
    certificates: { store: certificates, issuance },
    router: () => {
      const router = credentialRoutes({ issuer, metadata, requests, nonces, signer, statusLists: lists, statusListTtlSeconds: config.credentials.statusListTtlSeconds, bodyMaxBytes: config.limits.bodyMaxBytes });
      certificateTypeRoutes(router, { issuer, certificates, maxAge: 300 });
      const verifying = verifier.router();
      router.use(verifying.routes());
      return router;
    },
    /** The offline verification bundle (`yihao credential bundle`). */
    bundle: async () => exportBundle({ issuer, metadata: await metadata(), certificateTypes: await typesInForce(), signer, store, statusLists: lists, ttlSeconds: config.credentials.statusListTtlSeconds }),
  };
}
export type Credentials = ReturnType<typeof createCredentials>;

/**
 * The pre-authorized code flow (docs/credentials.md): credential offers, the token endpoint's grant
 * that redeems them, the offer documents' route, and the portal's offers of the identity credential.
 * Built before the provider, which registers the grant.
 */
export function createCredentialOffers(deps: {
  config: Config;
  db: OfferDatabase;
  sealer: Sealer;
  purposeKeys: PurposeKeys;
  Adapter: AdapterConstructor;
  accounts: Accounts;
  audit: AuditLog;
  authentications: { find(sessionUid: string): Promise<Authentication | undefined> };
  /** Whether an account holds counter-staff over a counter client (admin/counter-staff-scope.ts). */
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  provider: () => Provider;
  accountIndex: Pick<AccountIndex, 'idsOf'>;
  /** Identity proofing evidence: the counter's offer keeps the staff member's check (channels/kiosk/identity-proofing.ts). */
  proofing: Pick<IdentityProofing, 'record'>;
  /** Sends a counter offer's transaction code to the citizen's phone. */
  otp: Pick<OtpService, 'offerCodeSlot'>;
}) {
  const { issuer } = deps.config;
  // The transaction code's keyed hash: a key of the same short-lived issuance secrets as c_nonces, under its own label.
  const offers = credentialOffers({ issuer, keyed: deps.purposeKeys.keyed('credential_nonce', 2), Adapter: deps.Adapter, lifetimeSeconds: deps.config.credentials.offerSeconds, accountIndex: deps.accountIndex });
  const configurations = credentialIssuerMetadata(issuer).credential_configurations_supported;
  const certificates = certificateStore(deps.db, deps.sealer);
  const registry = clientStore(deps.db);
  const scopeOf = (id: string) => {
    if (Object.hasOwn(configurations, id)) return configurations[id]!.scope;
    const typeId = typeIdOfConfiguration(id);
    return typeId ? certificateScopeOf(typeId) : undefined;
  };
  return {
    offers,
    grant: preAuthorizedGrant({
      issuer,
      offers,
      accounts: deps.accounts,
      audit: deps.audit,
      scopeOf,
      accessTokenTTL: deps.config.ttl.accessTokenSeconds,
      keyed: deps.purposeKeys.keyed('pairwise', 1),
      bindings: offerBindings(deps.Adapter),
      certificateIssuable: async (accountId, certificateId) => issuable(await certificates.find(certificateId), accountId, Date.now()),
    }),
    portal: identityOffers({ offers, authentications: deps.authentications, audit: deps.audit }),
    /** The portal's offers of one department certificate each. */
    certificates: certificateOffers({ offers, certificates, authentications: deps.authentications, audit: deps.audit }),
    router: () => credentialOfferRoutes(offers),
    counterRouter: () =>
      counterOfferRoutes({
        issuer,
        offers,
        accounts: deps.accounts,
        verifyAccessToken: accessTokenVerifier({ provider: deps.provider, accounts: deps.accounts }),
        isCounterStaff: deps.isCounterStaff,
        replay: proofReplay(deps.Adapter),
        audit: deps.audit,
        bodyMaxBytes: deps.config.limits.bodyMaxBytes,
        proofing: deps.proofing,
        txCode: deps.config.credentials.counterTxCode === 'sms' ? { by: 'sms', sms: deps.otp, validMinutes: Math.max(1, Math.floor(deps.config.credentials.offerSeconds / 60)) } : { by: 'counter_screen' },
        certificates,
        departmentOf: async (clientId) => (await registry.find(clientId))?.departmentId,
      }),
  };
}
export type CredentialOfferService = ReturnType<typeof createCredentialOffers>;
