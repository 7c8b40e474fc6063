import type { Context } from 'koa';

/**
 * An expected refusal of a call to one of the JSON APIs that channels, wallets and department
 * systems call (mobile, counter, approvals, credentials, verifier), answered as an OAuth-style JSON error
 * (`{ error, error_description }`). `challenge` becomes the WWW-Authenticate header (RFC 9449 §7.1).
 */
export class ChannelApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly challenge?: string,
  ) {
    super(description);
    this.name = 'ChannelApiError';
  }
}

export const invalidToken = (description: string) =>
  new ChannelApiError(401, 'invalid_token', description, `DPoP algs="ES256 EdDSA RS256 PS256", error="invalid_token", error_description="${description}"`);

export const invalidDpopProof = (description: string) =>
  new ChannelApiError(401, 'invalid_dpop_proof', description, `DPoP algs="ES256 EdDSA RS256 PS256", error="invalid_dpop_proof", error_description="${description}"`);

export const invalidDeviceSignature = (description: string) => new ChannelApiError(401, 'invalid_device_signature', description);

export const invalidRequest = (description: string, status = 400) => new ChannelApiError(status, 'invalid_request', description);

/** Koa middleware for those APIs: refusals become JSON errors, never a 500. */
export async function channelApiErrors(ctx: Context, next: () => Promise<unknown>): Promise<void> {
  try {
    await next();
  } catch (e) {
    if (!(e instanceof ChannelApiError)) throw e;
    ctx.status = e.status;
    ctx.set('cache-control', 'no-store');
    if (e.challenge) ctx.set('www-authenticate', e.challenge);
    ctx.body = { error: e.error, error_description: e.description };
  }
}
