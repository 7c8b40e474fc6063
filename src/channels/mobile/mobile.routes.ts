import type Router from '@koa/router';
import { z } from 'zod';
import { ACR } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { acrRank } from '../../oidc/acr-policy.js';
import { recordedOf, type SignOut } from '../../oidc/sign-out.js';
import { revokeEvenWithoutRecord } from '../../storage/revocation-hold.js';
import type { AccountIndex } from '../../storage/account-index.js';
import type { KeyLinkModel } from '../../oidc/token-facts.js';
import { keysStillHeld } from '../../storage/key-held.js';
import { ChannelApiError, invalidDeviceSignature, invalidRequest, invalidToken } from '../../http/api-error.js';
import type { AppCall, MobileApiAuth } from './api-auth.js';
import type { DeviceKeyChallenges } from './challenges.js';
import { MAX_DEVICE_KEYS_PER_ACCOUNT, p256PublicJwk, type DeviceKey, type DeviceKeyAmr, type DeviceKeys } from './device-keys.js';
import { type ProofReplay } from '../../http/request-proofs.js';
import { recoveryHoldUntil } from '../../accounts/recovery-hold.js';
import { DEVICE_SIGNATURE_HEADER, verifyDeviceSignature } from './device-signatures.js';
import { HIDDEN_TEXT_MESSAGE, showsAsWritten } from '../../visible-text.js';

/** Key storage an app may claim; only the hardware ones can ever count as `hwk`. */
export const CLAIMED_STORAGE = ['secure-enclave', 'strongbox', 'tee', 'software'] as const;
const HARDWARE = new Set<string>(['secure-enclave', 'strongbox', 'tee']);
/** How old (auth_time) the sign-in behind an enrolment or a removal may be: a refreshed token keeps its login's. */
const FRESH_SIGN_IN_SECONDS = 300;

export interface MobileRoutesDeps {
  auth: MobileApiAuth;
  deviceKeys: DeviceKeys;
  challenges: DeviceKeyChallenges;
  replay: ProofReplay;
  audit: AuditLog;
  /** Where a new key is filed under the keys of the login that enrolled it. */
  accountIndex: Pick<AccountIndex, 'keysOfGrant' | 'linkBoundKey'>;
  /** Whether a key is still there (storage/key-held.ts). */
  keyHeld: (key: { model: KeyLinkModel; id: string }) => Promise<boolean>;
  /** Whether a grant still exists (not revoked, not expired). */
  grantAlive: (grantId: string) => Promise<boolean>;
  /** Ends the logins of a revoked key (built after the channels, so reached at request time). */
  signOut: () => Pick<SignOut, 'endDeviceKeyLogins'>;
  /**
   * Whether an app's claim of hardware key storage is believed (amr `hwk`). Yihao does not verify
   * platform attestation (App Attest, Android key attestation), so by default every key is `swk`.
   */
  trustClaimedHardwareKeys: boolean;
  /** `passwordReset.holdSeconds` (accounts/recovery-hold.ts). */
  recoveryHoldSeconds: number;
}

const enrolment = z
  .object({
    jwk: p256PublicJwk,
    // Shown in the portal's list of sign-in methods: no controls (PostgreSQL refuses a NUL: a 500)
    // and nothing that turns the text around.
    name: z.string().trim().min(1).max(64).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE).default('mobile device'),
    storage: z.enum(CLAIMED_STORAGE).optional(),
  })
  .strict();

const shown = (k: DeviceKey) => ({
  id: k.id,
  name: k.name,
  amr: k.amr,
  created_at: Math.floor(k.createdAt / 1000),
  ...(k.lastUsedAt ? { last_used_at: Math.floor(k.lastUsedAt / 1000) } : {}),
});

const insufficient = (description: string) => new ChannelApiError(403, 'insufficient_user_authentication', description);
const SIGN_IN_HERE = 'sign in on this device with a password and second factor, or a passkey (prompt=login)';

