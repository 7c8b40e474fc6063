import Router from '@koa/router';
import { z } from 'zod';
import { ChannelApiError, channelApiErrors } from '../http/api-error.js';
import { readForm } from '../http/form-body.js';
import { htmlPage } from '../http/html-page.js';
import { pickLocale } from '../http/locale.js';
import { qrCodeDataUrl } from '../mfa/totp.js';
import { YihaoError } from '../errors.js';
import { readBody } from './credentials.routes.js';
import type { IssuerSigner } from './issuer-signer.js';
import { PRESENTATION_PATHS, RESPONSE_REFUSALS, type PresentationRequests, type RequestableType } from './presentation-requests.js';
import type { CredentialTypeCheck } from './presentation-check.js';
import type { StarterAuthentication } from './verifier-starters.js';
import { verifierPage } from './verifier-page.js';

export interface VerifierRoutesDeps {
  issuer: string;
  requests: PresentationRequests;
  authenticate: StarterAuthentication;
  /** A requestable type by its id (`identity`, or a certificate type's id). */
  typeById: (id: string) => Promise<RequestableType | undefined>;
  /** The type check for a credential's `vct`. */
  typeByVct: (vct: string) => Promise<CredentialTypeCheck | undefined>;
  /** A certificate type's own claim names, for the page. */
  labels: (vct: string, locale: 'zh-CN' | 'en') => Promise<Record<string, string> | undefined>;
  verifierSigner: IssuerSigner;
  bodyMaxBytes: number;
}

const startBody = z
  .object({
    type: z.string().min(1).max(40),
    claims: z.array(z.string().min(1).max(40)).min(1).max(40),
    client_id: z.string().max(200).optional(),
    client_assertion_type: z.string().max(200).optional(),
    client_assertion: z.string().max(8192).optional(),
  })
  .strict();

const requestId = z.string().regex(/^[A-Za-z0-9_-]{32}$/);
const resultToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const pageForm = z.object({ request_id: requestId, result_token: resultToken, ui_locales: z.string().max(64).optional() });

/**
 * Yihao as an OpenID4VP verifier for counters and kiosks (docs/credentials.md, "Verifying online"):
 * starting a request, the request object at `request_uri`, the wallet's `direct_post`, the
 * starter's result, the verifier's public keys, and the page that shows it all.
 */
