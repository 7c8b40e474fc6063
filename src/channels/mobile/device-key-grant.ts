import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR, type Accounts } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import type { SignOut } from '../../oidc/sign-out.js';
import { grantPlumbing } from '../../oidc/internals.js';
import type { DeviceKeyLogin } from '../../oidc/token-facts.js';
import { assertChannelAllowed, grantedScopes, issueGrantTokens, type GrantTokenDeps } from '../../oidc/grant-tokens.js';
import type { DeviceKeyChallenges } from './challenges.js';
import type { DeviceKeys } from './device-keys.js';
import { PROOF_WINDOW_SECONDS } from '../../http/request-proofs.js';

/** RFC 7523 §2.1: a JWT (here signed with a registered device key) as an authorization grant. */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const DEVICE_KEY_ASSERTION_TYP = 'device-key-assertion+jwt';

export interface DeviceKeyGrantDeps {
  accounts: Accounts;
  deviceKeys: DeviceKeys;
  challenges: DeviceKeyChallenges;
  audit: AuditLog;
  /** Ends a key's logins: one that raced the key's revocation (built after the channels, so reached at request time). */
  signOut: () => Pick<SignOut, 'endDeviceKeyLogins'>;
}

// InvalidGrant's own description is generic; the app developer gets the reason.
const refuse = (description: string) => Object.assign(new errors.InvalidGrant(description), { error_description: description });

/**
 * The device-key login as the JWT bearer grant (RFC 7523) at the token endpoint. The app asks for
 * a challenge (`POST /mobile/challenge`), signs an assertion with the device key and posts it,
 * with a DPoP proof, as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`.
 *
 * The assertion: header `{ alg: ES256, typ: device-key-assertion+jwt, kid: <device key id> }`,
 * claims `iss` = the app's client_id, `sub` = the device key id, `aud` = the issuer, `nonce` = the
 * challenge, `cnf.jkt` = the thumbprint of the DPoP key whose proof comes with it, `iat`, `exp`. A
 * key logs in only through the app that enrolled it, and only for the DPoP key it names.
 *
 * Success is a login `{ channel: 'mobile', amr: ['hwk' | 'swk'], acr: loa:2 }`, issued as every
 * extension grant's is (`issueGrantTokens`): DPoP-bound access token, a refresh token by client
 * policy (bound to the same key for a public app), an ID token with acr/amr/channel/sid. Failures
 * count against the key's own budget once its signature checks out.
 */
