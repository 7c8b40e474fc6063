import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Account, Accounts, Authentication } from '../../accounts/index.js';
import { isFirstParty } from '../../oidc/index.js';
import { JWT_BEARER_GRANT } from '../../clients/client-kinds.js';
import { isKioskToken } from '../kiosk/idle.js';
import { accessTokenVerifier, AccessTokenRefused } from '../../oidc/access-token-verifier.js';
import type { DeviceKeyUse } from '../../oidc/token-facts.js';
import { invalidDeviceSignature, invalidRequest, invalidToken } from '../../http/api-error.js';
import { readBody as readRequestBody } from '../../http/request-body.js';
import type { DeviceKey, DeviceKeys } from './device-keys.js';
import { verifyDpopProof, type ProofReplay, type RequestFacts } from '../../http/request-proofs.js';
import { DEVICE_SIGNATURE_HEADER, deviceSignatureKid, verifyDeviceSignature } from './device-signatures.js';

export interface MobileApiDeps {
  provider: () => Provider;
  accounts: Accounts;
  deviceKeys: DeviceKeys;
  replay: ProofReplay;
  /** The issuer, path included: `htu` values are our public URLs, not whatever Host a proxy passed. */
  base: string;
  bodyMaxBytes: number;
}

/** A call made by the government app for a signed-in citizen, its DPoP proof checked. */
export interface AppCall {
  account: Account;
  clientId: string;
  /** The login the access token was issued on (not the session's latest: a later step-up does not raise it). */
  authentication: Authentication | undefined;
  /** How a device key made that login, if one did (its own login, or a phone's approval: token-facts.ts). */
  deviceKeyUse: DeviceKeyUse | undefined;
  /** The grant the access token belongs to: the keys that made its logins are filed under it (storage/account-index.ts). */
  grantId: string | undefined;
  facts: RequestFacts;
  /** The parsed JSON body ({} for none). */
  body: unknown;
}

const readBody = (ctx: Context, maxBytes: number): Promise<Buffer> => readRequestBody(ctx, maxBytes, () => invalidRequest('the request body is too large', 413));

function parseJson(raw: Buffer, ctx: Context): unknown {
  if (raw.length === 0) return {};
  if (ctx.request.type !== 'application/json') throw invalidRequest('the body must be application/json', 415);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidRequest('the body is not valid JSON');
  }
}

/**
 * Authenticates calls to the mobile APIs (device keys, approvals):
 * - `Authorization: DPoP <access token>`: a live token, DPoP-bound, issued to a first-party app for
 *   an active account (a Bearer token is refused: a token usable without its key is not enough);
 * - `DPoP: <proof>` for this method and URL, signed with the key the token is bound to;
 * - for `deviceCall`, also a device-key signature over the call (see request-proofs.ts) by one of
 *   the account's registered device keys.
 * Every refusal happens before anything is changed.
 */
export function mobileApiAuth(deps: MobileApiDeps) {
  const verify = accessTokenVerifier(deps);
  const NOT_THE_CITIZENS_DEVICE = new Set<string>(['kiosk', 'counter']);
  /**
   * The government app: first-party, and one that signs citizens in with device keys (the JWT
   * bearer grant, which only the mobile kind has). A first-party kiosk or web app holding a
   * DPoP-bound token is not it: a kiosk's card session enrolled a device key of the kiosk's here,
   * which then approved QR sign-ins as the citizen long after the card was taken out.
   */
  const isGovernmentApp = (client: Parameters<typeof isFirstParty>[0] & { grantTypeAllowed(type: string): boolean }) => isFirstParty(client) && client.grantTypeAllowed(JWT_BEARER_GRANT);
  const APP_ONLY = 'this API is for the government app only';
  async function appCall(ctx: Context): Promise<AppCall> {
    const authorization = ctx.get('authorization');
    const match = /^DPoP ([A-Za-z0-9._~+/-]+=*)$/.exec(authorization);
    if (!match) {
      throw invalidToken(authorization ? 'this API needs a DPoP-bound access token (Authorization: DPoP ...)' : 'an access token is required (Authorization: DPoP ...)');
    }
    const accessToken = match[1]!;
    const raw = await readBody(ctx, deps.bodyMaxBytes);
    const facts: RequestFacts = { method: ctx.method, url: `${deps.base}${ctx.path}`, accessToken, body: raw };
    const verified = await verify(accessToken, {
      client: isGovernmentApp,
      // A proof for this very call (method, URL, ath), signed by the token's key; a bad one throws invalid_dpop_proof.
      dpop: { required: true, prove: async (jkt) => (await verifyDpopProof(ctx.get('dpop') || undefined, facts, jkt, deps.replay), true) },
    }).catch((e: unknown) => {
      throw e instanceof AccessTokenRefused ? invalidToken(e.reason === 'wrong_client' ? APP_ONLY : e.message) : e;
    });
    const { account, client, token, facts: issued } = verified;
    // A kiosk's or a counter's session, whatever client holds it, is not the citizen's own device:
    // whoever stands there next (or the staff member) must not reach the citizen's keys or approvals.
    if (isKioskToken(token) || (issued && NOT_THE_CITIZENS_DEVICE.has(issued.channel))) throw invalidToken(APP_ONLY);
    const authentication = issued && { accountId: account.sub, channel: issued.channel, amr: issued.amr, acr: issued.acr as Authentication['acr'], at: issued.auth_time };
    return { account, clientId: client.clientId, authentication, deviceKeyUse: issued?.device_key, grantId: typeof token.grantId === 'string' ? token.grantId : undefined, facts, body: parseJson(raw, ctx) };
  }

  return {
    appCall,

    /** An app call signed with one of the account's device keys. */
    async deviceCall(ctx: Context): Promise<AppCall & { key: DeviceKey }> {
      const call = await appCall(ctx);
      const signature = ctx.get(DEVICE_SIGNATURE_HEADER) || undefined;
      const kid = deviceSignatureKid(signature);
      if (!signature) await verifyDeviceSignature(undefined, call.facts, { id: '', jwk: {} }, deps.replay);
      const key = kid ? await deps.deviceKeys.find(kid) : undefined;
      // The key must be this account's, enrolled through the app that holds the token.
      if (!key || key.accountId !== call.account.id || key.clientId !== call.clientId) {
        throw invalidDeviceSignature('the device signature names no device key of this account registered through this app');
      }
      await verifyDeviceSignature(signature, call.facts, key, deps.replay);
      return { ...call, key };
    },
  };
}
export type MobileApiAuth = ReturnType<typeof mobileApiAuth>;
