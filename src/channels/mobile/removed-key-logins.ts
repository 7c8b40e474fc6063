import type { FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { Authentication } from '../../accounts/index.js';
import type { SessionAuthentications } from '../../oidc/session-authentications.js';
import { currentFacts, deviceKeyOf, issuedFacts } from '../../oidc/token-facts.js';
import type { DeviceKeys } from './device-keys.js';

/**
 * A login a phone's key made or approved signs nothing in once the key is removed, where the key's
 * removal cannot reach it: a QR hand-off the browser completed but has not yet followed to the
 * provider, whose session is written only then (found by a review: the citizen removed the phone
 * in that gap, and the relayer's browser went on to live tokens). Looked at as the login is resumed
 * (the login's record is in the request) and as its code (or CIBA request, or device code) is
 * redeemed (its facts name the key): a refresh or userinfo needs no look, since the removal revoked
 * what the login was issued.
 */
export function withoutRemovedKeyLogins(deviceKeys: Pick<DeviceKeys, 'find'>, authentications: Pick<SessionAuthentications, 'find'>) {
  /**
   * The key a code's login names. A code carries its login's facts in its stored record, which the
   * adapter noted when the code was found (token-facts.ts), not on the model (a review found a look
   * at the model's `extra` never fired); a code from before facts, the login's own record.
   */
  const keyOfCode = async (code: { grantId?: unknown; accountId?: unknown; sessionUid?: unknown }): Promise<string | undefined> => {
    const facts = issuedFacts(code) ?? currentFacts(code.grantId, code.accountId);
    if (facts) return facts.device_key_id;
    return typeof code.sessionUid === 'string' ? deviceKeyOf(await authentications.find(code.sessionUid))?.id : undefined;
  };
  return (inner: FindAccount): FindAccount =>
    async (ctx, sub, token) => {
      const kind = (token as { kind?: string } | undefined)?.kind;
      const keyId = token ? (kind !== undefined && REDEEMED.has(kind) ? await keyOfCode(token as never) : undefined) : deviceKeyOf(freshLogin(ctx))?.id;
      if (keyId !== undefined && !(await deviceKeys.find(keyId))) return undefined;
      return inner(ctx, sub, token);
    };
}

/**
 * What is redeemed for a login's first tokens: a code, a counter's CIBA request (the full suite
 * showed a counter's poll still getting tokens from a key removed while the phone's approval was
 * written: the removal found no grant to end before the poll), a device code.
 */
const REDEEMED: ReadonlySet<string> = new Set(['AuthorizationCode', 'BackchannelAuthenticationRequest', 'DeviceCode']);

/** The login finished in this very request (a resume), not yet saved beside the session. */
const freshLogin = (ctx: KoaContextWithOIDC): Authentication | undefined => (ctx.oidc?.result as { login?: { authentication?: Authentication } } | undefined)?.login?.authentication;
