import type { Database } from './database.js';
import type { KeyLinkModel } from '../oidc/token-facts.js';

/**
 * Whether a key is still there: a device key not revoked (channels/mobile/device-keys.ts), a
 * passkey or an authenticator app not removed (its `credentials` row, which the portal deletes).
 * Read from their tables, as the store reads an account's status: removing any of them commits
 * before it collects its links, so whatever was linked to a key and then finds it held was linked
 * in time for its removal to find it.
 */
export function keyHeld(db: Database): (key: { model: KeyLinkModel; id: string }) => Promise<boolean> {
  return async (key) => {
    const row =
      key.model === 'DeviceKeyGrant'
        ? await db('device_keys').where({ id: key.id }).whereNull('revoked_at').first('id')
        : await db('credentials').where({ id: key.id, type: key.model === 'PasskeyGrant' ? 'passkey' : 'totp' }).first('id');
    return row !== undefined;
  };
}

/** Those of `keys` still there, in their order. */
export async function keysStillHeld<K extends { model: KeyLinkModel; id: string }>(held: (key: K) => Promise<boolean>, keys: readonly K[]): Promise<K[]> {
  const there = await Promise.all(keys.map(held));
  return keys.filter((_, i) => there[i]);
}