/**
 * A device key gives loa:2 logins by itself, for as long as it lives, and approves the citizen's
 * sign-ins elsewhere: it is enrolled only from a loa:2 sign-in made on the device that holds the
 * token, and a recent one. Not from a phone's approval (a QR code phished from the citizen would
 * otherwise become the attacker's own key, also through single sign-on in the browser the code
 * signed in), nor from a device key's own login (a stolen key would make itself a second one that
 * outlives its removal), nor from an old sign-in whose token was refreshed since.
 */
function refuseUnfitSignIn(call: AppCall): void {
  const signIn = call.authentication;
  if (!signIn || acrRank(signIn.acr) < acrRank(ACR.twoFactor)) throw insufficient(`enrolling a device key needs a login at ${ACR.twoFactor} or above`);
  if (call.deviceKeyUse === 'approval') throw insufficient(`a sign-in approved on a phone (a QR code, a counter's request) cannot enrol a device key: ${SIGN_IN_HERE}`);
  if (call.deviceKeyUse === 'login') throw insufficient(`a device key's own login cannot enrol another device key: ${SIGN_IN_HERE}`);
  if (signIn.at < Date.now() / 1000 - FRESH_SIGN_IN_SECONDS) {
    throw insufficient(`enrolling a device key needs a sign-in within the last ${FRESH_SIGN_IN_SECONDS / 60} minutes: sign in again (max_age=${FRESH_SIGN_IN_SECONDS})`);
  }
}

/**
 * Removing a device key needs what the portal's removal of a phone needs (portal/actions.routes.ts):
 * a loa:2 sign-in (the account holds a second factor: this key) made within the last five minutes.
 * A device key's own login or a phone's approval is such a sign-in. Not a password or an SMS code
 * alone: with the app removed, they would reach loa:2 by themselves and bind a factor of their own.
 * Not an old sign-in whose token was refreshed since: the app left unlocked on a desk.
 */
function refuseUnfitRemoval(call: AppCall): void {
  const signIn = call.authentication;
  if (!signIn || acrRank(signIn.acr) < acrRank(ACR.twoFactor)) throw insufficient(`removing a device key needs a login at ${ACR.twoFactor} or above`);
  if (signIn.at < Date.now() / 1000 - FRESH_SIGN_IN_SECONDS) {
    throw insufficient(`removing a device key needs a sign-in within the last ${FRESH_SIGN_IN_SECONDS / 60} minutes: sign in again (max_age=${FRESH_SIGN_IN_SECONDS}, or a device-key login)`);
  }
}

/**
 * The device-key API of the government app, under /mobile:
 * - `POST /mobile/device-keys`: enrol a P-256 key. DPoP-bound token from a recent loa:2 sign-in
 *   made on the device (`refuseUnfitSignIn`), and the call signed with the new key itself (proof
 *   that the app holds its private part).
 * - `GET /mobile/device-keys`, `DELETE /mobile/device-keys/:id`: list and revoke (DPoP-bound token;
 *   revoking needs a recent loa:2 sign-in, `refuseUnfitRemoval`); revoking a key ends the logins it
 *   made and the browser sessions it approved.
 * - `POST /mobile/challenge`: a single-use challenge for the device-key login (no authentication).
 */
