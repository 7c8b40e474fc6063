import { html } from '../../http/html.js';
import { layout } from '../../http/layout.js';
import { messages } from '../i18n.js';
import { type Locale } from '../../http/locale.js';

interface StepPage {
  locale: Locale;
  /** The language switch: the step's own page, which shows the same step again. */
  switchLanguage?: string | undefined;
  nonce: string;
  uid: string;
  csrf: string;
  clientName: string;
  error?: string | undefined;
}

/** One code field, labelled and tied to its hint and to the error, like the login page's fields. */
function codeField(p: StepPage, { label, hint, digitsOnly }: { label: string; hint?: string; digitsOnly: boolean }) {
  const describedBy = [hint ? 'code-hint' : '', p.error ? 'form-error' : ''].filter(Boolean).join(' ');
  return html`<label for="code">${label}</label>
${hint ? html`<span class="hint" id="code-hint">${hint}</span>` : ''}
<input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="${digitsOnly ? 'numeric' : 'text'}" required maxlength="32" spellcheck="false"
 autocapitalize="characters"${describedBy ? html` aria-describedby="${describedBy}"` : ''}${p.error ? html` aria-invalid="true"` : ''} autofocus>`;
}

const errorLine = (error: string | undefined) => (error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : '');

/** The second step of a sign-in: a code from the authenticator app, or a recovery code. */
export function totpPage(p: StepPage & { stepUp: boolean }): string {
  const t = messages(p.locale).secondFactor;
  return layout({
    ...p,
    title: t.title,
    body: html`<h1>${t.title}</h1>
<p>${p.stepUp ? t.stepUpLead(p.clientName) : t.lead}</p>
${errorLine(p.error)}
<form method="post" action="/interaction/${p.uid}/second-factor" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
${codeField(p, { label: t.code, hint: t.codeHint, digitsOnly: false })}
<button type="submit">${t.verify}</button>
</form>`,
  });
}

/**
 * Before an authenticator app is bound to the account: a code sent to the account's mobile number,
 * so that a password alone (guessed, phished) cannot set up the attacker's own second factor.
 */
export function phoneProofPage(p: StepPage & { maskedPhone: string; codeMinutes: number; notice?: string | undefined }): string {
  const t = messages(p.locale).secondFactor;
  return layout({
    ...p,
    title: t.phoneProofTitle,
    body: html`<h1>${t.phoneProofTitle}</h1>
<p>${t.phoneProofLead(p.clientName, p.maskedPhone, p.codeMinutes)}</p>
${p.notice ? html`<p role="status">${p.notice}</p>` : ''}
${errorLine(p.error)}
<form method="post" action="/interaction/${p.uid}/phone-proof" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
${codeField(p, { label: t.smsCode, hint: t.smsCodeHint, digitsOnly: true })}
<button type="submit">${t.confirm}</button>
</form>
<form method="post" action="/interaction/${p.uid}/phone-proof/resend">
<input type="hidden" name="csrf" value="${p.csrf}">
<button type="submit" class="secondary">${t.resendCode}</button>
</form>`,
  });
}

/** Setting TOTP up in the middle of a sign-in: the QR code, the same secret as text, and a code to prove it works. */
export function totpEnrolmentPage(p: StepPage & { qrCode: string; secret: string }): string {
  const t = messages(p.locale).secondFactor;
  return layout({
    ...p,
    title: t.enrolTitle,
    body: html`<h1>${t.enrolTitle}</h1>
<p>${t.enrolLead(p.clientName)}</p>
<p><img src="${p.qrCode}" alt="${t.qrAlt}" width="232" height="232"></p>
<p>${t.manualKey}</p>
<p><code id="manual-key">${p.secret}</code></p>
${errorLine(p.error)}
<form method="post" action="/interaction/${p.uid}/totp-enrolment" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
${codeField(p, { label: t.enrolCode, digitsOnly: true })}
<button type="submit">${t.confirm}</button>
</form>`,
  });
}

/**
 * The recovery codes, shown once. The sign-in is already complete; "Continue" goes back into the
 * authorization flow (a plain GET form, so it works without JavaScript).
 */
export function recoveryCodesPage(p: { locale: Locale; nonce: string; codes: string[]; returnTo: string }): string {
  const t = messages(p.locale).secondFactor;
  return layout({
    ...p,
    title: t.recoveryTitle,
    body: html`<h1>${t.recoveryTitle}</h1>
<p>${t.recoveryLead}</p>
<ol id="recovery-codes">${p.codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<form method="get" action="${p.returnTo}">
<button type="submit">${t.continue}</button>
</form>`,
  });
}
