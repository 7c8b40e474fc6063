import type Router from '@koa/router';
import { z } from 'zod';
import { ACR } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { acrRank } from '../../oidc/acr-policy.js';
import { ChannelApiError, invalidDeviceSignature, invalidRequest } from '../../http/api-error.js';
import type { MobileApiAuth } from './api-auth.js';
import type { DeviceKeyChallenges } from './challenges.js';
import { p256PublicJwk, type DeviceKey, type DeviceKeyAmr, type DeviceKeys } from './device-keys.js';
import { type ProofReplay } from '../../http/request-proofs.js';
import { DEVICE_SIGNATURE_HEADER, verifyDeviceSignature } from './device-signatures.js';

/** Key storage an app may claim; only the hardware ones can ever count as `hwk`. */
export const CLAIMED_STORAGE = ['secure-enclave', 'strongbox', 'tee', 'software'] as const;
const HARDWARE = new Set<string>(['secure-enclave', 'strongbox', 'tee']);
const MAX_KEYS_PER_ACCOUNT = 10;

export interface MobileRoutesDeps {
  auth: MobileApiAuth;
  deviceKeys: DeviceKeys;
  challenges: DeviceKeyChallenges;
  replay: ProofReplay;
  audit: AuditLog;
  /**
   * Whether an app's claim of hardware key storage is believed (amr `hwk`). Yihao does not verify
   * platform attestation (App Attest, Android key attestation), so by default every key is `swk`.
   */
  trustClaimedHardwareKeys: boolean;
}

const enrolment = z
  .object({
    jwk: p256PublicJwk,
    name: z.string().trim().min(1).max(64).default('mobile device'),
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

/**
 * The device-key API of the government app, under /mobile:
 * - `POST /mobile/device-keys`: enrol a P-256 key. DPoP-bound token from a loa:2 login, and the
 *   call signed with the new key itself (proof that the app holds its private part).
 * - `GET /mobile/device-keys`, `DELETE /mobile/device-keys/:id`: list and revoke (DPoP-bound token).
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
    // The key then gives loa:2 logins by itself, so it is enrolled only from a loa:2 login.
    if (acrRank(call.authentication?.acr) < acrRank(ACR.twoFactor)) {
      throw new ChannelApiError(403, 'insufficient_user_authentication', `enrolling a device key needs a login at ${ACR.twoFactor} or above`);
    }
    const { jwk, name, storage } = parsed.data;
    const signature = ctx.get(DEVICE_SIGNATURE_HEADER) || undefined;
    if (!signature) throw invalidDeviceSignature(`sign the enrolment with the new key (${DEVICE_SIGNATURE_HEADER} header)`);
    await verifyDeviceSignature(signature, call.facts, { id: `enrol:${call.account.id}`, jwk }, deps.replay);
    if ((await deps.deviceKeys.listForAccount(call.account.id)).length >= MAX_KEYS_PER_ACCOUNT) {
      throw new ChannelApiError(409, 'invalid_request', `an account holds at most ${MAX_KEYS_PER_ACCOUNT} device keys: revoke one first`);
    }
    const amr: DeviceKeyAmr = deps.trustClaimedHardwareKeys && storage && HARDWARE.has(storage) ? 'hwk' : 'swk';
    const result = await deps.deviceKeys.enrol({ accountId: call.account.id, clientId: call.clientId, jwk, amr, claimedStorage: storage, name });
    if (!result.ok) throw new ChannelApiError(409, 'invalid_request', 'this key is already enrolled');
    await deps.audit.append({
      action: 'credential.added',
      actorType: 'citizen',
      actorId: call.account.sub,
      accountId: call.account.sub,
      clientId: call.clientId,
      channel: 'mobile',
      ip: ctx.ip,
      details: { type: 'device_key', deviceKeyId: result.key.id, amr, claimedStorage: storage },
    });
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
    if (!(await deps.deviceKeys.revoke(call.account.id, ctx.params.id!))) throw new ChannelApiError(404, 'not_found', 'no such device key');
    await deps.audit.append({
      action: 'credential.removed',
      actorType: 'citizen',
      actorId: call.account.sub,
      accountId: call.account.sub,
      clientId: call.clientId,
      channel: 'mobile',
      ip: ctx.ip,
      details: { type: 'device_key', deviceKeyId: ctx.params.id },
    });
    ctx.status = 204;
  });
}
