import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { errors, type Account as OidcAccount, type Configuration, type FindAccount, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR, type Accounts } from '../../accounts/index.js';
import type { AuditLog } from '../../audit/index.js';
import { isCitizenIdShaped, parseCitizenId } from '../../identity/index.js';
import type { SessionAuthentications } from '../../oidc/index.js';
import { allowedChannelsOf, minAcrOf } from '../../oidc/client-metadata.js';
import { acrRank } from '../../oidc/acr-policy.js';
import { claimsForClient } from '../../oidc/claims.js';
import { showsAsWritten } from '../../visible-text.js';
import type { Approvals } from '../approvals/approvals.js';
import type { DeviceKeys } from '../mobile/device-keys.js';
import { deviceKeyOf, noteLogin } from '../../oidc/token-facts.js';

export const CIBA_KIND = 'ciba';

/** Binding messages: short, in any script (the counter shows the same text), and every character visible (showsAsWritten). */
const BINDING_MESSAGE = /^[\p{L}\p{N} \-._+/!?#:]{1,20}$/u;

type CibaFeature = NonNullable<NonNullable<Configuration['features']>['ciba']>;

/**
 * The counter channel through CIBA (OpenID Connect Client-Initiated Backchannel Authentication),
 * poll mode or ping. The counter system (a confidential client) posts `login_hint` = the citizen's
 * ID number and a `binding_message`; the request appears in the citizen's approvals inbox; their
 * decision on the phone completes it (`provider.backchannelResult`), and the counter's tokens say
 * `channel: counter`.
 *
 * No enumeration: every well-formed ID number gets an `auth_req_id`. For a number with no active
 * account, or an account without a device key, nothing is sent anywhere and the request simply
 * stays pending until it expires (`expired_token`), exactly like a citizen who does not answer.
 * The number is looked up through the blind index, dropped from the stored request, and never
 * appears in a response, a log line or the audit log.
 */
/** The names in a `claims` request parameter (both members). */
function claimsNamed(claims: unknown): string[] {
  const c = claims as { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> } | undefined;
  return [...Object.keys(c?.id_token ?? {}), ...Object.keys(c?.userinfo ?? {})];
}

/** What the phone lists: the scopes asked for, and the scope of each claim asked for by name that the client may receive. */
function displayedScope(client: { scope?: string | undefined }, request: { scope?: string | undefined; claims?: unknown }): string {
  const scopes = (request.scope ?? 'openid').split(' ');
  return [...new Set([...scopes, ...claimsForClient(client, claimsNamed(request.claims)).scopes])].join(' ');
}

/** The level a counter sign-in reaches: the citizen's approval with the phone's device key (approvals.ts). */
const APPROVAL_ACR = ACR.twoFactor;

/**
 * A client that registered a minimum level (`min_acr`) above what a phone's approval reaches can never
 * get its minimum through CIBA: refused (`unauthorized_client`, as a client that does not accept the
 * counter channel is) before anyone is asked.
 */
function assertApprovalMeetsMinimum(client: Parameters<typeof minAcrOf>[0]): void {
  const minimum = minAcrOf(client);
  if (minimum && acrRank(APPROVAL_ACR) < acrRank(minimum)) {
    throw new errors.UnauthorizedClient(`this client accepts sign-ins at ${minimum} or above; a counter sign-in approved on the phone reaches ${APPROVAL_ACR}`);
  }
}

export function counterCiba(deps: { accounts: Accounts; deviceKeys: DeviceKeys; approvals: Approvals; authentications: SessionAuthentications; audit: AuditLog; provider: () => Provider }) {
  /** Stand-in subjects for requests that reach nobody, known only to the request that made them. */
  const decoys = new WeakMap<object, string>();

  deps.approvals.register({
    kind: CIBA_KIND,
    channel: 'counter',
    async onDecision(request, { approved, account, authentication }) {
      const provider = deps.provider();
      // Gone (revoked by signing out everywhere, or swept): the counter's polls already fail.
      const backchannel = await provider.BackchannelAuthenticationRequest.find(request.ref, { ignoreExpiration: true });
      if (!backchannel) return;
      if (!approved || !authentication) {
        await provider.backchannelResult(backchannel, new errors.AccessDenied('the citizen denied the request'));
        return;
      }
      const client = await provider.Client.find(request.clientId);
      // An approved change may have raised the client's minimum while the citizen was being asked.
      const minimum = minAcrOf(client);
      if (minimum && acrRank(authentication.acr) < acrRank(minimum)) {
        await provider.backchannelResult(backchannel, new errors.UnauthorizedClient(`this client accepts sign-ins at ${minimum} or above; this one reached ${authentication.acr}`));
        return;
      }
      const grant = new provider.Grant({ accountId: account.sub, clientId: request.clientId });
      if (backchannel.scope) grant.addOIDCScope(backchannel.scope);
      // Claims asked for by name: those under the client's registered scopes, which the phone listed.
      const claims = claimsForClient(client ?? {}, claimsNamed(backchannel.claims));
      if (claims.allowed.length) grant.addOIDCClaims(claims.allowed);
      if (claims.refused.length) grant.rejectOIDCClaims(claims.refused);
      await grant.save();
      const sessionUid = randomBytes(16).toString('base64url');
      await deps.authentications.save(sessionUid, authentication);
      noteLogin(authentication);
      await provider.backchannelResult(backchannel, grant, { acr: authentication.acr, amr: authentication.amr, authTime: authentication.at, sessionUid });
      // The approvals API checked the phone's key when the call came in; its removal may have run
      // since, and ended the key's logins before this one was written. Looked at again once all of
      // it is written, so that of the two, one always sees the other: a removed key's approval
      // leaves the counter nothing (found by a review: live tokens on PostgreSQL + Redis).
      const approvedBy = deviceKeyOf(authentication);
      if (approvedBy && !(await deps.deviceKeys.find(approvedBy.id))) {
        await grant.destroy();
        await provider.backchannelResult(backchannel, new errors.AccessDenied('the approving device key was removed'));
        return;
      }
      // The phone's approval is audited as such (channel mobile); this is the sign-in it made, at the
      // counter, counted with every other channel's (metrics, the console's dashboard).
      await deps.audit.append({
        action: 'login.succeeded',
        actorType: 'citizen',
        actorId: account.sub,
        accountId: account.sub,
        clientId: request.clientId,
        channel: 'counter',
        details: { method: 'ciba', amr: authentication.amr, acr: authentication.acr, approvalId: request.id },
      });
    },
  });

  const feature: CibaFeature = {
    enabled: true,
    deliveryModes: ['poll', 'ping'],
    async processLoginHint(ctx: KoaContextWithOIDC, loginHint?: string) {
      // Never stored with the request: the citizen's number does not outlive this lookup.
      (ctx.oidc.params as Record<string, unknown>).login_hint = undefined;
      if (!allowedChannelsOf(ctx.oidc.client).includes('counter')) throw new errors.UnauthorizedClient('this client does not accept sign-ins on the counter channel');
      const hint = (loginHint ?? '').trim();
      if (!isCitizenIdShaped(hint)) throw new errors.InvalidRequest('login_hint must be a citizen ID number (18 characters)');
      try {
        parseCitizenId(hint);
      } catch {
        throw new errors.InvalidRequest('login_hint is not a valid citizen ID number');
      }
      const account = await deps.accounts.findByIdentifier(hint);
      if (account?.status === 'active') return account.sub;
      const decoy = `unreachable:${randomBytes(12).toString('base64url')}`;
      decoys.set(ctx, decoy);
      return decoy;
    },
    async processLoginHintToken() {
      throw new errors.InvalidRequest('login_hint_token is not supported: send the citizen ID number as login_hint');
    },
    async verifyUserCode(_ctx, _account, userCode) {
      if (userCode !== undefined) throw new errors.InvalidRequest('user_code is not supported');
    },
    /**
     * Runs before the citizen is looked up, whatever the hint: the channel is checked here as well as
     * with the number, the client's minimum level here, and a kept ID token is no way to reach a
     * citizen (oidc-provider would take its subject as is, skipping both the number and the decoy for
     * an unknown one).
     */
    async validateRequestContext(ctx: KoaContextWithOIDC) {
      if (!allowedChannelsOf(ctx.oidc.client).includes('counter')) throw new errors.UnauthorizedClient('this client does not accept sign-ins on the counter channel');
      assertApprovalMeetsMinimum(ctx.oidc.client);
      if (ctx.oidc.params?.id_token_hint !== undefined) throw new errors.InvalidRequest('id_token_hint is not supported: send the citizen ID number as login_hint');
    },
    async validateBindingMessage(_ctx, bindingMessage) {
      if (typeof bindingMessage !== 'string' || !BINDING_MESSAGE.test(bindingMessage) || !showsAsWritten(bindingMessage)) {
        throw new errors.InvalidBindingMessage('binding_message is required: 1-20 letters, digits, spaces or - . _ + / ! ? # :, shown on the phone and at the counter');
      }
    },
    async triggerAuthenticationDevice(ctx: KoaContextWithOIDC, request, account, client) {
      const sub = account.accountId;
      await deps.audit.append({ action: 'ciba.requested', actorType: 'client', actorId: client.clientId, clientId: client.clientId, channel: 'counter', ip: ctx.ip, ...(decoys.get(ctx) === sub ? {} : { accountId: sub }) });
      if (decoys.get(ctx) === sub) return;
      const found = await deps.accounts.findBySub(sub);
      if (!found || (await deps.deviceKeys.listForAccount(found.id)).length === 0) return;
      const shown = await deps.approvals.create({
        kind: CIBA_KIND,
        ref: request.jti,
        accountId: found.id,
        clientId: client.clientId,
        display: { client_name: client.clientName ?? client.clientId, binding_message: String(request.params?.binding_message ?? ''), scope: displayedScope(client, request) },
        expiresAt: Date.now() + request.expiration * 1000,
      });
      // Held back by the inbox's caps (approvals.ts): the counter is answered alike, and the
      // operators and the citizen's history see that its requests stopped reaching the phone.
      if (!shown) await deps.audit.append({ action: 'ciba.withheld', actorType: 'client', actorId: client.clientId, clientId: client.clientId, channel: 'counter', ip: ctx.ip, accountId: sub, details: { reason: 'too_many_unapproved' } });
    },
  };

  return {
    feature,
    /** findAccount that also resolves this request's stand-in subject (and nothing else new). */
    findAccount(inner: FindAccount): FindAccount {
      return async (ctx, sub, token) => {
        if (decoys.get(ctx) === sub) return { accountId: sub, claims: async () => ({ sub }) } satisfies OidcAccount;
        return inner(ctx, sub, token);
      };
    },
  };
}
export type CounterCiba = ReturnType<typeof counterCiba>;

