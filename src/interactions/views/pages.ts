import { html, trusted } from '../../http/html.js';
import { layout } from '../../http/layout.js';
import { messages } from '../i18n.js';
import { type Locale } from '../../http/locale.js';
import { passkeyScript } from '../../passkeys/index.js';
import type { LoginOption } from '../deps.js';

interface PageBase {
  locale: Locale;
  nonce: string;
  /** Where the language switch points, on pages that offer it (layout.ts). */
  switchLanguage?: string | undefined;
}

export function loginPage(p: PageBase & { uid: string; csrf: string; clientName: string; error?: string; loginOptions?: LoginOption[] }): string {
  const t = messages(p.locale);
  const invalid = p.error ? html` aria-invalid="true"` : '';
  return layout({
    ...p,
    title: t.signInTitle,
    body: html`<h1>${t.signInTitle}</h1>
<p>${t.signInTo(p.clientName)}</p>
${p.error ? html`<p class="error" role="alert" id="form-error">${p.error}</p>` : ''}
<form method="post" action="/interaction/${p.uid}/login" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
<label for="identifier">${t.identifier}</label>
<span class="hint" id="identifier-hint">${t.identifierHint}</span>
<input type="text" id="identifier" name="identifier" autocomplete="username" inputmode="text" required maxlength="64"
 aria-describedby="identifier-hint${p.error ? ' form-error' : ''}"${invalid} autofocus>
<label for="password">${t.password}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required maxlength="128"${invalid}${p.error ? html` aria-describedby="form-error"` : ''}>
<button type="submit">${t.signIn}</button>
</form>
${passkeyControl(p)}
${p.loginOptions?.length
  ? html`<h2>${t.otherWays}</h2>
${p.loginOptions.map((o) => html`<form method="post" action="/interaction/${p.uid}/${o.path}">
<input type="hidden" name="csrf" value="${p.csrf}">
<button type="submit" class="secondary">${t.signInWith(o.label[p.locale])}</button>
</form>`)}`
  : ''}
<p><a href="/interaction/${p.uid}/sms">${t.sms.link}</a></p>
<p><a href="/interaction/${p.uid}/qr">${t.mobileAppLink}</a></p>
<p><a href="/password-reset?ui_locales=${p.locale}&amp;return_to=/interaction/${p.uid}">${t.sms.forgotPassword}</a></p>
<p><a href="/register?ui_locales=${p.locale}&amp;return_to=/interaction/${p.uid}">${p.locale === 'en' ? 'Create an account' : '注册账号'}</a></p>`,
  });
}

/** A passkey sign-in: a button that the script shows where WebAuthn works, and the form it submits. */
function passkeyControl(p: PageBase & { uid: string; csrf: string }) {
  const t = messages(p.locale);
  return html`<form id="passkey-form" method="post" action="/interaction/${p.uid}/passkey">
<input type="hidden" name="csrf" value="${p.csrf}"><input type="hidden" name="credential" value="">
</form>
<button type="button" class="secondary" hidden data-passkey="authenticate" data-options="/interaction/${p.uid}/passkey/options" data-form="passkey-form" data-status="passkey-status">${t.passkey.button}</button>
<p class="error" role="alert" id="passkey-status" hidden>${t.passkey.failed}</p>
<script nonce="${p.nonce}">${trusted(passkeyScript)}</script>`;
}

export function consentPage(
  p: PageBase & {
    uid: string;
    csrf: string;
    clientName: string;
    scopes: string[];
    resources: { indicator: string; scopes: string[] }[];
    citizenIdRelease: string;
  },
): string {
  const t = messages(p.locale);
  // The citizen_id scope says in plain words what this app's policy lets it see, or nothing at all.
  const describe = (s: string) => (s === 'citizen_id' ? t.citizenIdText[p.citizenIdRelease] : (t.scopeText[s] ?? s));
  const items = p.scopes.map(describe).filter((text) => text !== undefined).map((text) => html`<li>${text}</li>`);
  const resources = p.resources.map((r) => html`<li>${t.resourceText(r.indicator, r.scopes.join(', '))}</li>`);
  return layout({
    ...p,
    title: t.consentTitle,
    body: html`<h1>${t.consentTitle}</h1>
<p>${t.consentLead(p.clientName)}</p>
<ul>${items}${resources}</ul>
<form method="post" action="/interaction/${p.uid}/confirm">
<input type="hidden" name="csrf" value="${p.csrf}">
<input type="hidden" name="citizen_id_release" value="${p.citizenIdRelease}">
<button type="submit">${t.allow}</button>
</form>
<form method="post" action="/interaction/${p.uid}/abort">
<input type="hidden" name="csrf" value="${p.csrf}">
<button type="submit" class="secondary">${t.deny}</button>
</form>`,
  });
}

/** oidc-provider hands us its logout form (with its own xsrf field); we add the question and the buttons. */
export function logoutPage(p: PageBase & { form: string }): string {
  const t = messages(p.locale);
  return layout({
    ...p,
    title: t.signOutTitle,
    body: html`<h1>${t.signOutTitle}</h1>
<p>${t.signOutQuestion}</p>
${trusted(p.form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes">${t.signOut}</button>
<button type="submit" form="op.logoutForm" class="secondary">${t.stay}</button>`,
  });
}

export function signedOutPage(p: PageBase): string {
  const t = messages(p.locale);
  return layout({ ...p, title: t.signedOutTitle, body: html`<h1>${t.signedOutTitle}</h1><p>${t.signedOut}</p>` });
}

export function errorPage(p: PageBase & { message: string; code?: string }): string {
  const t = messages(p.locale);
  return layout({
    ...p,
    title: t.errorTitle,
    body: html`<h1>${t.errorTitle}</h1><p>${t.errorLead}</p><p class="error" role="alert">${p.code ? html`<code>${p.code}</code>: ` : ''}${p.message}</p>`,
  });
}
