import { html } from '../../http/html.js';
import { layout } from '../../http/layout.js';
import { messages } from '../i18n.js';
import { type Locale } from '../../http/locale.js';

interface SmsPage {
  locale: Locale;
  switchLanguage?: string | undefined;
  nonce: string;
  uid: string;
  csrf: string;
  error?: string | undefined;
}

const errorLine = (error: string | undefined) => (error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : '');
const invalid = (p: SmsPage) => (p.error ? html` aria-invalid="true" aria-describedby="form-error"` : '');

/** Step 1 of an SMS sign-in: the mobile number. */
export function smsPhonePage(p: SmsPage & { phone?: string | undefined }): string {
  const t = messages(p.locale).sms;
  return layout({
    ...p,
    title: t.title,
    body: html`<h1>${t.title}</h1>
<p>${t.phoneLead}</p>
${errorLine(p.error)}
<form method="post" action="/interaction/${p.uid}/sms" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
<label for="phone">${t.phone}</label>
<span class="hint" id="phone-hint">${t.phoneHint}</span>
<input type="text" id="phone" name="phone" autocomplete="tel-national" inputmode="tel" required maxlength="20"${p.phone ? html` value="${p.phone}"` : ''}${invalid(p)} autofocus>
<button type="submit">${t.sendCode}</button>
</form>
<p><a href="/interaction/${p.uid}">${t.usePassword}</a></p>`,
  });
}

/** Step 2: the code. The number is shown masked; it stays server-side. */
export function smsCodePage(p: SmsPage & { maskedPhone: string; codeMinutes: number }): string {
  const t = messages(p.locale).sms;
  return layout({
    ...p,
    title: t.codeTitle,
    body: html`<h1>${t.codeTitle}</h1>
${errorLine(p.error)}
<p role="status">${t.sent(p.maskedPhone, p.codeMinutes)}</p>
<form method="post" action="/interaction/${p.uid}/sms/verify" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
<label for="code">${t.code}</label>
<span class="hint" id="code-hint">${t.codeHint}</span>
<input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required maxlength="32"${invalid(p)} autofocus>
<button type="submit">${t.verify}</button>
</form>
<form method="post" action="/interaction/${p.uid}/sms/restart">
<input type="hidden" name="csrf" value="${p.csrf}">
<button type="submit" class="secondary">${t.otherNumber}</button>
</form>
<p><a href="/interaction/${p.uid}">${t.usePassword}</a></p>`,
  });
}