export function mobileRoutes(router: Router, deps: MobileRoutesDeps): void {
  router.post('/mobile/challenge', async (ctx) => {
    const challenge = deps.challenges.issue();
    ctx.set('cache-control', 'no-store');
    ctx.body = { challenge, expires_in: deps.challenges.ttlSeconds };
  });

  router.post('/mobile/device-keys', async (ctx) => {
    const call = await deps.auth.appCall(ctx);
    const parsed = enrolment.safeParse(call.body);
    if (!parsed.success) throw invalidRequest(`invalid device key enrolment: ${parsed.error.issues[0]!.path.join('.') || 'body'} ${parsed.error.issues[0]!.message}`);
    refuseUnfitSignIn(call);
    // A device key outlasts the sign-in: not while the recovery hold after an SMS reset runs.
    const holdUntil = recoveryHoldUntil(call.account, deps.recoveryHoldSeconds);
    if (holdUntil !== undefined) {
      ctx.set('retry-after', String(Math.ceil((holdUntil - Date.now()) / 1000)));
      throw new ChannelApiError(403, 'recovery_hold', `the password was reset by SMS lately: no device key can be enrolled before ${new Date(holdUntil).toISOString()}`);
    }
    const { jwk, name, storage } = parsed.data;
    const signature = ctx.get(DEVICE_SIGNATURE_HEADER) || undefined;
    if (!signature) throw invalidDeviceSignature(`sign the enrolment with the new key (${DEVICE_SIGNATURE_HEADER} header)`);
    await verifyDeviceSignature(signature, call.facts, { id: `enrol:${call.account.id}`, jwk }, deps.replay);
    const amr: DeviceKeyAmr = deps.trustClaimedHardwareKeys && storage && HARDWARE.has(storage) ? 'hwk' : 'swk';
    // The keys that made the enrolling sign-in: the new key is filed under them, so that removing one asks about it.
    const madeWith = call.grantId ? await deps.accountIndex.keysOfGrant(call.account.sub, call.grantId) : [];
    // The key is enrolled with its record, or not at all.
    const result = await deps.deviceKeys.enrol({ accountId: call.account.id, clientId: call.clientId, jwk, amr, claimedStorage: storage, name }, undefined, (deviceKeyId, trx) =>
      deps.audit.append(
        {
          action: 'credential.added',
          actorType: 'citizen',
          actorId: call.account.sub,
          accountId: call.account.sub,
          clientId: call.clientId,
          channel: 'mobile',
          ip: ctx.ip,
          details: { type: 'device_key', deviceKeyId, amr, claimedStorage: storage },
        },
        { trx },
      ),
    );
    if (!result.ok && result.reason === 'too_many') throw new ChannelApiError(409, 'invalid_request', `an account holds at most ${MAX_DEVICE_KEYS_PER_ACCOUNT} device keys: revoke one first`);
    if (!result.ok) throw new ChannelApiError(409, 'invalid_request', 'this key is already enrolled');
    for (const from of madeWith) await deps.accountIndex.linkBoundKey(call.account.sub, from, { model: 'DeviceKeyGrant', id: result.key.id });
    // A key of the sign-in is gone, or its grant (removed before, or while the key was enrolled: that
    // removal may have looked for what it bound before this key was filed). Nothing still held would
    // lead to the new key: it does not stay.
    if ((await keysStillHeld(deps.keyHeld, madeWith)).length < madeWith.length || (call.grantId !== undefined && !(await deps.grantAlive(call.grantId)))) {
      await deps.deviceKeys.revoke(call.account.id, result.key.id);
      throw invalidToken('the sign-in behind this access token has ended');
    }
    ctx.status = 201;
    ctx.set('cache-control', 'no-store');
    ctx.body = shown(result.key);
  });

  router.get('/mobile/device-keys', async (ctx) => {
    const call = await deps.auth.appCall(ctx);
    ctx.set('cache-control', 'no-store');
    ctx.body = { keys: (await deps.deviceKeys.listForAccount(call.account.id)).map(shown) };
  });

  router.delete('/mobile/device-keys/:id', async (ctx) => {
    const call = await deps.auth.appCall(ctx);
    refuseUnfitRemoval(call);
    const deviceKeyId = ctx.params.id!;
    const by = { actorType: 'citizen' as const, actorId: call.account.sub, accountId: call.account.sub, clientId: call.clientId, channel: 'mobile' as const, ip: ctx.ip };
    const revoked = await deps.deviceKeys.revoke(call.account.id, deviceKeyId, (trx) => deps.audit.append({ action: 'credential.removed', ...by, details: { type: 'device_key', deviceKeyId } }, { trx }));
    if (!revoked) throw new ChannelApiError(404, 'not_found', 'no such device key');
    // What the key let in goes out with it: its own logins, and the browser sessions it approved,
    // with their record, or without it when that fails (storage/revocation-hold.ts).
    await revokeEvenWithoutRecord(
      () => deps.signOut().endDeviceKeyLogins(call.account.sub, deviceKeyId),
      (ended, trx) => deps.audit.append({ action: 'session.ended', ...by, details: { reason: 'device_key_revoked', deviceKeyId, ...recordedOf(ended) } }, { trx }),
    );
    ctx.status = 204;
  });
}
