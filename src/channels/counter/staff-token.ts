import type { Context } from 'koa';
import type { Client } from 'oidc-provider';
import { ChannelApiError } from '../../http/api-error.js';
import { verifyDpopProof, type ProofReplay } from '../../http/request-proofs.js';
import { AccessTokenRefused, type VerifyAccessToken } from '../../oidc/access-token-verifier.js';
import { STAFF_ACR } from './token-exchange.js';
import { TOKEN_EXCHANGE_GRANT } from './grant-type.js';
import { allowedChannelsOf } from '../../oidc/client-metadata.js';
import { readBody } from '../../credentials/credentials.routes.js';

/**
 * A counter system: a client that accepts the counter channel and may exchange tokens for an
 * assisted login. Only a staff member's sign-in to one of these acts at a counter; their token from
 * any other app of the department (in that app's hands, its logs) does not.
 */
const isCounterSystem = (client: Client): boolean => client.grantTypeAllowed(TOKEN_EXCHANGE_GRANT) && allowedChannelsOf(client).includes('counter');

/**
 * A counter staff member's own access token on a counter system's call to Yihao (a credential
 * offer, a presentation request): issued to a counter system, from a live session at STAFF_ACR or
 * above, with a DPoP proof of this very request when the token is bound: its method, `url` and the
 * token (`ath`); an RFC 9449 proof does not cover the body, which only TLS protects.
 * Refusals are the channel API's 401s; whether the staff member serves this counter is the caller's
 * next question (counterStaffAt).
 */
export function staffTokenCheck(deps: { verifyAccessToken: VerifyAccessToken; replay: ProofReplay }) {
  return async (ctx: Context, accessToken: string, raw: Buffer, url: string) => {
    try {
      return await deps.verifyAccessToken(accessToken, {
        client: isCounterSystem,
        liveSession: true,
        minAcr: STAFF_ACR,
        dpop: {
          required: false,
          prove: (jkt) =>
            verifyDpopProof(ctx.get('dpop') || undefined, { method: ctx.method, url, accessToken, body: raw }, jkt, deps.replay).then(
              () => true,
              () => false,
            ),
        },
      });
    } catch (e) {
      if (!(e instanceof AccessTokenRefused)) throw e;
      if (e.reason === 'wrong_client') throw new ChannelApiError(401, 'invalid_token', 'the access token was not issued to a counter system', 'Bearer error="invalid_token"');
      if (e.reason === 'insufficient_acr') throw new ChannelApiError(401, 'insufficient_user_authentication', `the staff member must have signed in at ${STAFF_ACR} or above`, `Bearer error="insufficient_user_authentication", acr_values="${STAFF_ACR}"`);
      throw new ChannelApiError(401, 'invalid_token', 'the access token is not a live staff access token', 'Bearer error="invalid_token"');
    }
  };
}

/**
 * A counter system's JSON call to Yihao made with a staff member's token (a credential offer, a lost
 * phone's revocation): the token from the Authorization header, checked against this request (as
 * `staffTokenCheck`), the body, and where the call came from for the audit records.
 * `bodyErrorCode`: the error code of a body refused as too large, not JSON or malformed.
 */
export function staffCall(deps: { verifyAccessToken: VerifyAccessToken; replay: ProofReplay; issuer: string; bodyMaxBytes: number }) {
  const checkStaffToken = staffTokenCheck(deps);
  return async (ctx: Context, path: string, bodyErrorCode?: string) => {
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]{1,2048}=*)$/.exec(ctx.get('authorization'));
    if (!match) throw new ChannelApiError(401, 'invalid_token', 'an access token of the staff member is required (Authorization: Bearer or DPoP)', 'Bearer, DPoP');
    const accessToken = match[2]!;
    const { raw, json } = await readBody(ctx, deps.bodyMaxBytes, bodyErrorCode);
    const { account: staff, client } = await checkStaffToken(ctx, accessToken, raw, `${deps.issuer}${path}`);
    const where = { clientId: client.clientId, channel: 'counter' as const, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined };
    return { json, staff, client, where };
  };
}
