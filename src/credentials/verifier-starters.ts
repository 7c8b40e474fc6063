import type { Context } from 'koa';
import { decodeProtectedHeader } from 'jose';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { ChannelApiError } from '../http/api-error.js';
import type { ProofReplay } from '../http/request-proofs.js';
import { staffTokenCheck } from '../channels/counter/staff-token.js';
import { ID_CARD_GRANT, PRESENTATION_GRANT } from '../channels/kiosk/grant-type.js';
import { ClientKeysUnavailable, verifiedByClientKey } from '../channels/kiosk/kiosk-keys.js';
import type { VerifyAccessToken } from '../oidc/access-token-verifier.js';
import { ReplayDetectedError } from '../storage/adapter-types.js';
import type { Starter } from './presentation-requests.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A client assertion may be at most this old (seconds), as oidc-provider's own clock tolerance allows. */
const ASSERTION_MAX_AGE = 300;

const assertionClaims = z.object({
  iss: z.string().min(1).max(200),
  sub: z.string().min(1).max(200),
  aud: z.union([z.string(), z.array(z.string())]),
  exp: z.number().int(),
  iat: z.number().int().optional(),
  jti: z.string().min(16).max(128),
});

export interface StarterAuthDeps {
  issuer: string;
  provider: () => Provider;
  verifyAccessToken: VerifyAccessToken;
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  replay: ProofReplay;
}

const unauthorized = (description: string) => new ChannelApiError(401, 'invalid_client', description);

/**
 * Who may start a presentation request (docs/credentials.md, "Verifying online"):
 *
 * - a **kiosk**: a client registered for the ID-card or presentation grant that authenticates with
 *   `private_key_jwt`, here with a client assertion (RFC 7523: `iss` = `sub` = its client id, `aud`
 *   the issuer or this endpoint, a fresh single-use `jti`) signed with its registered key;
 * - a **staff member at a counter system**: their own access token of that system (through the one
 *   access-token verifier: a live session at loa:2 or above, a DPoP proof when bound), holding
 *   `counter-staff` over that counter system's department.
 *
 * Anyone else is refused: a verifier's result carries the citizen's claims.
 */
export function starterAuthentication(deps: StarterAuthDeps) {
  async function kiosk(body: { client_id?: unknown; client_assertion_type?: unknown; client_assertion?: unknown }, endpoint: string): Promise<Starter> {
    if (body.client_assertion_type !== JWT_BEARER_ASSERTION || typeof body.client_assertion !== 'string' || typeof body.client_id !== 'string' || body.client_id.length > 200) {
      throw unauthorized('a kiosk authenticates with client_id, client_assertion_type and client_assertion (private_key_jwt); counter staff with their access token');
    }
    const provider = deps.provider();
    const client = await provider.Client.find(body.client_id);
    if (!client || client.clientAuthMethod !== 'private_key_jwt' || !(client.grantTypeAllowed(ID_CARD_GRANT) || client.grantTypeAllowed(PRESENTATION_GRANT))) throw unauthorized('the client is not a kiosk that authenticates with private_key_jwt');
    let header;
    try {
      header = decodeProtectedHeader(body.client_assertion);
    } catch {
      throw unauthorized('the client assertion is not a JWT');
    }
    let payload: Uint8Array | undefined;
    try {
      payload = await verifiedByClientKey(body.client_assertion, client, header);
    } catch (e) {
      if (e instanceof ClientKeysUnavailable) throw unauthorized('the kiosk keys cannot be loaded');
      throw e;
    }
    if (!payload) throw unauthorized('the client assertion is not signed with the kiosk key');
    let claims;
    try {
      claims = assertionClaims.parse(JSON.parse(new TextDecoder().decode(payload)));
    } catch {
      throw unauthorized('the client assertion lacks iss, sub, aud, exp or jti');
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== client.clientId || claims.sub !== client.clientId) throw unauthorized('the client assertion is not the kiosk’s own');
    if (![claims.aud].flat().some((a) => a === deps.issuer || a === endpoint)) throw unauthorized('the client assertion is for another audience');
    if (claims.exp <= now || (claims.iat ?? now) < now - ASSERTION_MAX_AGE || (claims.iat ?? now) > now + 60) throw unauthorized('the client assertion is expired or not fresh');
    let first: boolean;
    try {
      first = await provider.ReplayDetection.unique(`presentation_starter:${client.clientId}`, claims.jti, claims.exp + 60);
    } catch (e) {
      if (!(e instanceof ReplayDetectedError)) throw e;
      first = false;
    }
    if (!first) throw unauthorized('the client assertion was already used');
    return { type: 'kiosk', clientId: client.clientId };
  }

  const checkStaffToken = staffTokenCheck(deps);
  async function staff(ctx: Context, accessToken: string, raw: Buffer, endpoint: string): Promise<Starter> {
    const verified = await checkStaffToken(ctx, accessToken, raw, endpoint);
    if (!(await deps.isCounterStaff(verified.account.id, verified.client.clientId))) {
      throw new ChannelApiError(403, 'insufficient_scope', 'the staff member is not counter staff of the department over this counter');
    }
    return { type: 'staff', sub: verified.account.sub, clientId: verified.client.clientId };
  }

  /** The starter of this request: a staff member by their token, else a kiosk by its client assertion in the body. */
  return async function authenticate(ctx: Context, body: Record<string, unknown>, raw: Buffer, endpoint: string): Promise<Starter> {
    const authorization = ctx.get('authorization');
    if (authorization) {
      const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]{1,2048}=*)$/.exec(authorization);
      if (!match) throw new ChannelApiError(401, 'invalid_token', 'the Authorization header must be Bearer or DPoP with an access token', 'Bearer, DPoP');
      return staff(ctx, match[2]!, raw, endpoint);
    }
    return kiosk(body, endpoint);
  };
}
export type StarterAuthentication = ReturnType<typeof starterAuthentication>;
