import type Router from '@koa/router';
import type { InteractionDeps } from './deps.js';
import { flushPendingWrites } from '../storage/write-batch.js';
import { auditWhere, loadInteraction } from './interaction-context.js';
import { claimsForClient } from '../oidc/claims.js';

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** Consent: the citizen allows exactly what the consent page listed, recorded in a Grant. */
export function consentRoutes(router: Router, deps: InteractionDeps): void {
  router.post('/interaction/:uid/confirm', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'consent' });
    if (!it) return;
    const { details } = it;
    const provider = deps.provider();
    const accountId = details.session!.accountId;
    const clientId = String(details.params.client_id);
    const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId, clientId });
    const missing = details.prompt.details as ConsentDetails;
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    // Claims asked for by name: those the page listed (under the client's scopes) are allowed; the
    // rest are refused in the grant, so that they are neither released nor asked about again.
    const claims = claimsForClient({ scope: it.clientScope }, missing.missingOIDCClaims ?? []);
    if (claims.allowed.length) grant.addOIDCClaims(claims.allowed);
    if (claims.refused.length) grant.rejectOIDCClaims(claims.refused);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await deps.audit.append({
      action: 'consent.granted',
      actorType: 'citizen',
      actorId: accountId,
      accountId,
      details: { scopes: missing.missingOIDCScope ?? [], claims: claims.allowed, resources: missing.missingResourceScopes ?? {} },
      ...auditWhere(ctx, it),
    }, { withRequestWrites: true });
    // The grant and its event land together, in one round trip, before the consent is recorded.
    await flushPendingWrites();
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.post('/interaction/:uid/abort', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true });
    if (!it) return;
    const accountId = it.details.session?.accountId;
    await deps.audit.append({ action: 'consent.declined', actorType: 'citizen', actorId: accountId, accountId, ...auditWhere(ctx, it) });
    const returnTo = await deps
      .provider()
      .interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'the citizen declined the request' }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
