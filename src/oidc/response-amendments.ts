import type Provider from 'oidc-provider';

/** RFC 8628 §3.2: how long a device polls /token between tries; also the client's default when absent. */
export const DEVICE_POLL_INTERVAL_SECONDS = 5;

const isRecord = (body: unknown): body is Record<string, unknown> => typeof body === 'object' && body !== null && !Buffer.isBuffer(body);

/**
 * Two answers of oidc-provider 9.13 that say less than, or other than, what Yihao does:
 * - its device authorization response has no `interval`, which docs/channels/kiosk.md promises
 *   kiosks (RFC 8628 lets a client assume 5, but a kiosk built from our docs reads the field);
 * - its discovery always says `backchannel_user_code_parameter_supported: true`, while the counter
 *   channel refuses `user_code` (channels/ciba/counter-ciba.ts): a client believing discovery would
 *   send one and be refused.
 * Both are set after the provider has answered, on success only; errors pass through untouched.
 */
export function amendResponses(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.status !== 200 || !isRecord(ctx.body)) return;
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (route === 'device_authorization') ctx.body.interval ??= DEVICE_POLL_INTERVAL_SECONDS;
    if (route === 'discovery' && 'backchannel_user_code_parameter_supported' in ctx.body) ctx.body.backchannel_user_code_parameter_supported = false;
  });
}
