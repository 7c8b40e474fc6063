import type { AuditLog } from '../../audit/index.js';
import { recordedOf, type SignOut } from '../../oidc/sign-out.js';
import type { DeviceKeys } from './device-keys.js';
import type { Credentials } from '../../credentials/index.js';
import { revokeWithRecord } from '../../storage/revocation-hold.js';

/** Who revokes, as the audit records name them, and `via`: where (the CLI, a counter). */
export interface DeviceKeyRevoker {
  actorType: 'system' | 'operator';
  actorId: string;
  via: 'cli' | 'counter';
  clientId?: string | undefined;
  channel?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
}

/**
 * A lost phone (for a citizen whose only second factor was its app, online removal needs a loa:2
 * sign-in only that phone gives): revokes every device key of the account's government app, and
 * ends what each let in (the app's logins made with it, the browser sessions its approvals signed
 * in); each key is revoked with its `credential.removed` record, then its logins end
 * (`session.ended`). Then the account is signed out everywhere and every wallet credential it holds
 * is revoked, with its pending offers: the app's own sign-in on that phone (a password and a code,
 * made by no key), a browser session in it and the credentials in its wallet would outlive the keys,
 * and Yihao cannot tell that phone's from the citizen's others. Returns how many keys were revoked.
 */
export async function revokeAllDeviceKeys(
  deps: {
    deviceKeys: Pick<DeviceKeys, 'listForAccount' | 'revoke'>;
    signOut: Pick<SignOut, 'endDeviceKeyLogins' | 'everywhere'>;
    audit: Pick<AuditLog, 'append'>;
    credentials: Pick<Credentials, 'lostPhone'>;
  },
  account: { id: string; sub: string },
  who: DeviceKeyRevoker,
): Promise<number> {
  const { via, ...actor } = who;
  const by = { ...actor, accountId: account.sub };
  let revoked = 0;
  for (const key of await deps.deviceKeys.listForAccount(account.id)) {
    const recorded = await deps.deviceKeys.revoke(account.id, key.id, (trx) => deps.audit.append({ action: 'credential.removed', ...by, details: { type: 'device', via, deviceKeyId: key.id } }, { trx }));
    if (!recorded) continue;
    revoked++;
    // Each sign-out's grants go with its record (storage/revocation-hold.ts). Unlike a single key's
    // removal, a failed one is not carried out without it: the retry, finding this key revoked,
    // still signs the account out everywhere below.
    await revokeWithRecord(
      () => deps.signOut.endDeviceKeyLogins(account.sub, key.id),
      (ended, trx) => deps.audit.append({ action: 'session.ended', ...by, details: { reason: 'device_key_revoked', deviceKeyId: key.id, via, ...recordedOf(ended) } }, { trx }),
    );
  }
  // The wallets first: a credential is a way in (a presentation at a kiosk) that no sign-out ends.
  await deps.credentials.lostPhone(account, actor);
  await revokeWithRecord(
    () => deps.signOut.everywhere(account.sub),
    (ended, trx) => deps.audit.append({ action: 'session.ended', ...by, details: { everywhere: true, reason: 'lost_phone', via, ...recordedOf(ended) } }, { trx }),
  );
  return revoked;
}
