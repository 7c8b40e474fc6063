import type { FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Authentication } from '../../accounts/index.js';
import { deviceKeyOf, issuedFacts } from '../../oidc/token-facts.js';
import type { DeviceKeys } from './device-keys.js';

/**
 * A login a phone's key made or approved signs nothing in once the key is removed, where the key's
 * removal cannot reach it: a QR hand-off the browser completed but has not yet followed to the
 * provider, whose session is written only then (found by a review: the citizen removed the phone
 * in that gap, and the relayer's browser went on to live tokens). Looked at as the login is resumed
 * (the login's record is in the request) and as its code is redeemed (the code's facts name the
 * key): a refresh or userinfo needs no look, since the removal revoked what the login was issued.
 */
export function withoutRemovedKeyLogins(deviceKeys: Pick<DeviceKeys, 'find'>) {
  return (inner: FindAccount): FindAccount =>
    async (ctx, sub, token) => {
      const keyId = token ? ((token as { kind?: string }).kind === 'AuthorizationCode' ? issuedFacts(token)?.device_key_id : undefined) : deviceKeyOf(freshLogin(ctx))?.id;
      if (keyId !== undefined && !(await deviceKeys.find(keyId))) return undefined;
      return inner(ctx, sub, token);
    };
}

/** The login finished in this very request (a resume), not yet saved beside the session. */
const freshLogin = (ctx: KoaContextWithOIDC): Authentication | undefined => (ctx.oidc?.result as { login?: { authentication?: Authentication } } | undefined)?.login?.authentication;
