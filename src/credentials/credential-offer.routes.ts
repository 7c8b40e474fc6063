import Router from '@koa/router';
import { CREDENTIAL_PATHS } from './issuer-metadata.js';
import type { CredentialOffers } from './credential-offers.js';

/**
 * The credential offer by reference (OID4VCI 1.0 §4.1.3): what `credential_offer_uri` points at,
 * while the offer lives. It holds the pre-authorized code, which is worthless without the
 * transaction code the citizen was shown apart from the QR code; never cached.
 */
export function credentialOfferRoutes(offers: CredentialOffers): Router {
  const router = new Router();
  router.get(`${CREDENTIAL_PATHS.offers}/:id`, async (ctx) => {
    const document = await offers.document(ctx.params.id ?? '');
    ctx.set('cache-control', 'no-store');
    if (!document) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such credential offer, or it has expired' };
      return;
    }
    ctx.body = document;
  });
  return router;
}
