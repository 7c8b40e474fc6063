import type Router from '@koa/router';
import { htmlPage } from '../http/html-page.js';
import { loadInteraction } from './interaction-context.js';
import { showLoginStep, type SecondFactorDeps } from './second-factor.js';
import { consentPage } from './views/pages.js';
import { claimsForClient } from '../oidc/claims.js';

interface ConsentDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

/** The page for whatever the interaction needs next: sign in (password, then any second step), or consent. */
export function showRoutes(router: Router, deps: SecondFactorDeps): void {
  router.get('/interaction/:uid', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: false });
    if (!it) return;
    if (it.details.prompt.name === 'login') return showLoginStep(ctx, deps, it);
    const missing = it.details.prompt.details as ConsentDetails;
    // Claims asked for by name are listed by the scope each comes under (consent.routes.ts grants them).
    const byName = claimsForClient({ scope: it.clientScope }, missing.missingOIDCClaims ?? []).scopes;
    htmlPage(ctx, (nonce) => consentPage({
      locale: it.locale,
      nonce,
      uid: it.uid,
      switchLanguage: `/interaction/${it.uid}`,
      csrf: it.csrf,
      clientName: it.clientName,
      citizenIdRelease: it.citizenIdRelease,
      scopes: [...new Set([...(missing.missingOIDCScope ?? []), ...byName])],
      resources: Object.entries(missing.missingResourceScopes ?? {}).map(([indicator, scopes]) => ({ indicator, scopes })),
    }));
  });
}
