import type Router from '@koa/router';
import { z } from 'zod';
import { ACR, type Authentication } from '../accounts/index.js';
import type { InteractionDeps } from './deps.js';
import { loadInteraction, renderLogin } from './interaction-context.js';

/** Password sign-in on the web channel: one factor, `urn:yihao:loa:1`, amr `pwd`. */
export function loginRoutes(router: Router, deps: InteractionDeps): void {
  const max = deps.formFieldMaxLength;
  const loginForm = z.object({
    identifier: z.string().trim().min(1, 'required').max(max, 'too_long'),
    password: z.string().min(1, 'required').max(max, 'too_long'),
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const it = await loadInteraction(ctx, deps, { form: true, prompt: 'login' });
    if (!it) return;
    const parsed = loginForm.safeParse(it.form);
    if (!parsed.success) {
      const tooLong = parsed.error.issues.some((i) => i.message === 'too_long');
      ctx.status = 400;
      return renderLogin(ctx, it, { error: tooLong ? it.t.fieldTooLong : it.t.fieldRequired });
    }
    const account = await deps.accounts.verifyPassword(parsed.data.identifier, parsed.data.password);
    const where = { clientId: String(it.details.params.client_id), channel: 'web', ip: ctx.ip, requestId: ctx.state.requestId as string };
    if (!account) {
      await deps.audit.append({ action: 'login.failed', actorType: 'citizen', details: { method: 'pwd' }, ...where });
      ctx.status = 401;
      // One message for an unknown identifier and a wrong password: no account enumeration.
      return renderLogin(ctx, it, { error: it.t.invalidCredentials });
    }
    const at = Math.floor(Date.now() / 1000);
    const authentication: Authentication = { accountId: account.sub, channel: 'web', amr: ['pwd'], acr: ACR.oneFactor, at };
    await deps.audit.append({ action: 'login.succeeded', actorType: 'citizen', actorId: account.sub, accountId: account.sub, details: { amr: authentication.amr, acr: authentication.acr }, ...where });
    const returnTo = await deps.provider().interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId: account.sub, acr: authentication.acr, amr: authentication.amr, ts: at, remember: true, authentication } },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}
