import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { AppendOptions, AuditEventInput, AuditLog } from '../audit/index.js';
import type { SessionAuthentications } from './session-authentications.js';
import { currentFacts } from './token-facts.js';
import { DEPENDENCY_DOWN, isDependencyFailure } from '../storage/dependency-failure.js';
import { requestIdOf } from '../http/request-context.js';
import { loggedPath } from '../logger.js';
import { recordHeldRevocation, recordHeldSignOut } from '../storage/revocation-hold.js';

/**
 * Provider events: the ones a citizen or an auditor cares about go to the audit log, the rest to a
 * log line. Errors carry no tokens, secrets or citizen IDs.
 */
export function auditProviderEvents(
  provider: Provider,
  { logger, audit, authentications, onGrant }: { logger: Logger; audit: AuditLog; authentications: SessionAuthentications; onGrant?: ((grantType: unknown) => void) | undefined },
): void {
  const record = (e: AuditEventInput, options?: AppendOptions) => {
    audit.append(e, options).catch((err: unknown) => logger.error({ err, action: e.action }, 'audit append failed'));
  };
  const where = (ctx: KoaContextWithOIDC) => ({ ip: ctx.ip, requestId: requestIdOf(ctx) });

  provider.on('authorization.success', (ctx) => {
    const { session, client } = ctx.oidc;
    if (!session?.accountId || !client) return;
    const sessionUid = session.uid as string;
    // The login this authorization was issued from is known in the request; an older session's is read.
    const known = currentFacts(undefined, session.accountId);
    void (known ? Promise.resolve(known) : authentications.find(sessionUid)).then((auth) =>
      record(
        {
          action: 'authorization.granted',
          actorType: 'citizen',
          actorId: session.accountId,
          accountId: session.accountId,
          clientId: client.clientId,
          channel: auth?.channel,
          details: { amr: session.amr, acr: session.acr, scope: ctx.oidc.params?.scope },
          ...where(ctx),
        },
        // With the grant and the session's records, which the request writes together as it ends:
        // one round trip, and the event lands with what it records.
        { withRequestWrites: true },
      ),
    );
  });
  if (onGrant) provider.on('grant.success', (ctx) => onGrant(ctx.oidc.params?.grant_type));
  provider.on('end_session.success', (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    const e: AuditEventInput = { action: 'session.ended', actorType: 'citizen', actorId: accountId, accountId, clientId: ctx.oidc.client?.clientId, ...where(ctx) };
    // The session's end was held (federation/sign-out.routes.ts): it goes with this record, or not at all.
    if (!recordHeldSignOut((trx) => audit.append(e, { trx }))) record(e);
  });
  provider.on('server_error', (ctx, err) => {
    // A store that went away is the outer app's 503 (http/request-context.ts), not a bug.
    if (isDependencyFailure(err)) {
      ctx.state[DEPENDENCY_DOWN] = true;
      logger.warn({ path: loggedPath(ctx.path), error: err.message }, 'a store is not reachable');
    } else logger.error({ err, path: loggedPath(ctx.path) }, 'oidc-provider server error');
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    const client = ctx.oidc?.client;
    // On the citizen's own record too (their history, an auditor's view of the account): the token
    // the request revoked or reused names whose grant it was; at a logout an app started, the
    // session being ended does (it is still there when its grants are revoked).
    const entities = ctx.oidc?.entities as Record<string, { accountId?: unknown } | undefined> | undefined;
    const accountId = [entities?.RefreshToken, entities?.AccessToken, entities?.AuthorizationCode, entities?.DeviceCode, entities?.BackchannelAuthenticationRequest, ctx.oidc?.session].find((t) => typeof t?.accountId === 'string')?.accountId as string | undefined;
    const e: AuditEventInput = { action: 'grant.revoked', actorType: client ? 'client' : 'system', actorId: client?.clientId, clientId: client?.clientId, ...(accountId ? { accountId } : {}), details: { grantId }, ...where(ctx) };
    // The request held the revocation's deletes back: they go with the record, in one transaction.
    // As the grant was stored: its own account (a code's replay names no entity with one) and its
    // own app (a logout one app started ends the session's other apps' grants too).
    const recorded = recordHeldRevocation(grantId, (trx, [grant]) =>
      audit.append({ ...e, accountId: grant?.accountId ?? e.accountId, clientId: grant?.clientId ?? e.clientId }, { trx }),
    );
    if (!recorded) record(e);
  });
  provider.on('backchannel.error', (_ctx, err, client) =>
    logger.warn({ event: 'backchannel.error', clientId: client.clientId, error: err.message }, 'back-channel logout failed'),
  );
  const protocolError = (event: string) => (_ctx: unknown, err: Error) => logger.info({ event, error: err.message }, 'protocol error');
  provider.on('authorization.error', protocolError('authorization.error'));
  provider.on('grant.error', protocolError('grant.error'));
  provider.on('introspection.error', protocolError('introspection.error'));
  provider.on('revocation.error', protocolError('revocation.error'));
  provider.on('userinfo.error', protocolError('userinfo.error'));
  provider.on('end_session.error', protocolError('end_session.error'));
}