export function deviceKeyGrant(deps: DeviceKeyGrantDeps) {
  async function verifyAssertion(ctx: KoaContextWithOIDC, assertion: string, dPoP: { thumbprint: string }) {
    const client = ctx.oidc.client!;
    let kid: unknown;
    try {
      const header = decodeProtectedHeader(assertion);
      if (header.alg !== 'ES256' || header.typ !== DEVICE_KEY_ASSERTION_TYP) throw new Error('header');
      kid = header.kid;
    } catch {
      throw refuse(`the assertion must be a compact JWS with alg ES256 and typ ${DEVICE_KEY_ASSERTION_TYP}`);
    }
    const key = typeof kid === 'string' && kid.length <= 64 ? await deps.deviceKeys.find(kid) : undefined;
    if (!key || key.clientId !== client.clientId) throw refuse('the assertion names no device key registered through this app');
    const account = await deps.accounts.findById(key.accountId);
    if (account?.status !== 'active') throw refuse('the assertion names no device key registered through this app');

    const lockout = deps.accounts.lockout;
    const where = { accountId: account.sub, clientId: client.clientId, channel: 'mobile', ip: ctx.ip };
    // Counted under the key's own subject, and only once the signature checks out: nobody without
    // the key can spend its budget, and password guesses never block it (issue 11).
    const subject = `dk_${key.id}`;
    const failed = async (description: string) => {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', ...where, details: { method: 'device_key', reason: description } });
      return refuse(description);
    };
    let nonce: unknown;
    let cnf: unknown;
    try {
      const { payload } = await jwtVerify(assertion, await importJWK(key.jwk, 'ES256'), {
        algorithms: ['ES256'],
        typ: DEVICE_KEY_ASSERTION_TYP,
        issuer: client.clientId,
        subject: key.id,
        audience: ctx.oidc.issuer,
        requiredClaims: ['exp', 'iat', 'nonce'],
        maxTokenAge: PROOF_WINDOW_SECONDS * 2,
        clockTolerance: PROOF_WINDOW_SECONDS,
      });
      nonce = payload.nonce;
      cnf = payload.cnf;
    } catch {
      throw await failed('the assertion does not verify with the registered device key');
    }
    const gate = await lockout.beginAttempt(subject, ctx.ip);
    if (gate.locked) throw refuse('too many failed sign-in attempts with this device key: try again later');
    // The device key vouches for the DPoP key the tokens will be bound to: a stolen assertion is
    // worthless with any other key. Checked before the challenge is spent and without counting
    // against the lockout, so that a thief's replay neither burns the app's own login nor locks it out.
    const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt !== 'string') throw refuse('the assertion must name the DPoP key of this request (cnf.jkt)');
    if (jkt !== dPoP.thumbprint) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', ...where, details: { method: 'device_key', reason: 'dpop_key_mismatch' } });
      throw refuse('the assertion is bound to another DPoP key (cnf.jkt)');
    }
    if (typeof nonce !== 'string' || !(await deps.challenges.take(nonce))) throw await failed('the challenge is unknown, expired or already used');
    await lockout.recordSuccess(subject, ctx.ip);
    return { account, key, where };
  }

  async function handler(ctx: KoaContextWithOIDC, tokens: GrantTokenDeps): Promise<void> {
    const params = ctx.oidc.params as { assertion?: unknown };
    if (typeof params.assertion !== 'string' || !params.assertion) throw new errors.InvalidRequest('missing required parameter: assertion');
    const dPoP = await grantPlumbing(ctx.oidc.provider).validateDpop(ctx);
    if (!dPoP) throw new errors.InvalidDpopProof('the device-key grant issues DPoP-bound tokens only: send a DPoP proof');
    const client = ctx.oidc.client!;
    // Refusals that need no key come before the assertion is checked, so they spend nothing.
    assertChannelAllowed(ctx, 'mobile');
    grantedScopes(ctx);

    const { account, key, where } = await verifyAssertion(ctx, params.assertion, dPoP);
    // The record names the key: revoking it ends this login (sign-out.ts), and the login enrols no other key.
    const authentication: DeviceKeyLogin = { accountId: account.sub, channel: 'mobile', amr: [key.amr], acr: ACR.twoFactor, at: Math.floor(Date.now() / 1000), deviceKey: { id: key.id, use: 'login' } };
    const session = await issueGrantTokens(ctx, tokens, { authentication, gty: 'device_key', refresh: true });
    // The key's use is recorded once the login is stored, and only while the key is active. A
    // revocation marks the key before it ends the key's logins: so either it finds this login, or
    // this update finds the key revoked, and the login ends here before any token leaves.
    if (!(await deps.deviceKeys.touch(key.id))) {
      await deps.signOut().endDeviceKeyLogins(account.sub, key.id);
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', ...where, details: { method: 'device_key', reason: 'device_key_revoked' } });
      throw refuse('the assertion names no device key registered through this app');
    }
    await deps.audit.append({
      action: 'login.succeeded',
      actorType: 'citizen',
      actorId: account.sub,
      accountId: account.sub,
      clientId: client.clientId,
      channel: 'mobile',
      ip: ctx.ip,
      details: { method: 'device_key', amr: authentication.amr, acr: authentication.acr, deviceKeyId: key.id, sid: session.sid },
    });
  }

  return {
    install(provider: Provider, tokens: GrantTokenDeps): void {
      provider.registerGrantType(JWT_BEARER, ((ctx: KoaContextWithOIDC) => handler(ctx, tokens)) as never, ['assertion', 'scope']);
    },
  };
}
