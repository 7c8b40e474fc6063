import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { htmlPage } from '../http/html-page.js';
import { pickLocale } from '../interactions/i18n.js';
import { errorPage, logoutPage, signedOutPage } from '../interactions/views/pages.js';

const localeOf = (ctx: KoaContextWithOIDC) => pickLocale((ctx.oidc?.params as { ui_locales?: unknown } | undefined)?.ui_locales ?? ctx.query?.ui_locales);

/** The pages oidc-provider renders itself, in our look and language. */
export const providerPages: Pick<Configuration, 'renderError'> & {
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => void;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => void;
} = {
  logoutSource(ctx, form) {
    htmlPage(ctx, (nonce) => logoutPage({ locale: localeOf(ctx), nonce, form }));
  },
  postLogoutSuccessSource(ctx) {
    htmlPage(ctx, (nonce) => signedOutPage({ locale: localeOf(ctx), nonce }));
  },
  renderError(ctx, out) {
    // error_description comes from oidc-provider and is safe to show; stack traces never are.
    htmlPage(ctx, (nonce) => errorPage({ locale: localeOf(ctx), nonce, code: out.error, message: out.error_description ?? '' }));
  },
};
