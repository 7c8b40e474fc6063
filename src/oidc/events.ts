import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

/** Provider events worth a log line. Errors carry no tokens, secrets or citizen IDs. */
export function auditProviderEvents(provider: Provider, logger: Logger): void {
  provider.on('server_error', (ctx, err) => logger.error({ err, path: ctx.path }, 'oidc-provider server error'));
  provider.on('grant.revoked', (_ctx, grantId) => logger.info({ event: 'grant.revoked', grantId }, 'grant revoked'));
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
