import Router from '@koa/router';
import { z } from 'zod';
import type { Accounts } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { ChannelApiError, channelApiErrors } from '../../http/api-error.js';
import type { ProofReplay } from '../../http/request-proofs.js';
import { parseCitizenId } from '../../identity/index.js';
import type { VerifyAccessToken } from '../../oidc/access-token-verifier.js';
import type { SignOut } from '../../oidc/sign-out.js';
import type { Credentials } from '../../credentials/index.js';
import type { DeviceKeys } from '../mobile/device-keys.js';
import { revokeAllDeviceKeys } from '../mobile/revoke-device-keys.js';
import { staffCall } from './staff-token.js';
import { DOCUMENT_CHECKED } from './token-exchange.js';

export const COUNTER_DEVICE_KEYS_REVOKE_PATH = '/counter/device-keys/revoke';

const request = z.object({
  citizen_id: z.string().max(64),
  /** The staff member attests that they checked the citizen's ID document in person, as token exchange asks. */
  document_check: z.literal(DOCUMENT_CHECKED),
}).strict();

export interface CounterDeviceKeysDeps {
  issuer: string;
  accounts: Pick<Accounts, 'findByIdentifier'>;
  verifyAccessToken: VerifyAccessToken;
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  replay: ProofReplay;
  audit: AuditLog;
  deviceKeys: Pick<DeviceKeys, 'listForAccount' | 'revoke'>;
  signOut: () => Pick<SignOut, 'endDeviceKeyLogins' | 'everywhere'>;
  /** The account's wallet credentials and offers, revoked with the phone (built after this router). */
  credentials: () => Pick<Credentials, 'lostPhone'>;
  bodyMaxBytes: number;
  /** Spends one of the staff member's revocations (`rateLimits.counterDeviceRevocations`); the seconds to wait once they are spent. */
  perStaff: (staffSub: string) => Promise<number | undefined>;
}

/**
 * `POST /counter/device-keys/revoke`: a citizen who lost the phone that was their only second
 * factor cannot remove its key online (removal needs a loa:2 sign-in, which only that phone gives).
 * At a counter, a staff member who checked their ID card in person revokes every device key of the
 * account's government app, and what each let in ends, as `yihao account revoke-devices` does
 * (docs/channels/counter-assisted.md). The counter system calls it with the staff member's own
 * access token (a live session at loa:2 or above, with a DPoP proof of this request when bound), and
 * the staff member must hold `counter-staff` over that counter system. Every revocation and every
 * refusal after the staff check is audited against the staff member, never with the number.
 */
export function counterDeviceKeysRouter(deps: CounterDeviceKeysDeps): Router {
  const router = new Router();
  const staffCallOf = staffCall(deps);
  router.post(COUNTER_DEVICE_KEYS_REVOKE_PATH, channelApiErrors, async (ctx) => {
    const { json, staff, client, where } = await staffCallOf(ctx, COUNTER_DEVICE_KEYS_REVOKE_PATH, 'invalid_request');
    const refused = (reason: string, accountId?: string) =>
      deps.audit.append({ action: 'counter.assist_refused', actorType: 'operator', actorId: staff.sub, accountId, details: { reason, operation: 'device_keys.revoke' }, ...where });
    if (!(await deps.isCounterStaff(staff.id, client.clientId))) {
      await refused('not_counter_staff');
      throw new ChannelApiError(403, 'insufficient_scope', 'the staff member is not counter staff of the department over this counter');
    }
    const body = request.safeParse(json);
    if (!body.success) throw new ChannelApiError(400, 'invalid_request', `the body must be { "citizen_id": …, "document_check": "${DOCUMENT_CHECKED}" }`);
    let citizen;
    try {
      citizen = await deps.accounts.findByIdentifier(parseCitizenId(body.data.citizen_id));
    } catch {
      throw new ChannelApiError(400, 'invalid_request', 'citizen_id is not a valid citizen ID number');
    }
    // A miss is on record too: a counter trying numbers to learn who has an account leaves a trail.
    if (citizen?.status !== 'active') {
      await refused('no_active_account');
      throw new ChannelApiError(404, 'not_found', 'there is no active account for this citizen ID number');
    }
    // Staff lose phones too: a colleague serves them, so that no one acts on their own account.
    if (citizen.id === staff.id) {
      await refused('own_identity', citizen.sub);
      throw new ChannelApiError(403, 'insufficient_scope', 'staff cannot revoke their own device keys at their counter: a colleague does');
    }
    // Each revocation signs a citizen out everywhere: a staff member (or a stolen staff token) who
    // types number after number cuts many citizens off, so each staff member has a daily budget.
    const wait = await deps.perStaff(staff.sub);
    if (wait !== undefined) {
      await refused('too_many_revocations', citizen.sub);
      ctx.set('retry-after', String(wait));
      throw new ChannelApiError(429, 'too_many_requests', "this staff member has revoked too many citizens' device keys lately; another staff member or an operator can go on");
    }
    const revoked = await revokeAllDeviceKeys(
      { deviceKeys: deps.deviceKeys, signOut: deps.signOut(), audit: deps.audit, credentials: deps.credentials() },
      citizen,
      { actorType: 'operator', actorId: staff.sub, via: 'counter', ...where },
    );
    ctx.set('cache-control', 'no-store');
    ctx.body = { revoked, signed_out_everywhere: true };
  });
  return router;
}
