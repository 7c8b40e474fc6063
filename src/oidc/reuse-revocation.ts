import Provider, { type Adapter } from 'oidc-provider';
import { AlreadyConsumedError } from '../storage/oidc-adapter.js';
import { revokeGrant } from './internals.js';

type AdapterClass = new (name: string) => Adapter;

/**
 * The artifacts whose second use makes oidc-provider revoke their grant: a consumed refresh token
 * (actions/grants/refresh_token.js) and every grant source its `consumeGrantSource` spends
 * (helpers/grant_source.js: codes, device codes, CIBA requests, pre-authorized codes).
 */
const REVOKED_ON_REUSE: ReadonlySet<string> = new Set(['RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

/**
 * oidc-provider detects a reuse only when it reads the artifact as consumed. Two requests that read
 * it at the same moment both pass that check, and the store's compare-and-set consume refuses the
 * loser (AlreadyConsumedError). The loser is a reuse all the same (RFC 9700 §4.14.2): a stolen
 * refresh token raced against its client, or a code redeemed twice. So the grant is revoked as
 * oidc-provider would have, and whatever the winner got dies with it, before the loser's
 * `invalid_grant` goes out. A consume that succeeds costs nothing more.
 */
async function revokeOnLostConsume(err: unknown): Promise<never> {
  const ctx = Provider.ctx;
  // Only inside oidc-provider's own request (revoke reads its client from ctx.oidc).
  if (ctx?.oidc && err instanceof AlreadyConsumedError && err.grantId && REVOKED_ON_REUSE.has(err.model)) await revokeGrant(ctx, err.grantId);
  throw err;
}

/**
 * Wraps the adapter so that losing a consume race revokes the grant. The loss surfaces from
 * `consume`, or from the `upsert` of a rotated refresh token, which carries its predecessor's
 * consume (storage/oidc-adapter.ts, DEFERRED_CONSUME).
 */
export function withReuseRevocation(Inner: AdapterClass): AdapterClass {
  return class ReuseRevocationAdapter extends Inner {
    override consume(id: string) {
      return super.consume(id).catch(revokeOnLostConsume);
    }

    override upsert(...args: Parameters<Adapter['upsert']>) {
      return super.upsert(...args).catch(revokeOnLostConsume);
    }
  };
}
