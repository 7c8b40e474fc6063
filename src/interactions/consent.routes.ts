import type Router from '@koa/router';
import type { InteractionDeps } from './deps.js';
import { flushPendingWrites } from '../storage/write-batch.js';
import { auditWhere, loadInteraction } from './interaction-context.js';
import { claimsForClient } from '../oidc/claims.js';
import { allowsCitizenId, dateCitizenIdConsent } from '../oidc/citizen-id-consent.js';

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
    const missing = details.prompt.details as ConsentDetails;
    // Claims asked for by name: those the page listed (under the client's scopes) are allowed; the
    // rest are refused in the grant, so that they are neither released nor asked about again.
    const claims = claimsForClient({ scope: it.clientScope }, missing.missingOIDCClaims ?? []);
    const citizenId = allowsCitizenId(missing.missingOIDCScope ?? [], claims.allowed);
    // The page said what the ID-number policy revealed when it was shown; if an operator changed it
    // since, the citizen has not seen what they would allow: show the page again, as it is now.
    const shown = it.form.citizen_id_release;
    if (citizenId && shown !== undefined && shown !== it.citizenIdRelease) {
      ctx.status = 303;
      ctx.redirect(`/interaction/${it.uid}`);
      return;
    }
    const grant = (details.grantId && (await provider.Grant.find(details.grantId))) || new provider.Grant({ accountId, clientId });
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (claims.allowed.length) grant.addOIDCClaims(claims.allowed);
    if (claims.refused.length) grant.rejectOIDCClaims(claims.refused);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    // Allowed under the policy the page stated: the grant releases under it from now on.
    if (citizenId) dateCitizenIdConsent(it.citizenIdConsentSince, grant);
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