export function verifierRoutes(deps: VerifierRoutesDeps): Router {
  const router = new Router();

  router.post(PRESENTATION_PATHS.requests, channelApiErrors, async (ctx) => {
    const { raw, json } = await readBody(ctx, deps.bodyMaxBytes, 'invalid_request');
    const body = startBody.safeParse(json);
    // The starter first: an anonymous caller learns nothing about the types.
    const starter = await deps.authenticate(ctx, (json && typeof json === 'object' ? json : {}) as Record<string, unknown>, raw, `${deps.issuer}${PRESENTATION_PATHS.requests}`);
    if (!body.success) throw new ChannelApiError(400, 'invalid_request', 'the body must be { "type": …, "claims": [ … ] } (and a kiosk’s client assertion)');
    const type = await deps.typeById(body.data.type);
    if (!type) throw new ChannelApiError(400, 'invalid_request', 'type is not a known credential type: identity, or a certificate type id');
    const unknown = body.data.claims.filter((c) => !type.claims.includes(c));
    if (unknown.length) throw new ChannelApiError(400, 'invalid_request', `claims must be among: ${type.claims.join(', ')}`);
    const created = await deps.requests.create({ starter, type, claims: [...new Set(body.data.claims)] });
    ctx.status = 201;
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      request_id: created.id,
      result_token: created.resultToken,
      request_uri: created.requestUri,
      request_link: created.link,
      qr_code: await qrCodeDataUrl(created.link),
      expires_at: Math.floor(created.expiresAt / 1000),
    };
  });

  // The request object, by reference (RFC 9101): the wallet fetches it once it has scanned the QR code.
  router.get(PRESENTATION_PATHS.object(':id'), async (ctx) => {
    const jwt = await deps.requests.requestObject(ctx.params.id!);
    ctx.set('cache-control', 'no-store');
    if (!jwt) {
      ctx.status = 404;
      ctx.body = { error: 'invalid_request_uri', error_description: 'the request is unknown, expired or already answered' };
      return;
    }
    ctx.type = 'application/oauth-authz-req+jwt';
    ctx.body = jwt;
  });

  // The wallet's answer (OpenID4VP response_mode=direct_post).
  router.post(PRESENTATION_PATHS.response(':id'), channelApiErrors, async (ctx) => {
    let form: Record<string, string>;
    try {
      form = await readForm(ctx, deps.bodyMaxBytes);
    } catch (e) {
      if (e instanceof YihaoError) throw new ChannelApiError(e.status, 'invalid_request', e.message);
      throw e;
    }
    const body: Record<string, unknown> = { ...form };
    if (typeof form.vp_token === 'string') {
      try {
        body.vp_token = JSON.parse(form.vp_token) as unknown;
      } catch {
        body.vp_token = form.vp_token;
      }
    }
    const outcome = await deps.requests.respond(ctx.params.id!, body, deps.typeByVct);
    ctx.set('cache-control', 'no-store');
    if (!outcome) throw new ChannelApiError(400, 'invalid_request', 'the request is unknown, expired or already answered');
    if (outcome.status === 'refused') throw new ChannelApiError(400, 'invalid_request', RESPONSE_REFUSALS[outcome.reason]);
    ctx.body = {};
  });

  // The starter's result: only with the result token it was given.
  router.get(PRESENTATION_PATHS.result(':id'), channelApiErrors, async (ctx) => {
    const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(ctx.get('authorization'));
    if (!match) throw new ChannelApiError(401, 'invalid_token', 'the result token is required (Authorization: Bearer)', 'Bearer');
    const found = await deps.requests.result(ctx.params.id!, match[1]!);
    ctx.set('cache-control', 'no-store');
    if (!found) throw new ChannelApiError(404, 'not_found', 'no such request for this result token');
    const { outcome } = found;
    ctx.body =
      outcome.status === 'verified'
        ? { status: 'verified', vct: outcome.vct, claims: outcome.claims, issued_at: outcome.issuedAt, expires_at: outcome.expiresAt, status_as_of: outcome.statusAsOf }
        : outcome.status === 'refused'
          ? { status: 'refused', reason: outcome.reason, message: RESPONSE_REFUSALS[outcome.reason] }
          : { status: 'pending', expires_at: Math.floor(found.expiresAt / 1000) };
  });

  // What a wallet that pre-registers Yihao's verifier needs: its client id and the keys that sign its requests.
  router.get(PRESENTATION_PATHS.verifier, async (ctx) => {
    ctx.set('cache-control', 'public, max-age=300');
    ctx.set('access-control-allow-origin', '*');
    ctx.body = { client_id: deps.requests.clientId, jwks: await deps.verifierSigner.publicJwks() };
  });

  // The counter's or kiosk's screen, opened by posting the request id and result token (never in a URL).
  router.post(PRESENTATION_PATHS.page, async (ctx) => {
    const form = pageForm.safeParse(await readForm(ctx, deps.bodyMaxBytes));
    const locale = pickLocale(form.success ? form.data.ui_locales : undefined);
    if (!form.success) {
      ctx.status = 400;
      htmlPage(ctx, (nonce) => verifierPage({ locale, nonce, requestId: '', resultToken: '', state: { kind: 'gone' } }));
      return;
    }
    const { request_id: id, result_token: token } = form.data;
    const found = await deps.requests.result(id, token);
    if (!found) {
      ctx.status = 404;
      htmlPage(ctx, (nonce) => verifierPage({ locale, nonce, requestId: id, resultToken: token, state: { kind: 'gone' } }));
      return;
    }
    if (found.outcome.status === 'pending') {
      const link = await deps.requests.link(id);
      if (!link || found.expiresAt <= Date.now()) {
        htmlPage(ctx, (nonce) => verifierPage({ locale, nonce, requestId: id, resultToken: token, state: { kind: 'gone' } }));
        return;
      }
      const qrDataUrl = await qrCodeDataUrl(link);
      htmlPage(ctx, (nonce) => verifierPage({ locale, nonce, requestId: id, resultToken: token, state: { kind: 'pending', qrDataUrl, link, expiresAt: found.expiresAt } }), { script: true });
      return;
    }
    const outcome = found.outcome;
    const labels = outcome.status === 'verified' ? await deps.labels(outcome.vct, locale) : undefined;
    htmlPage(ctx, (nonce) => verifierPage({ locale, nonce, requestId: id, resultToken: token, ...(labels ? { labels } : {}), state: { kind: 'done', outcome } }));
  });

  return router;
}
