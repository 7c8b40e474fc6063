import Router from '@koa/router';
import type { Configuration, FindAccount } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import type { InteractionDeps } from '../interactions/index.js';
import type { SessionAuthentications } from '../oidc/index.js';
import type { GrantTokenDeps } from '../oidc/grant-tokens.js';
import type { SignOut } from '../oidc/sign-out.js';
import type { Database } from '../storage/database.js';
import type { AccountIndex } from '../storage/account-index.js';
import { keyHeld } from '../storage/key-held.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { approvalStore } from './approvals/approval-store.js';
import { createApprovals } from './approvals/approvals.js';
import { approvalsRoutes } from './approvals/approvals.routes.js';
import { counterCiba } from './ciba/counter-ciba.js';
import { handoffRoutes } from './handoff/handoff.routes.js';
import { qrHandoffs } from './handoff/qr-handoffs.js';
import { channelApiErrors } from '../http/api-error.js';
import { mobileApiAuth } from './mobile/api-auth.js';
import { deviceKeyChallenges } from './mobile/challenges.js';
import { deviceKeyGrant, JWT_BEARER } from './mobile/device-key-grant.js';
import { createDeviceKeys } from './mobile/device-keys.js';
import { mobileRoutes } from './mobile/mobile.routes.js';
import { withoutRemovedKeyLogins } from './mobile/removed-key-logins.js';
import { proofReplay } from '../http/request-proofs.js';

export { ChannelApiError } from '../http/api-error.js';
export type { ApprovalKind, Approvals } from './approvals/approvals.js';
export type { ApprovalRequest, ApprovalDisplay } from './approvals/approval-store.js';
export type { MobileApiAuth, AppCall } from './mobile/api-auth.js';
export type { DeviceKey, DeviceKeys } from './mobile/device-keys.js';
export { JWT_BEARER, DEVICE_KEY_ASSERTION_TYP } from './mobile/device-key-grant.js';
export { DEVICE_SIGNATURE_HEADER, DEVICE_SIGNATURE_TYP } from './mobile/device-signatures.js';

/** What the channels add to oidc-provider's configuration and to each Provider built from it. */
export interface ProviderExtension {
  features: Pick<NonNullable<Configuration['features']>, 'ciba'>;
  findAccount(inner: FindAccount): FindAccount;
  /** Registers the channels' extension grants, which issue through the one issuing function with `tokens`. */
  install(provider: Provider, tokens: GrantTokenDeps): void;
  /** Extra discovery metadata: the channels and the mobile endpoints. */
  discovery: Record<string, unknown>;
}

export interface ChannelSettings {
  /** Believe an app's claim of hardware key storage (amr `hwk`); see docs/channels/mobile.md. */
  trustClaimedHardwareKeys: boolean;
  challengeSeconds: number;
  /** Server key for the device-key challenges' MACs. */
  challengeKey: string;
  handoffSeconds: number;
  /** `passwordReset.holdSeconds`: after a reset by SMS, no device key is enrolled for this long. */
  recoveryHoldSeconds: number;
}

/**
 * The mobile app channel (device keys, device-key login, approvals API), the web QR hand-off and
 * the counter's CIBA path. `routers` go into the outer app; `provider` into oidc-provider's
 * configuration (CIBA, the JWT bearer grant).
 */
export function createChannels(deps: {
  db: Database;
  Adapter: AdapterConstructor;
  accounts: Accounts;
  accountIndex: Pick<AccountIndex, 'keysOfGrant' | 'linkBoundKey'>;
  audit: AuditLog;
  authentications: SessionAuthentications;
  interactions: InteractionDeps;
  issuer: string;
  settings: ChannelSettings;
  /** Sign-out, built after the channels: reached at request time (a revoked device key's logins end with it). */
  signOut: () => SignOut;
}) {
  // Public URLs are stated under the issuer, path included (a proxy that strips the path serves them).
  const base = deps.issuer.replace(/\/+$/, '');
  const deviceKeys = createDeviceKeys(deps.db);
  const replay = proofReplay(deps.Adapter);
  const challenges = deviceKeyChallenges(deps.Adapter, deps.settings.challengeSeconds, deps.settings.challengeKey);
  const store = approvalStore(deps.db);
  const approvals = createApprovals({ store, audit: deps.audit });
  const handoffs = qrHandoffs({ Adapter: deps.Adapter, approvals, deviceKeys, ttlSeconds: deps.settings.handoffSeconds });
  const ciba = counterCiba({ ...deps, deviceKeys, approvals, provider: deps.interactions.provider });
  const grant = deviceKeyGrant({ ...deps, deviceKeys, challenges });
  const auth = mobileApiAuth({
    provider: deps.interactions.provider,
    accounts: deps.accounts,
    deviceKeys,
    replay,
    base,
    bodyMaxBytes: deps.interactions.bodyMaxBytes,
  });

  const api = new Router();
  api.use('/mobile', channelApiErrors);
  mobileRoutes(api, { auth, deviceKeys, challenges, replay, audit: deps.audit, accountIndex: deps.accountIndex, keyHeld: keyHeld(deps.db), grantAlive: async (id) => (await deps.interactions.provider().Grant.find(id)) !== undefined, signOut: deps.signOut, trustClaimedHardwareKeys: deps.settings.trustClaimedHardwareKeys, recoveryHoldSeconds: deps.settings.recoveryHoldSeconds });
  approvalsRoutes(api, { auth, approvals });
  const web = new Router();
  handoffRoutes(web, { ...deps.interactions, handoffs, base });

  const provider: ProviderExtension = {
    features: { ciba: ciba.feature },
    findAccount: (inner) => ciba.findAccount(withoutRemovedKeyLogins(deviceKeys, deps.authentications)(inner)),
    discovery: {
      channels_supported: ['web', 'mobile', 'counter'],
      device_key_challenge_endpoint: `${base}/mobile/challenge`,
      device_keys_endpoint: `${base}/mobile/device-keys`,
      approvals_endpoint: `${base}/mobile/approvals`,
    },
    install(p, tokens) {
      grant.install(p, tokens);
    },
  };
  return { routers: [api, web], provider, approvals, auth, deviceKeys, sweep: (cutoff: number, batchSize?: number) => store.sweep(cutoff, batchSize), grantTypes: [JWT_BEARER] };
}
export type Channels = ReturnType<typeof createChannels>;
